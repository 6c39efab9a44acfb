/**
 * The benchmark's loopback servers, in their own process (started under a high
 * `ulimit -n`, so the server is never the side that runs out of descriptors):
 * s3rver (scripts/lib/s3-server), the Step Functions StartExecution endpoint
 * (scripts/lib/sfn-endpoint) and the origin (scripts/lib/origin-server).
 *
 * It counts the TCP connections each server accepts (diagnostics channel
 * `net.server.socket`, attributed by local port): that is the "connections
 * opened" of each benchmark cell.
 *
 * Commands over IPC (`{ id, cmd, … }` → `{ id, ok, … }`):
 *   fresh-s3 { buckets }   close the S3 server (deleting its objects) and start a new one
 *   counts                 connections accepted per server since the last reset
 *   reset                  zero the counters
 *   executions             StartExecution calls and distinct executions
 *   close                  stop everything and exit
 */
import { subscribe } from "diagnostics_channel";
import type { Socket } from "net";
import { startOriginServer } from "../scripts/lib/origin-server";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { startSfnEndpoint } from "../scripts/lib/sfn-endpoint";

export interface ServerCounts {
  readonly s3: number;
  readonly sfn: number;
  readonly origin: number;
  /** Most connections open at once on the S3 server since the last reset. */
  readonly s3PeakOpen: number;
  /** CPU time (user + system) of this process since the last reset, ms. */
  readonly cpuMs: number;
}

interface Command {
  readonly id: number;
  readonly cmd: "fresh-s3" | "counts" | "reset" | "executions" | "close";
  readonly buckets?: string[];
}

async function main(): Promise<void> {
  const accepted = new Map<number, number>();
  const open = new Map<number, Set<Socket>>();
  let s3PeakOpen = 0;
  let s3: S3Server | undefined;
  const openOn = (port: number) => open.get(port)?.size ?? 0;
  subscribe("net.server.socket", (message) => {
    const socket = (message as { socket: Socket }).socket;
    const port = socket.localPort ?? 0;
    accepted.set(port, (accepted.get(port) ?? 0) + 1);
    let set = open.get(port);
    if (!set) open.set(port, (set = new Set()));
    set.add(socket);
    socket.once("close", () => set.delete(socket));
    if (s3 && port === s3.port) s3PeakOpen = Math.max(s3PeakOpen, set.size);
  });

  const buckets = (process.env.BENCH_BUCKETS ?? "bench").split(",");
  s3 = await startS3Server({ buckets });
  const sfn = await startSfnEndpoint();
  const origin = await startOriginServer();
  const portOf = (endpoint: string) => Number(new URL(endpoint).port);
  let cpuSince = process.cpuUsage();
  const cpuMs = () => {
    const d = process.cpuUsage(cpuSince);
    return Math.round((d.user + d.system) / 1000);
  };

  const endpoints = () => ({ s3: s3?.endpoint, sfn: sfn.endpoint, origin: origin.url, pid: process.pid });
  const counts = (): ServerCounts => ({
    s3: s3 ? accepted.get(s3.port) ?? 0 : 0,
    sfn: accepted.get(portOf(sfn.endpoint)) ?? 0,
    origin: accepted.get(origin.port) ?? 0,
    s3PeakOpen,
    cpuMs: cpuMs(),
  });

  process.on("message", async (command: Command): Promise<void> => {
    const reply = (body: object): void => void process.send?.({ id: command.id, ok: true, ...body });
    try {
      switch (command.cmd) {
        case "fresh-s3":
          await s3?.close();
          s3 = undefined;
          s3 = await startS3Server({ buckets: command.buckets ?? buckets });
          accepted.clear();
          s3PeakOpen = 0;
          return reply(endpoints());
        case "counts":
          return reply({ counts: counts() });
        case "reset":
          accepted.clear();
          s3PeakOpen = s3 ? openOn(s3.port) : 0;
          cpuSince = process.cpuUsage();
          return reply({});
        case "executions":
          return reply({ calls: sfn.calls(), executions: sfn.executions.size });
        case "close":
          await Promise.all([s3?.close(), sfn.close(), origin.close()]);
          reply({});
          setTimeout(() => process.exit(0), 10);
          return;
      }
    } catch (error) {
      process.send?.({ id: command.id, ok: false, error: String((error as Error)?.stack ?? error) });
    }
  });
  process.on("disconnect", () => {
    void Promise.all([s3?.close(), sfn.close(), origin.close()]).finally(() => process.exit(0));
  });
  process.send?.({ id: 0, ok: true, ...endpoints() });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
