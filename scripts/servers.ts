/**
 * The loopback servers' process, shared by `npm run bench` and `npm run local`
 * (and their tests): started by scripts/lib/servers.ts under a high
 * `ulimit -n`, so a server is never the side that runs out of descriptors, and
 * off the caller's main thread, so serving every function's requests does not
 * compete with the caller's own loop. It runs what FANOUT_SERVERS asks for:
 * s3rver (scripts/lib/s3-server), with or without the SlowDown fault proxy in
 * front (scripts/local/faults), the Step Functions StartExecution endpoint
 * (scripts/lib/sfn-endpoint) and the origin (scripts/lib/origin-server).
 *
 * It counts the TCP connections each server accepts (diagnostics channel
 * `net.server.socket`, attributed by local port): the benchmark's
 * "connections opened"; over TLS, the handshakes too.
 *
 * Commands over IPC (`{ id, cmd, … }` → `{ id, ok, … }`):
 *   fresh-s3 { buckets, plain }  close the S3 server (deleting its objects) and start a new
 *                          one (over plain HTTP with `plain`, even when the spec has `tls`)
 *   counts                 connections accepted per server since the last reset, CPU used
 *   reset                  zero the counters
 *   executions             StartExecution calls and distinct executions
 *   injected               SlowDown answers the fault proxy has given
 *   busy                   seconds this process's event loop has been busy
 *   close                  stop everything and exit
 */
import { subscribe } from "diagnostics_channel";
import * as fs from "fs";
import type { Socket } from "net";
import * as os from "os";
import { performance } from "perf_hooks";
import { startOriginServer, type OriginServer } from "./lib/origin-server";
import { startS3Server, type S3Server } from "./lib/s3-server";
import type { ServerCounts, ServersSpec } from "./lib/servers";
import { startSfnEndpoint, type SfnEndpoint } from "./lib/sfn-endpoint";
import { seededRandom, startS3FaultProxy, type FaultProxy } from "./local/faults";

interface Command {
  readonly id: number;
  readonly cmd: "fresh-s3" | "counts" | "reset" | "executions" | "injected" | "busy" | "close";
  readonly buckets?: string[];
  /** fresh-s3: plain HTTP even when the spec has `tls`. */
  readonly plain?: boolean;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.FANOUT_SERVERS ?? "{}") as ServersSpec;
  if (spec.nice) {
    try {
      os.setPriority(spec.nice);
    } catch {
      // not permitted: normal priority
    }
  }
  const accepted = new Map<number, number>();
  const open = new Map<number, Set<Socket>>();
  let s3PeakOpen = 0;
  let s3: S3Server | undefined;
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

  const tlsFiles = spec.s3?.tls;
  // The fault proxy speaks plain HTTP to s3rver.
  if (tlsFiles && spec.s3?.slowDown) throw new Error("servers process: s3.tls and s3.slowDown cannot be combined (the SlowDown proxy forwards plain HTTP)");
  const tls = tlsFiles ? { key: fs.readFileSync(tlsFiles.keyFile, "utf8"), cert: fs.readFileSync(tlsFiles.certFile, "utf8") } : undefined;
  s3 = spec.s3 ? await startS3Server({ buckets: spec.s3.buckets, tls }) : undefined;
  const slowDown = spec.s3?.slowDown;
  let proxy: FaultProxy | undefined = s3 && slowDown ? await startS3FaultProxy(s3.endpoint, slowDown.rate, seededRandom(slowDown.seed)) : undefined;
  const sfn: SfnEndpoint | undefined = spec.sfn ? await startSfnEndpoint() : undefined;
  const origin: OriginServer | undefined = spec.origin ? await startOriginServer() : undefined;
  const portOf = (endpoint: string) => Number(new URL(endpoint).port);
  let cpuSince = process.cpuUsage();
  const cpuMs = () => {
    const d = process.cpuUsage(cpuSince);
    return Math.round((d.user + d.system) / 1000);
  };

  const endpoints = () => ({ s3: s3?.endpoint, s3Proxy: proxy?.endpoint, sfn: sfn?.endpoint, origin: origin?.url, pid: process.pid });
  const counts = (): ServerCounts => ({
    s3: s3 ? accepted.get(s3.port) ?? 0 : 0,
    sfn: sfn ? accepted.get(portOf(sfn.endpoint)) ?? 0 : 0,
    origin: origin ? accepted.get(origin.port) ?? 0 : 0,
    s3PeakOpen,
    s3Handshakes: s3?.tlsCounts().handshakes ?? 0,
    s3Resumed: s3?.tlsCounts().resumed ?? 0,
    cpuMs: cpuMs(),
  });
  const closeAll = async () => {
    await proxy?.close();
    await Promise.all([s3?.close(), sfn?.close(), origin?.close()]);
  };

  process.on("message", async (command: Command): Promise<void> => {
    const reply = (body: object): void => void process.send?.({ id: command.id, ok: true, ...body });
    try {
      switch (command.cmd) {
        case "fresh-s3":
          await proxy?.close();
          await s3?.close();
          s3 = undefined;
          s3 = await startS3Server({ buckets: command.buckets ?? spec.s3?.buckets ?? [], tls: command.plain ? undefined : tls });
          proxy = slowDown ? await startS3FaultProxy(s3.endpoint, slowDown.rate, seededRandom(slowDown.seed)) : undefined;
          accepted.clear();
          s3PeakOpen = 0;
          return reply(endpoints());
        case "counts":
          return reply({ counts: counts() });
        case "reset":
          accepted.clear();
          s3?.resetTls();
          s3PeakOpen = s3 ? (open.get(s3.port)?.size ?? 0) : 0;
          cpuSince = process.cpuUsage();
          return reply({});
        case "executions":
          return reply({ calls: sfn?.calls() ?? 0, executions: sfn?.executions.size ?? 0 });
        case "injected":
          return reply({ injected: proxy?.counts.injected["503"] ?? 0 });
        case "busy":
          return reply({ busySeconds: performance.eventLoopUtilization().active / 1000 });
        case "close":
          await closeAll();
          reply({});
          setTimeout(() => process.exit(0), 10);
          return;
      }
    } catch (error) {
      process.send?.({ id: command.id, ok: false, error: String((error as Error)?.stack ?? error) });
    }
  });
  process.on("disconnect", () => void closeAll().finally(() => process.exit(0)));
  process.send?.({ id: 0, ok: true, ...endpoints() });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
