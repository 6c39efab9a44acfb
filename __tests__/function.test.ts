import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing, Token } from "cdktf";
import { unzipSync } from "fflate";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { projectConfig } from "../modules/config/environments";
import { buildBundle, bundleFunction, FUNCTION_NAMES, PROJECT_ROOT, upToDateBundle } from "../modules/bundle";
import { PipelineFunction, type PipelineFunctionProps } from "../modules/function";
import type { TfJson } from "./helpers/synth";

const budget = projectConfig.environments[0].budget.processor;
const props: PipelineFunctionProps = {
  functionName: "test-processor",
  source: "processor",
  budget,
  logRetentionDays: 14,
  // What the processor's init needs beyond the budget's variables (the construct checks it at synth).
  environment: { WORK_BUCKET: "work", TASK_HEARTBEAT_SECONDS: "300", WORK_QUEUE_MAX_RECEIVE_COUNT: "3", CHUNK_LINES: "1000", CHUNK_BYTES: "1048576" },
  statements: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::work/jobs/*" }],
};
const synth = (p: PipelineFunctionProps): TfJson => JSON.parse(Testing.synthScope((s) => new PipelineFunction(s, "fn", p)));
const only = (out: TfJson, type: string): TfJson => {
  const all = Object.values(out.resource[type] ?? {}) as TfJson[];
  expect(all).toHaveLength(1);
  return all[0];
};

describe("PipelineFunction", () => {
  test("deploys the bundle on Node.js 22 / arm64 with the budget's concurrency, memory, timeout and socket bounds", () => {
    const fn = only(synth(props), "aws_lambda_function");
    expect(fn).toMatchObject({
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      memory_size: budget.memoryMb,
      timeout: budget.timeoutSeconds,
      reserved_concurrent_executions: budget.reservedConcurrency,
      tracing_config: { mode: "Active" },
    });
    expect(fn.environment.variables).toMatchObject({
      WORK_BUCKET: "work",
      MAX_SOCKETS: String(budget.maxSockets),
      TASK_CONCURRENCY: String(budget.taskConcurrency),
      SDK_REQUEST_TIMEOUT_MS: String(budget.sdkRequestTimeoutMs),
      POWERTOOLS_SERVICE_NAME: "test-processor",
    });
    expect(fn.filename).toMatch(/^assets\/.+\/processor\.zip$/);
  });

  test("source_code_hash is the base64 SHA-256 of the zip Terraform uploads (the synthesized asset), which holds the bundle", () => {
    const stack = new TerraformStack(Testing.app(), "fn-stack");
    new AwsProvider(stack, "aws", { region: "eu-west-1" });
    new PipelineFunction(stack, "fn", props);
    const stackDir = path.join(Testing.fullSynth(stack), "stacks", "fn-stack");
    const fn = only(JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")), "aws_lambda_function");
    // `filename` is what `terraform apply` reads and uploads, relative to the stack folder.
    const uploaded = fs.readFileSync(path.join(stackDir, fn.filename));
    expect(fn.source_code_hash).toBe(createHash("sha256").update(uploaded).digest("base64"));
    const entries = unzipSync(uploaded);
    expect(Object.keys(entries).sort()).toEqual(["index.js", "index.js.map"]);
    expect(Buffer.from(entries["index.js"]).equals(fs.readFileSync(path.join(PROJECT_ROOT, "dist", "functions", "processor", "index.js")))).toBe(true);
  });

  test("bundling is reproducible: a fresh build gives the same zip bytes as the bundles the stacks deploy", () => {
    // Beside dist/functions, at the same depth: the source maps' relative paths are the same.
    const dir = fs.mkdtempSync(path.join(PROJECT_ROOT, "dist", "repro-"));
    try {
      const fresh = FUNCTION_NAMES.map((n) => buildBundle(n, dir).zipSha256);
      const deployed = FUNCTION_NAMES.map((n) => bundleFunction(n).zipSha256);
      expect(fresh).toEqual(deployed);
      expect(new Set(fresh).size).toBe(FUNCTION_NAMES.length);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("reuses a bundle only while every input esbuild read is unchanged", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-bundle-"));
    try {
      const built = buildBundle("fanout", dir);
      expect(upToDateBundle("fanout", dir)).toEqual(built);
      const stampFile = path.join(dir, "fanout.stamp.json");
      const stamp = JSON.parse(fs.readFileSync(stampFile, "utf8"));
      const handler = Object.keys(stamp.inputs).find((f) => f.endsWith("functions/fanout/handler.ts"))!;
      expect(handler).toBeDefined();
      // As if functions/fanout/handler.ts had been edited since the build.
      fs.writeFileSync(stampFile, JSON.stringify({ ...stamp, inputs: { ...stamp.inputs, [handler]: "0".repeat(64) } }));
      expect(upToDateBundle("fanout", dir)).toBeUndefined();
      fs.writeFileSync(path.join(dir, "fanout.zip"), "tampered");
      fs.writeFileSync(stampFile, JSON.stringify(stamp));
      expect(upToDateBundle("fanout", dir)).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("writes to its own log group, with retention, and may write nowhere else in CloudWatch Logs", () => {
    const out = synth(props);
    const group = only(out, "aws_cloudwatch_log_group");
    expect(group).toEqual({ name: "/aws/lambda/test-processor", retention_in_days: 14 });
    const policy = JSON.parse(only(out, "aws_iam_role_policy").policy);
    const logs = policy.Statement.find((s: TfJson) => s.Sid === "Logs");
    expect(logs.Resource).toMatch(/^\$\{aws_cloudwatch_log_group\.[^.]+\.arn\}:\*$/);
    expect(policy.Statement).toContainEqual(props.statements[0]);
  });

  test("gets VPC networking permissions and config only when given a VPC", () => {
    const noVpc = synth(props);
    expect(only(noVpc, "aws_lambda_function").vpc_config).toBeUndefined();
    expect(only(noVpc, "aws_iam_role_policy").policy).not.toMatch(/ec2:CreateNetworkInterface/);
    const inVpc = synth({ ...props, vpc: { subnetIds: ["subnet-1", "subnet-2"], securityGroupIds: ["sg-1"] } });
    expect(only(inVpc, "aws_lambda_function").vpc_config).toEqual({ subnet_ids: ["subnet-1", "subnet-2"], security_group_ids: ["sg-1"] });
    expect(only(inVpc, "aws_iam_role_policy").policy).toMatch(/ec2:CreateNetworkInterface/);
  });

  describe("refuses at synth an environment the function's init would refuse, with the init's message", () => {
    const worker = { WORK_BUCKET: "work", TASK_HEARTBEAT_SECONDS: "300", WORK_QUEUE_MAX_RECEIVE_COUNT: "3", CHUNK_LINES: "1000", CHUNK_BYTES: "1048576" };
    const fetch = { FETCH_TIMEOUT_MS: "60000", FETCH_MAX_BYTES: "1048576", FETCH_MAX_SOCKETS: "4" };
    test.each([
      ["processor", { ...worker, CHUNK_LINES: "5000000" }, 'CHUNK_LINES environment variable must be an integer between 1 and 1000000 (got "5000000")'],
      ["processor", { WORK_BUCKET: "work", WORK_QUEUE_MAX_RECEIVE_COUNT: "3" }, "TASK_HEARTBEAT_SECONDS environment variable is not set"],
      ["fetcher", { ...worker, ...fetch, FETCH_MAX_REDIRECTS: "21" }, 'FETCH_MAX_REDIRECTS environment variable must be an integer between 0 and 20 (got "21")'],
      ["fetcher", { ...worker, FETCH_TIMEOUT_MS: "60000", FETCH_MAX_BYTES: "1048576", FETCH_MAX_REDIRECTS: "3" }, "FETCH_MAX_SOCKETS environment variable is not set"],
      ["fanout", { WORK_BUCKET: "work", STATE_MACHINE_ARN: "arn", MAX_ITEMS_PER_JOB: "5", MAX_URL_LENGTH: "9000" }, 'MAX_URL_LENGTH environment variable must be an integer between 1 and 8192 (got "9000")'],
      ["fanout", { WORK_BUCKET: "work", MAX_ITEMS_PER_JOB: "5", MAX_URL_LENGTH: "2048" }, "STATE_MACHINE_ARN environment variable is not set"],
      ["fanout", { WORK_BUCKET: "work", STATE_MACHINE_ARN: "arn", MAX_URL_LENGTH: "2048" }, "MAX_ITEMS_PER_JOB environment variable is not set"],
      [
        "fetcher",
        { ...worker, ...fetch, FETCH_MAX_REDIRECTS: "21", ALLOW_HTTP: "yes" },
        'ALLOW_HTTP environment variable must be "true" or "false" (got "yes"); FETCH_MAX_REDIRECTS environment variable must be an integer between 0 and 20 (got "21")',
      ],
    ] as const)("the %s with %j", (source, environment, message) => {
      expect(() => synth({ ...props, functionName: `test-${source}`, source, environment })).toThrow(`function "test-${source}" would fail its init: ${message}`);
    });

    test("takes a value Terraform resolves at apply (a token) as set", () => {
      const fn = only(synth({ ...props, environment: { ...worker, WORK_BUCKET: Token.asString({ Ref: "bucket" }) } }), "aws_lambda_function");
      expect(fn.environment.variables.WORK_BUCKET).toEqual({ Ref: "bucket" }); // passed through to Terraform, not checked as a literal
    });
  });

  test("refuses FETCH_ALLOW_PRIVATE in its environment", () => {
    expect(() => synth({ ...props, environment: { FETCH_ALLOW_PRIVATE: "127.0.0.1:8080" } })).toThrow(
      /environment must not set FETCH_ALLOW_PRIVATE/,
    );
  });

  test("refuses an invalid function name, naming it", () => {
    expect(() => synth({ ...props, functionName: "has spaces" })).toThrow(/functionName \("has spaces"\) must be 1\.\.64 characters/);
  });

  test("refuses a VPC without subnets", () => {
    expect(() => synth({ ...props, vpc: { subnetIds: [], securityGroupIds: ["sg-1"] } })).toThrow(/vpc needs at least one subnet/);
  });

  test("refuses a log retention CloudWatch does not accept", () => {
    expect(() => synth({ ...props, logRetentionDays: 8 })).toThrow(/logRetentionDays \(8\) must be one of the values CloudWatch Logs accepts/);
  });
});
