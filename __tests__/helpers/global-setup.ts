/**
 * Runs once before the suite: gives this run a temporary folder of its own
 * (every test worker inherits it as TMPDIR, so whatever the tests and cdktf's
 * `Testing.*` leave behind lands there and the teardown removes just that),
 * bundles the functions (tests run the bundles) and, when TF_PROVIDER_MIRROR is
 * unset, finds the filesystem mirror holding the pinned AWS provider once, so
 * the offline Terraform tests run offline (workers inherit it too).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bundleAll } from "../../modules/bundle";
import { ensureProviderMirror, findTerraform } from "../../scripts/lib/terraform";

/** The environment variable naming this run's temporary folder (read by the teardown). */
export const RUN_TMP_ENV = "FANOUT_TEST_RUN_TMPDIR";

export default function globalSetup(): void {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-test-run-"));
  process.env[RUN_TMP_ENV] = runDir;
  process.env.TMPDIR = runDir;
  bundleAll();
  if (findTerraform()) console.log(`\n[setup] ${ensureProviderMirror()}`);
}
