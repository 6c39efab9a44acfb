/**
 * Real Terraform on every synthesized stack, offline: `init` from the provider
 * mirror (TF_PROVIDER_MIRROR) and `plan` (which validates the configuration)
 * with mock credentials and a local-backend override. Skipped, loudly, only where no terraform binary exists.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findTerraform, initPlan, MIRROR_ENV, missingTerraformMessage } from "../scripts/lib/terraform";
import { synthProject, type SynthResult } from "./helpers/synth";

const terraformBin = findTerraform();
const describeTf = terraformBin ? describe : describe.skip;
if (!terraformBin) {
  console.warn(`\n**********\nSKIPPED: offline Terraform checks. ${missingTerraformMessage()}\n**********\n`);
}

let synth: SynthResult;
let workDir: string;
beforeAll(() => {
  if (!terraformBin) return;
  if (!process.env[MIRROR_ENV]) console.warn(`${MIRROR_ENV} is unset: providers come from the public registry`);
  synth = synthProject();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-tf-"));
});
afterAll(() => {
  synth?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describeTf("offline terraform", () => {
  test.concurrent.each(["state", "pipeline-dev", "pipeline-prod"])(
    "%s: init from the mirror and plan (which validates) succeed with nothing to destroy",
    async (stack) => {
      const { step, result } = await initPlan(synth.stackDir(stack), { workDir: path.join(workDir, stack), offline: true });
      if (!result.ok) throw new Error(`terraform ${step} failed for ${stack}:\n${result.output.slice(-4000)}`);
      const summary = result.output.match(/Plan: (\d+) to add, (\d+) to change, (\d+) to destroy/);
      expect(summary).not.toBeNull();
      expect(Number(summary![1])).toBeGreaterThan(0);
      expect(summary!.slice(2)).toEqual(["0", "0"]);
    },
    120_000,
  );
});
