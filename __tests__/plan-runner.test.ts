/**
 * When the plan runner may skip `terraform init`: only for a folder initialized
 * from the inputs it has now. (That Terraform agrees, planning such a folder
 * without init, is in plan-command.test.ts.)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { INIT_FINGERPRINT_FILE, initFingerprint, initializedFromSameInputs } from "../scripts/lib/plan-runner";
import { terraformPlatform } from "../scripts/lib/provider-server";
import { AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION, OFFLINE_OVERRIDE_FILE } from "../scripts/lib/terraform";

let dir: string;
let env: NodeJS.ProcessEnv;
const write = (file: string, body: unknown) => fs.writeFileSync(path.join(dir, file), typeof body === "string" ? body : JSON.stringify(body));
const config = (over: Record<string, unknown> = {}) => ({
  terraform: { backend: { s3: { bucket: "state", key: "pipeline-dev.tfstate" } }, required_providers: { aws: { source: "aws", version: "5.100.0" } } },
  resource: { aws_sqs_queue: { q: { name: "ingest" } } },
  ...over,
});

/** Where init puts the AWS provider this project pins, in a test folder. */
const providerBinary = () =>
  path.join(dir, ".terraform", "providers", AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION, terraformPlatform(), `terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5`);
function installProvider(content: string): void {
  fs.mkdirSync(path.dirname(providerBinary()), { recursive: true });
  fs.writeFileSync(providerBinary(), content);
}
/** The fingerprint a change is compared against (a change may set it after its own set-up). */
let before: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-runner-"));
  write("cdk.tf.json", config());
  write(".terraform.lock.hcl", 'provider "registry.terraform.io/hashicorp/aws" {\n  version = "5.100.0"\n}\n');
  write("terraformrc", 'provider_installation { filesystem_mirror { path = "/opt/mirror" } }\n');
  env = { TF_CLI_CONFIG_FILE: path.join(dir, "terraformrc") };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("initFingerprint", () => {
  test("does not change with the resources (they need no init)", () => {
    const before = initFingerprint(dir, env);
    write("cdk.tf.json", config({ resource: { aws_sqs_queue: { q: { name: "renamed" } }, aws_s3_bucket: { b: {} } } }));
    expect(initFingerprint(dir, env)).toBe(before);
  });

  test.each([
    ["the backend", () => write("cdk.tf.json", config({ terraform: { backend: { s3: { bucket: "state", key: "other.tfstate" } } } }))],
    ["a module source", () => write("cdk.tf.json", config({ module: { vpc: { source: "./vpc" } } }))],
    ["the offline override", () => write(OFFLINE_OVERRIDE_FILE, { terraform: { backend: { local: { path: "offline.tfstate" } } } })],
    ["the lock file", () => write(".terraform.lock.hcl", 'provider "registry.terraform.io/hashicorp/aws" {\n  version = "5.99.0"\n}\n')],
    ["where providers come from (CLI config)", () => write("terraformrc", "")],
    ["the plugin cache", () => (env = { ...env, TF_PLUGIN_CACHE_DIR: "/var/cache/terraform" })],
    ["an installed provider binary appearing", () => installProvider("v1")],
    [
      "the installed provider binary's content (size)",
      () => {
        installProvider("v1");
        before = initFingerprint(dir, env);
        installProvider("v1 changed");
      },
    ],
    [
      "the installed provider binary's modification time",
      () => {
        installProvider("v1");
        before = initFingerprint(dir, env);
        fs.utimesSync(providerBinary(), new Date(0), new Date(0));
      },
    ],
  ])("changes with %s", (_what, change) => {
    before = initFingerprint(dir, env);
    change();
    expect(initFingerprint(dir, env)).not.toBe(before);
  });
});

describe("initializedFromSameInputs", () => {
  const initialize = () => {
    fs.mkdirSync(path.join(dir, ".terraform", "providers"), { recursive: true });
    write(INIT_FINGERPRINT_FILE, `${initFingerprint(dir, env)}\n`);
  };

  test("is false for a folder never initialized, true once init recorded its inputs", () => {
    expect(initializedFromSameInputs(dir, env)).toBe(false);
    initialize();
    expect(initializedFromSameInputs(dir, env)).toBe(true);
  });

  test("is false once an input changed, or without the installed providers", () => {
    initialize();
    write(".terraform.lock.hcl", "");
    expect(initializedFromSameInputs(dir, env)).toBe(false);
    initialize();
    fs.rmSync(path.join(dir, ".terraform", "providers"), { recursive: true });
    expect(initializedFromSameInputs(dir, env)).toBe(false);
  });
});
