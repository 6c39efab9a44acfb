/**
 * `npm run plan` end to end, offline: the real stacks plan with nothing to
 * destroy; then, on the same folders (not initialized twice), a recorded state
 * whose work bucket had another name fails the command with the warning line.
 * Skipped, loudly, only where no terraform binary exists. Credential detection
 * (which picks the mode) is tested without Terraform.
 *
 * @slow 27 s alone here (starts first, longest first: __tests__/helpers/sequencer.js)
 */
import { spawnSync } from "child_process";
import { buildSync } from "esbuild";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { detectAwsCredentials } from "../scripts/lib/aws-credentials";
import { INIT_FINGERPRINT_FILE } from "../scripts/lib/plan-runner";
import { ensureProviderMirror, findTerraform, missingTerraformMessage, MIRROR_ENV, OFFLINE_OVERRIDE_FILE } from "../scripts/lib/terraform";
import type { TfJson } from "./helpers/synth";
import { projectConfig } from "../modules/config/environments";

const root = path.resolve(__dirname, "..");
const terraformBin = findTerraform();
const describeTf = terraformBin ? describe : describe.skip;
if (!terraformBin) {
  console.warn(`\n**********\nSKIPPED: npm run plan tests (offline Terraform). ${missingTerraformMessage()}\n**********\n`);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-plan-test-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("detectAwsCredentials (picks real or offline mode)", () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(tmp, "home-"));
  });

  test("finds nothing in an empty environment and home: offline", () => {
    expect(detectAwsCredentials({ AWS_CA_BUNDLE: "/etc/ssl/certs/ca.pem", AWS_REGION: "eu-west-1" }, home)).toBeUndefined();
  });

  test.each([
    [{ AWS_ACCESS_KEY_ID: "AKIA", AWS_SECRET_ACCESS_KEY: "s" }, "AWS_ACCESS_KEY_ID"],
    [{ AWS_PROFILE: "platform" }, "AWS_PROFILE=platform"],
    [{ AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/token", AWS_ROLE_ARN: "arn:aws:iam::123456789012:role/plan" }, "AWS_WEB_IDENTITY_TOKEN_FILE (OIDC role)"],
    [{ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials" }, "container credentials endpoint"],
  ])("finds credentials in the environment %j", (env, source) => {
    expect(detectAwsCredentials(env, home)).toBe(source);
  });

  test("finds a shared credentials file, and a config file only when it can yield credentials", () => {
    fs.mkdirSync(path.join(home, ".aws"));
    fs.writeFileSync(path.join(home, ".aws", "config"), "[default]\nregion = eu-west-1\n");
    expect(detectAwsCredentials({}, home)).toBeUndefined();
    fs.writeFileSync(path.join(home, ".aws", "config"), "[profile platform]\nsso_session = corp\nsso_account_id = 123456789012\n");
    expect(detectAwsCredentials({}, home)).toBe(path.join(home, ".aws", "config"));
    fs.writeFileSync(path.join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIA\n");
    expect(detectAwsCredentials({}, home)).toBe(path.join(home, ".aws", "credentials"));
  });
});

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(command, args, {
    cwd: root,
    env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env },
    encoding: "utf8",
    timeout: 240_000,
  });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", all: `${r.stdout}\n${r.stderr}` };
}

/** `npm run plan -- <args>` from the project root (builds, synthesizes unless --no-synth, plans). */
const npmRunPlan = (args: string[]) => run("npm", ["run", "--silent", "plan", "--", ...args]);

/**
 * The same command without npm's rebuild of the app: scripts/plan.ts bundled alone
 * (it needs no package at run time), for the runs that plan an already synthesized app.
 */
let planCliPath: string | undefined;
function planCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  if (!planCliPath) {
    planCliPath = path.join(tmp, "plan.js");
    buildSync({ entryPoints: [path.join(root, "scripts", "plan.ts")], bundle: true, platform: "node", target: "node20", outfile: planCliPath, logLevel: "error" });
  }
  return run(process.execPath, [planCliPath, ...args], env);
}

/** Provider processes still running from a binary under `dir` (none once a plan command has exited). */
function providerProcessesIn(dir: string): string[] {
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        return [fs.readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").trim()];
      } catch {
        return [];
      }
    })
    .filter((cmd) => cmd.startsWith(dir) && cmd.includes("terraform-provider-aws"));
}

const AWS_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]';
const DEV_TAGS = { environment: "dev", "managed-by": "cdktf", project: "fanout-pipeline" };

/** A local state holding the given resources as if deployed (only the attributes the plan needs). */
function localState(resources: { type: string; name: string; attributes: Record<string, unknown> }[]): string {
  return JSON.stringify({
    version: 4,
    terraform_version: "1.11.4",
    serial: 1,
    lineage: "0b8f6f1e-5d7c-4c1e-9d0e-2a7c6c0f9e11",
    outputs: {},
    resources: resources.map((r) => ({
      mode: "managed",
      type: r.type,
      name: r.name,
      provider: AWS_PROVIDER,
      instances: [{ schema_version: 0, attributes: r.attributes, sensitive_attributes: [] }],
    })),
  });
}

/** The logical id of the one resource of `type` created by the construct at `constructPath`. */
function logicalId(stack: TfJson, type: string, constructPath: string): string {
  const hit = Object.entries(stack.resource?.[type] ?? {}).find(([, r]) => (r as TfJson)["//"]?.metadata?.path === constructPath);
  if (!hit) throw new Error(`no ${type} at ${constructPath}`);
  return hit[0];
}

describeTf("npm run plan (offline)", () => {
  beforeAll(() => {
    // Found here, not in the global setup: the only suite that needs it searches while the others already run.
    const found = ensureProviderMirror();
    if (!process.env[MIRROR_ENV]) console.warn(`${MIRROR_ENV} is unset: npm run plan takes providers from the public registry (${found})`);
  });

  test("plans every real stack and writes a summary listing each with its add count and 0 destroy", () => {
    const out = path.join(tmp, "plan");
    const r = npmRunPlan(["--offline", "--out", out, "--synth-dir", path.join(tmp, "cdktf.out")]);
    if (r.status !== 0) throw new Error(`npm run plan exited ${r.status}:\n${r.all.slice(-6000)}`);

    const summary = fs.readFileSync(path.join(out, "summary.md"), "utf8");
    for (const stack of ["state", "pipeline-dev", "pipeline-prod"]) {
      const row = summary.match(new RegExp(`^\\| \`${stack}\` \\| (\\d+) \\| (\\d+) \\| (\\d+) \\| (\\d+) \\| ok \\|$`, "m"));
      expect(row).not.toBeNull();
      const [add, change, destroy, replace] = row!.slice(1).map(Number);
      expect(add).toBeGreaterThan(0);
      expect({ change, destroy, replace }).toEqual({ change: 0, destroy: 0, replace: 0 });
      // The human plan agrees with the count, and the JSON plan is there.
      expect(fs.readFileSync(path.join(out, `${stack}.txt`), "utf8")).toContain(`Plan: ${add} to add, 0 to change, 0 to destroy.`);
      expect(JSON.parse(fs.readFileSync(path.join(out, `${stack}.json`), "utf8")).resource_changes.length).toBe(add);
    }
    expect(summary).not.toContain("⚠️");
    // Each folder was initialized, and remembers from what (so the runs below skip init).
    for (const stack of ["state", "pipeline-dev", "pipeline-prod"]) {
      expect(r.stderr).toMatch(new RegExp(`\\[plan\\] ${stack}: init \\d+\\.\\d s`));
      expect(fs.existsSync(path.join(tmp, "cdktf.out", "stacks", stack, INIT_FINGERPRINT_FILE))).toBe(true);
    }
    // Each stack's plan and show shared one provider process (scripts/lib/provider-server.ts), ended with the stack.
    expect(r.stderr).not.toContain("Terraform starts its own");
    expect(providerProcessesIn(path.join(tmp, "cdktf.out"))).toEqual([]);
    // The offline override (local backend, mock keys) is not left where `cdktf deploy` would use it.
    for (const stack of ["state", "pipeline-dev", "pipeline-prod"]) {
      expect(fs.existsSync(path.join(tmp, "cdktf.out", "stacks", stack, OFFLINE_OVERRIDE_FILE))).toBe(false);
    }
    const comment = fs.readFileSync(path.join(out, "comment.md"), "utf8");
    expect(comment.length).toBeLessThanOrEqual(65536);
    expect(comment).toContain("<summary>Plan of <code>pipeline-prod</code></summary>");
  }, 240_000);

  describe("against a recorded state, on the stacks the plan above synthesized and initialized", () => {
    // The same folders as the run above: their init is reused (same backend, providers and lock file).
    const synthDir = () => path.join(tmp, "cdktf.out");
    const stackDir = (stack: string) => path.join(synthDir(), "stacks", stack);
    const readStack = (stack: string): TfJson => JSON.parse(fs.readFileSync(path.join(stackDir(stack), "cdk.tf.json"), "utf8"));
    let workBucket: string;
    let ingestQueue: string;
    beforeAll(() => {
      // GIVEN a state in which dev's work bucket exists under the name it had before a rename (the bucket name forces replacement).
      const dev = readStack("pipeline-dev");
      workBucket = logicalId(dev, "aws_s3_bucket", "pipeline-dev/work-bucket/bucket");
      const devEnv = projectConfig.environments.find((e) => e.name === "dev");
      expect(dev.resource.aws_s3_bucket[workBucket].bucket).toBe(devEnv?.workBucketName);
      const old = "fanout-pipeline-dev-work-before-rename";
      fs.writeFileSync(
        path.join(stackDir("pipeline-dev"), "offline.tfstate"),
        localState([
          {
            type: "aws_s3_bucket",
            name: workBucket,
            attributes: { id: old, bucket: old, arn: `arn:aws:s3:::${old}`, force_destroy: false, tags_all: DEV_TAGS },
          },
        ]),
      );
      // AND a state in which prod's ingest queue was deployed under an older name (a queue rename, no prevent_destroy).
      ingestQueue = logicalId(readStack("pipeline-prod"), "aws_sqs_queue", "pipeline-prod/queue/queue");
      const oldQueue = "fanout-prod-ingest";
      const url = `https://sqs.eu-west-1.amazonaws.com/123456789012/${oldQueue}`;
      fs.writeFileSync(
        path.join(stackDir("pipeline-prod"), "offline.tfstate"),
        localState([
          {
            type: "aws_sqs_queue",
            name: ingestQueue,
            attributes: {
              id: url,
              url,
              name: oldQueue,
              arn: `arn:aws:sqs:eu-west-1:123456789012:${oldQueue}`,
              fifo_queue: false,
              tags_all: { ...DEV_TAGS, environment: "prod" },
            },
          },
        ]),
      );
    });

    test("a renamed work bucket (its replacement) makes the plan command exit 2 with the warning line", () => {
      const out = path.join(tmp, "plan-bucket");
      const r = planCli(["--offline", "--no-synth", "--synth-dir", synthDir(), "--stack", "pipeline-dev", "--out", out]);
      const warning = `⚠️ DESTROY of protected resource aws_s3_bucket.${workBucket} (work bucket) in pipeline-dev`;
      expect(r.status).toBe(2);
      // The folder was initialized by the run above from the same inputs: no second init, and Terraform agrees it needs none.
      expect(r.stderr).toContain("pipeline-dev: init skipped");
      expect(r.stderr).toContain(warning);
      const summary = fs.readFileSync(path.join(out, "summary.md"), "utf8");
      expect(summary).toContain(warning);
      // prevent_destroy stops Terraform itself, and the summary says so (--allow-destroy cannot pass it: summary builder test).
      expect(summary).toContain("| `pipeline-dev` | – | – | – | – | ❌ plan failed |");
      expect(r.stderr).toContain(`${warning}: replaced (destroyed, then created empty); refused by lifecycle.prevent_destroy`);
    }, 240_000);

    test("with --allow-destroy, a replaced ingest queue exits 0 and still prints the warning line", () => {
      const out = path.join(tmp, "plan-queue");
      const r = planCli(["--offline", "--no-synth", "--synth-dir", synthDir(), "--stack", "pipeline-prod", "--out", out, "--allow-destroy"]);
      if (r.status !== 0) throw new Error(`npm run plan exited ${r.status}:\n${r.all.slice(-6000)}`);
      expect(r.stderr).toContain("pipeline-prod: init skipped");
      expect(r.stderr).toContain(
        `⚠️ DESTROY of protected resource aws_sqs_queue.${ingestQueue} (ingest queue) in pipeline-prod: replaced (destroyed, then created empty): name forces replacement`,
      );
      const summary = fs.readFileSync(path.join(out, "summary.md"), "utf8");
      expect(summary).toMatch(/^\| `pipeline-prod` \| \d+ \| 0 \| 0 \| 1 \| ⚠️ protected resource destroyed \|$/m);
      // Without --allow-destroy the same plan exits 2: the summary builder test covers exitStatus.
    }, 240_000);
  });

  test("an unknown stack is a usage error naming the stacks", () => {
    const r = planCli(["--offline", "--no-synth", "--synth-dir", path.join(tmp, "cdktf.out"), "--stack", "nope", "--out", path.join(tmp, "x")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown stack nope; stacks: .*pipeline-dev/);
  });
});

test("a missing terraform binary is one line naming the version to install", () => {
  const r = planCli(["--offline"], { TERRAFORM_BIN: path.join(tmp, "no-such-terraform") });
  expect(r.status).toBe(1);
  expect(r.stderr.trim()).toBe(missingTerraformMessage());
  expect(r.stderr).toMatch(/^terraform not found.*install Terraform 1\.11\.4[^\n]*\n$/);
});
