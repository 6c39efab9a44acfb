/**
 * The fd sampler (scripts/lib/fd-sampler.ts) on real child processes: it sees
 * the descriptors a child opens, keeps one peak per watched process while one
 * thread samples them all, starts a new peak on reset, and ends cleanly when
 * the process is gone.
 */
import { spawn, type ChildProcessByStdio } from "child_process";
import type { Readable, Writable } from "stream";
import { startFdSampler } from "../scripts/lib/fd-sampler";

/** A child that opens `n` descriptors on "open", closes them on "close", exits on "exit". */
async function fdChild(n: number): Promise<{ child: ChildProcessByStdio<Writable, Readable, null>; say(word: string): Promise<void> }> {
  const script = `
    const fs = require("fs");
    let fds = [];
    process.stdin.on("data", (d) => {
      for (const word of d.toString().split("\\n").filter(Boolean)) {
        if (word === "open") for (let i = 0; i < ${n}; i++) fds.push(fs.openSync("/dev/null", "r"));
        if (word === "close") { fds.forEach((fd) => fs.closeSync(fd)); fds = []; }
        if (word === "exit") process.exit(0);
        process.stdout.write(word + "-done\\n");
      }
    });
    process.stdout.write("ready-done\\n");`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const waitFor = (text: string) =>
    new Promise<void>((resolve) => {
      const check = () => (out.includes(text) ? resolve() : child.stdout.once("data", (d: Buffer) => ((out += d.toString()), check())));
      check();
    });
  await waitFor("ready-done");
  return {
    child,
    async say(word) {
      out = "";
      child.stdin.write(`${word}\n`);
      if (word !== "exit") await waitFor(`${word}-done`);
    },
  };
}

/** Resolves after `ms` plus a few sampling periods. */
const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test("sees the descriptors a child opens, sampling at about the period asked", async () => {
  const c = await fdChild(60);
  const sampler = startFdSampler(c.child.pid as number, 2);
  await sampler.started();
  const before = sampler.read().last;
  await c.say("open");
  await settle(150);
  const exited = new Promise<void>((resolve) => c.child.once("exit", () => resolve()));
  await c.say("exit");
  await exited;
  const stats = await sampler.stop();
  expect(before).toBeGreaterThan(0);
  expect(stats.peak).toBeGreaterThanOrEqual(before + 60);
  expect(stats.samples).toBeGreaterThan(10);
  expect(stats.medianGapMs).toBeLessThanOrEqual(10);
});

test("keeps one peak per process while sampling several at once", async () => {
  const [a, b] = await Promise.all([fdChild(30), fdChild(200)]);
  const [sa, sb] = [startFdSampler(a.child.pid as number, 2), startFdSampler(b.child.pid as number, 5)];
  await Promise.all([sa.started(), sb.started()]);
  const [baseA, baseB] = [sa.read().last, sb.read().last];
  await Promise.all([a.say("open"), b.say("open")]);
  await settle();
  const [fa, fb] = await Promise.all([sa.stop(), sb.stop()]);
  expect(fa.peak - baseA).toBeGreaterThanOrEqual(30);
  expect(fa.peak - baseA).toBeLessThan(200);
  expect(fb.peak - baseB).toBeGreaterThanOrEqual(200);
  expect(sa.intervalMs).toBe(2);
  expect(sb.intervalMs).toBe(5);
  // Stopped samplers keep their final figures.
  expect(sa.read()).toEqual(fa);
  await Promise.all([a.say("exit"), b.say("exit")]);
});

test("reset starts a new peak from the current count", async () => {
  const c = await fdChild(100);
  const sampler = startFdSampler(c.child.pid as number, 2);
  await sampler.started();
  await c.say("open");
  await settle();
  await c.say("close");
  await settle();
  const high = sampler.read().peak;
  await sampler.reset();
  const after = sampler.read();
  expect(after.peak).toBeLessThanOrEqual(high - 100);
  expect(after.samples).toBeGreaterThanOrEqual(1);
  await sampler.stop();
  await c.say("exit");
});

test("ends by itself when the process is gone, and stop still answers", async () => {
  const c = await fdChild(1);
  const sampler = startFdSampler(c.child.pid as number, 2);
  await sampler.started();
  const exited = new Promise<void>((resolve) => c.child.once("exit", () => resolve()));
  await c.say("exit");
  await exited;
  await settle();
  const stats = await sampler.stop();
  expect(stats.samples).toBeGreaterThan(0);
  expect(await sampler.stop()).toBe(stats);
});

test("refuses a pid or period it cannot sample, naming the value", () => {
  expect(() => startFdSampler(0)).toThrow("pid must be a positive integer (given 0)");
  expect(() => startFdSampler(process.pid, 0)).toThrow("intervalMs must be > 0 (given 0)");
});
