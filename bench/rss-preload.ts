/**
 * Preloaded (`NODE_OPTIONS=--require …/rss-preload.js`) into every Node process
 * of a synth run: at exit it writes the process's peak RSS and CPU time to
 * `$BENCH_RSS_DIR/<pid>.json`, so the benchmark learns the peak memory of the
 * app and of each process the cdktf CLI starts, without any external tool.
 */
import * as fs from "fs";
import * as path from "path";

const dir = process.env.BENCH_RSS_DIR;
if (dir) {
  process.on("exit", () => {
    try {
      const usage = process.resourceUsage();
      const record = {
        pid: process.pid,
        ppid: process.ppid,
        argv: process.argv.slice(1, 3),
        maxRssKb: usage.maxRSS,
        userMs: Math.round(usage.userCPUTime / 1000),
        systemMs: Math.round(usage.systemCPUTime / 1000),
      };
      fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // never change the exit of the measured process
    }
  });
}
