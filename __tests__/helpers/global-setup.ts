/**
 * Runs once before the suite: gives this run a temporary folder of its own
 * (every test worker inherits it as TMPDIR, so whatever the tests and cdktf's
 * `Testing.*` leave behind lands there and the teardown removes just that) —
 * in memory (/dev/shm) when the machine has room there: the suite writes and
 * removes thousands of small files (synth outputs, s3rver's objects), cheaper
 * on tmpfs than on a journaled disk —
 * and bundles the functions (tests run the bundles). The offline Terraform
 * suite finds the provider mirror itself (plan-command.test.ts), while the
 * other suites run.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bundleAll } from "../../modules/bundle";
import { memoryStorageDir } from "../../scripts/lib/servers";
import { RUN_TMP_ENV } from "./run-dir";

/** tmpfs free space the suite needs (it writes a few hundred MB at most; Docker's default /dev/shm is 64 MB). */
const MIN_MEMORY_TMP_BYTES = 2 * 1024 ** 3;

/** /dev/shm when it is a writable folder (the harness's one probe) with room, else the system temporary folder. */
function scratchRoot(): string {
  const shm = memoryStorageDir();
  try {
    const { bavail, bsize } = shm ? fs.statfsSync(shm) : { bavail: 0, bsize: 0 };
    if (shm && bavail * bsize >= MIN_MEMORY_TMP_BYTES) return shm;
  } catch {
    // cannot tell how much room: the system temporary folder
  }
  return os.tmpdir();
}

export default function globalSetup(): void {
  const runDir = fs.mkdtempSync(path.join(scratchRoot(), "fanout-test-run-"));
  process.env[RUN_TMP_ENV] = runDir;
  process.env.TMPDIR = runDir;
  bundleAll();
}
