/** Sockets one pool may hold: the one range the budget (synth) and the functions (init) check. */
export const POOL_SOCKETS_RANGE = { min: 1, max: 256 } as const;

/** The budget setting that bounds a pool: the SDK clients' `maxSockets`, or the fetcher's outbound `fetchMaxSockets`. */
export type PoolBound = "maxSockets" | "fetchMaxSockets";

/** One pool of sockets a function's code holds: which client builds it and which setting caps it. */
export interface SocketPool {
  readonly client: string;
  readonly bound: PoolBound;
}

/**
 * Every socket pool each function's code opens (functions/shared/clients.ts,
 * functions/fetcher/fetch.ts). Budget rule 6 counts its fds from this table, and
 * a test builds each handler's clients from its synthesized environment and
 * checks every agent's maxSockets against it.
 */
export const SOCKET_POOLS = {
  fanout: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (StartExecution)", bound: "maxSockets" },
  ],
  fetcher: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (task tokens)", bound: "maxSockets" },
    { client: "outbound http agent", bound: "fetchMaxSockets" },
    { client: "outbound https agent", bound: "fetchMaxSockets" },
  ],
  processor: [
    { client: "S3 client", bound: "maxSockets" },
    { client: "Step Functions client (task tokens)", bound: "maxSockets" },
  ],
} as const satisfies Record<string, readonly SocketPool[]>;
