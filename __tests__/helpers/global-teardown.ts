/**
 * Removes this run's temporary folder (made by the global setup, inherited by
 * every worker as TMPDIR), with the `cdktf.outdir.*` folders `Testing.*` leaves
 * behind in it — and nothing of other runs or other users.
 */
import * as fs from "fs";
import { RUN_TMP_ENV } from "./run-dir";

export default function globalTeardown(): void {
  const runDir = process.env[RUN_TMP_ENV];
  if (runDir && fs.existsSync(runDir)) fs.rmSync(runDir, { recursive: true, force: true });
}
