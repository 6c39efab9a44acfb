/**
 * The plan summary builder on recorded `terraform show -json` plans.
 *
 * The fixtures in fixtures/plans/ are real Terraform 1.11.4 output (AWS provider
 * 5.100.0 from the mirror, offline): create-only.json is the offline plan of the
 * synthesized `state` stack; the others plan subsets of the synthesized
 * `pipeline-dev` config (same addresses and attributes) against a local state
 * built from the planned values of a first create plan, then changed, with
 * `terraform plan -refresh=false -out` + `terraform show -json`:
 *   update-in-place.json          ingest queue visibility timeout 300 in state, 360 in config
 *   replace.json                  fanout log group renamed (replace) + DLQ retention changed (update)
 *   replace-protected-queue.json  ingest queue renamed: the queue and its policy are replaced
 *   destroy-protected-bucket.json the work bucket and its versioning removed from the config
 *   prevent-destroy-refused.json  terraform's output when the renamed work bucket hits prevent_destroy
 */
import * as fs from "fs";
import * as path from "path";
import {
  catalogFromConfig,
  COMMENT_MARKER,
  exitStatus,
  GITHUB_COMMENT_LIMIT,
  planTextForComment,
  protectedRole,
  renderComment,
  renderSummary,
  summarizeFailure,
  summarizePlan,
  trimMiddle,
  warningLine,
  type PlanJson,
} from "../scripts/lib/plan-summary";

const fixture = <T = PlanJson>(name: string): T =>
  JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "plans", name), "utf8")) as T;

/** A cdk.tf.json fragment shaped like the synthesized pipeline-dev stack (construct paths, prevent_destroy). */
const devConfig = {
  resource: {
    aws_s3_bucket: {
      "work-bucket_597EFD67": {
        "//": { metadata: { path: "pipeline-dev/work-bucket/bucket", uniqueId: "work-bucket_597EFD67" } },
        bucket: "fanout-pipeline-dev-work-example",
        lifecycle: { prevent_destroy: true },
      },
    },
    aws_s3_bucket_versioning: {
      "work-bucket_versioning_3FF82EDD": {
        "//": { metadata: { path: "pipeline-dev/work-bucket/versioning", uniqueId: "work-bucket_versioning_3FF82EDD" } },
      },
    },
    aws_sqs_queue: {
      queue_140BE0E7: { "//": { metadata: { path: "pipeline-dev/queue/queue", uniqueId: "queue_140BE0E7" } } },
      queue_dlq_441322FF: { "//": { metadata: { path: "pipeline-dev/queue/dlq", uniqueId: "queue_dlq_441322FF" } } },
    },
    aws_sfn_state_machine: {
      "workflow_state-machine_5D8A73B7": {
        "//": { metadata: { path: "pipeline-dev/workflow/state-machine" } },
        lifecycle: { prevent_destroy: true },
      },
    },
  },
};
const devCatalog = catalogFromConfig(devConfig);

describe("summarizePlan on recorded plans", () => {
  test("a create-only plan counts every resource as an add and warns about nothing", () => {
    const s = summarizePlan("state", fixture("create-only.json"));
    expect(s).toMatchObject({ status: "planned", add: 7, change: 0, destroy: 0, replace: 0, protectedHits: [] });
    expect(exitStatus([s], false)).toBe(0);
    expect(renderSummary([s], { mode: "offline", allowDestroy: false })).toContain("| `state` | 7 | 0 | 0 | 0 | ok |");
  });

  test("an update in place is a change, and the unchanged DLQ is not counted", () => {
    const s = summarizePlan("pipeline-dev", fixture("update-in-place.json"), devCatalog);
    expect(s).toMatchObject({ add: 0, change: 1, destroy: 0, replace: 0, replaced: [], destroyed: [], protectedHits: [] });
    expect(exitStatus([s], false)).toBe(0);
  });

  test("a replace of an unprotected resource is listed with the attribute that forces it, without a warning", () => {
    const s = summarizePlan("pipeline-dev", fixture("replace.json"), devCatalog);
    expect(s).toMatchObject({ add: 0, change: 1, destroy: 0, replace: 1, protectedHits: [] });
    expect(s.replaced).toEqual([{ address: "aws_cloudwatch_log_group.fanout_logs_D568E2DF", reason: "name forces replacement" }]);
    const md = renderSummary([s], { mode: "real", allowDestroy: false });
    expect(md).toContain("| `pipeline-dev` | 0 | 1 | 0 | 1 | ok |");
    expect(md).toContain("### Replaced\n\n- `pipeline-dev`: `aws_cloudwatch_log_group.fanout_logs_D568E2DF` (name forces replacement)");
    expect(md).not.toContain("⚠️");
    expect(exitStatus([s], false)).toBe(0);
  });

  test("a replaced ingest queue is a protected destroy: warning line, exit 2, exit 0 with --allow-destroy", () => {
    const s = summarizePlan("pipeline-dev", fixture("replace-protected-queue.json"), devCatalog);
    expect(s).toMatchObject({ add: 0, change: 0, destroy: 0, replace: 2 });
    // The queue policy is replaced too, but it holds no data: only the queue is protected.
    expect(s.protectedHits).toEqual([
      { stack: "pipeline-dev", address: "aws_sqs_queue.queue_140BE0E7", role: "ingest queue", kind: "replace", reason: "name forces replacement" },
    ]);
    expect(warningLine(s.protectedHits[0])).toBe(
      "⚠️ DESTROY of protected resource aws_sqs_queue.queue_140BE0E7 (ingest queue) in pipeline-dev: replaced (destroyed, then created empty): name forces replacement",
    );
    const md = renderSummary([s], { mode: "real", allowDestroy: false });
    expect(md).toContain(`**${warningLine(s.protectedHits[0])}**`);
    expect(md).toContain("| `pipeline-dev` | 0 | 0 | 0 | 2 | ⚠️ protected resource destroyed |");
    expect(exitStatus([s], false)).toBe(2);
    expect(exitStatus([s], true)).toBe(0);
  });

  test("a work bucket removed from the config is a protected destroy, recognized without its config", () => {
    // The config no longer has the bucket: the role comes from its type and logical id.
    const s = summarizePlan("pipeline-dev", fixture("destroy-protected-bucket.json"), catalogFromConfig({ resource: {} }));
    expect(s).toMatchObject({ add: 0, change: 0, destroy: 2, replace: 0 });
    expect(s.destroyed.map((d) => d.address)).toEqual([
      "aws_s3_bucket.work-bucket_597EFD67",
      "aws_s3_bucket_versioning.work-bucket_versioning_3FF82EDD",
    ]);
    expect(s.protectedHits).toHaveLength(1);
    expect(warningLine(s.protectedHits[0])).toBe(
      "⚠️ DESTROY of protected resource aws_s3_bucket.work-bucket_597EFD67 (work bucket) in pipeline-dev: destroyed: removed from the configuration",
    );
    expect(renderSummary([s], { mode: "real", allowDestroy: false })).toContain("| `pipeline-dev` | 0 | 0 | 2 | 0 | ⚠️ protected resource destroyed |");
    expect(exitStatus([s], false)).toBe(2);
  });
});

describe("summarizeFailure", () => {
  const refused = fixture<{ stack: string; step: string; output: string }>("prevent-destroy-refused.json");

  test("a plan refused by prevent_destroy on the work bucket is a protected replace that --allow-destroy cannot pass", () => {
    const s = summarizeFailure(refused.stack, refused.step, refused.output, devCatalog);
    expect(s.status).toBe("failed");
    expect(s.failure).toEqual({ step: "plan", message: "Error: Instance cannot be destroyed" });
    expect(s.protectedHits).toEqual([
      expect.objectContaining({ address: "aws_s3_bucket.work-bucket_597EFD67", role: "work bucket", kind: "replace", refused: true }),
    ]);
    expect(warningLine(s.protectedHits[0])).toMatch(
      /^⚠️ DESTROY of protected resource aws_s3_bucket\.work-bucket_597EFD67 \(work bucket\) in pipeline-dev: replaced .*prevent_destroy/,
    );
    const md = renderSummary([s], { mode: "offline", allowDestroy: true });
    expect(md).toContain("| `pipeline-dev` | – | – | – | – | ❌ plan failed |");
    expect(md).toContain("`--allow-destroy` does not");
    expect(exitStatus([s], true)).toBe(2);
  });

  test("a refused resource that is gone from the config is a destroy", () => {
    const output = refused.output.replace("# aws_s3_bucket.work-bucket_597EFD67 must be replaced", "");
    const s = summarizeFailure("pipeline-dev", "plan", output, catalogFromConfig({ resource: {} }));
    expect(s.protectedHits[0]).toMatchObject({ kind: "destroy", role: "work bucket" });
  });

  test("any other failure names the step and the first error, and exits 1", () => {
    const s = summarizeFailure("state", "init", "\nInitializing the backend...\n\nError: Failed to get existing workspaces: AccessDenied\n", undefined);
    expect(s.failure).toEqual({ step: "init", message: "Error: Failed to get existing workspaces: AccessDenied" });
    expect(s.protectedHits).toEqual([]);
    expect(exitStatus([s], false)).toBe(1);
    expect(renderSummary([s], { mode: "real", allowDestroy: false })).toContain(
      "- `state` (init): Error: Failed to get existing workspaces: AccessDenied",
    );
  });
});

describe("protectedRole", () => {
  test.each([
    ["aws_s3_bucket", "aws_s3_bucket.work-bucket_597EFD67", "work bucket"],
    ["aws_sqs_queue", "aws_sqs_queue.queue_140BE0E7", "ingest queue"],
    ["aws_sqs_queue", "aws_sqs_queue.queue_dlq_441322FF", "dead-letter queue"],
    ["aws_sfn_state_machine", "aws_sfn_state_machine.workflow_state-machine_5D8A73B7", "prevent_destroy"],
    ["aws_s3_bucket_versioning", "aws_s3_bucket_versioning.work-bucket_versioning_3FF82EDD", undefined],
  ])("%s %s from the synthesized config: %s", (type, address, role) => {
    expect(protectedRole(type, address, devCatalog)).toBe(role);
  });

  test.each([
    ["aws_s3_bucket", "aws_s3_bucket.state-bucket_828F7150", "state bucket"],
    ["aws_s3_bucket", "aws_s3_bucket.work-bucket_597EFD67", "work bucket"],
    ["aws_sqs_queue", "aws_sqs_queue.queue_dlq_441322FF", "dead-letter queue"],
    ["aws_sqs_queue", "aws_sqs_queue.queue_140BE0E7", "ingest queue"],
    ["aws_s3_bucket", "aws_s3_bucket.logs_12345678", "S3 bucket"],
    ["aws_lambda_function", "aws_lambda_function.fanout_function_F2E317E2", undefined],
  ])("%s %s no longer configured: %s", (type, address, role) => {
    expect(protectedRole(type, address)).toBe(role);
  });
});

describe("renderSummary", () => {
  test("one row per stack, in the order given, with the mode explained", () => {
    const stacks = ["state", "pipeline-dev", "pipeline-prod"].map((s) => summarizePlan(s, fixture("create-only.json")));
    const md = renderSummary(stacks, { mode: "offline", allowDestroy: false, notes: ["Terraform 1.11.4."] });
    const rows = md.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows).toEqual(["| `state` | 7 | 0 | 0 | 0 | ok |", "| `pipeline-dev` | 7 | 0 | 0 | 0 | ok |", "| `pipeline-prod` | 7 | 0 | 0 | 0 | ok |"]);
    expect(md).toMatch(/^## Terraform plan \(offline\)\n\nOffline: mock credentials/);
    expect(md).toContain("Terraform 1.11.4.");
  });
});

describe("renderComment", () => {
  const summary = renderSummary([summarizePlan("state", fixture("create-only.json"))], { mode: "offline", allowDestroy: false });
  const bigPlan = (n: number) =>
    `Terraform will perform the following actions:\n${"  # aws_x.y will be created\n".repeat(n)}\nPlan: ${n} to add, 0 to change, 0 to destroy.\n`;

  test("starts with the marker, keeps the summary and small plans whole, each in a collapsed block", () => {
    const body = renderComment(summary, [{ stack: "state", text: "Plan: 7 to add, 0 to change, 0 to destroy." }]);
    expect(body.startsWith(`${COMMENT_MARKER}\n## Terraform plan (offline)`)).toBe(true);
    expect(body).toContain("<details><summary>Plan of <code>state</code></summary>\n\n```text\nPlan: 7 to add, 0 to change, 0 to destroy.\n```\n</details>");
  });

  test("trims big plans to fit GitHub's limit, keeping each plan's head and its Plan: line", () => {
    const plans = [
      { stack: "state", text: bigPlan(10) },
      { stack: "pipeline-dev", text: bigPlan(4000) },
      { stack: "pipeline-prod", text: bigPlan(5000) },
    ];
    const body = renderComment(summary, plans, { footer: "run 42" });
    expect(body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(body.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT - 2000); // the room is used
    expect(body).toContain(plans[0].text.trim()); // the small plan is whole
    for (const n of [4000, 5000]) expect(body).toContain(`Plan: ${n} to add, 0 to change, 0 to destroy.`);
    expect(body).toMatch(/… \d+ characters of the pipeline-dev plan trimmed/);
    expect(body.trimEnd().endsWith("run 42")).toBe(true);
  });

  test("a plan containing backticks gets a longer fence", () => {
    const body = renderComment(summary, [{ stack: "state", text: "value = ```x```" }]);
    expect(body).toContain("````text\nvalue = ```x```\n````");
  });

  test("drops refresh chatter of real plans", () => {
    const text = "aws_sqs_queue.q: Refreshing state... [id=https://sqs]\n\nPlan: 0 to add, 1 to change, 0 to destroy.";
    expect(planTextForComment(text)).toBe("Plan: 0 to add, 1 to change, 0 to destroy.");
  });

  test("trimMiddle never exceeds its budget", () => {
    const text = "x".repeat(10_000);
    for (const budget of [0, 10, 150, 1000, 9999]) {
      expect(trimMiddle(text, budget, (d) => `… ${d} trimmed …`).length).toBeLessThanOrEqual(budget);
    }
    expect(trimMiddle("short", 100, () => "never")).toBe("short");
  });
});
