/**
 * The operator dashboard: one per pipeline stack, and every metric on it is one
 * that exists — AWS's own (namespace, name and dimensions as AWS publishes them)
 * or ours, as the functions' code actually emits it (EMF captured from the code).
 */
import { Readable } from "stream";
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { METRICS } from "../contract";
import { createObservability, instrument } from "../functions/shared/observability";
import { loadProcessorConfig } from "../functions/processor/config";
import { finalize } from "../functions/processor/finalize";
import { dashboardBody } from "../modules/dashboard";
import { projectConfig } from "../modules/config/environments";
import { captureOutput } from "./helpers/captured-output";
import { FUNCTION_TEST_ENV } from "./helpers/function-env";
import { resources, synthProject, type SynthResult, type TfJson } from "./helpers/synth";

/** AWS's own metrics the dashboard may show, with the dimension each is published under (AWS documentation). */
const AWS_METRICS: Record<string, Record<string, string[]>> = {
  "AWS/SQS": {
    ApproximateNumberOfMessagesVisible: ["QueueName"],
    ApproximateNumberOfMessagesNotVisible: ["QueueName"],
    ApproximateAgeOfOldestMessage: ["QueueName"],
  },
  // Per-function ConcurrentExecutions is published for functions with reserved concurrency, as all of ours have.
  "AWS/Lambda": { ConcurrentExecutions: ["FunctionName"], Throttles: ["FunctionName"], Errors: ["FunctionName"] },
  "AWS/States": { ExecutionsStarted: ["StateMachineArn"], ExecutionsSucceeded: ["StateMachineArn"], ExecutionsFailed: ["StateMachineArn"] },
};

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth.cleanup());

interface EmfMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
}

/** Runs `fn` and returns the EMF metrics Powertools wrote to stdout meanwhile. */
async function capturedEmf(fn: () => Promise<void>): Promise<EmfMetric[]> {
  const output = captureOutput();
  try {
    await fn();
  } finally {
    output.restore();
  }
  const lines = output.lines;
  const out: EmfMetric[] = [];
  for (const line of lines.filter((l) => l.includes('"_aws"'))) {
    const doc = JSON.parse(line);
    for (const directive of doc._aws.CloudWatchMetrics) {
      const dimensions = Object.fromEntries((directive.Dimensions as string[][]).flat().map((d) => [d, String(doc[d])]));
      for (const m of directive.Metrics) out.push({ namespace: directive.Namespace, name: m.Name, dimensions });
    }
  }
  return out;
}

describe.each(["pipeline-dev", "pipeline-prod"])("%s dashboard", (stackName) => {
  const stack = () => synth.stacks[stackName];
  const env = projectConfig.environments.find((e) => `pipeline-${e.name}` === stackName)!;

  /** The dashboard's metric lines with Terraform references resolved to the stack's names. */
  function lines(): { namespace: string; name: string; dimensions: Record<string, string> }[] {
    const [[, dashboard]] = resources(stack(), "aws_cloudwatch_dashboard");
    const names = new Map<string, string>();
    for (const [id, q] of resources(stack(), "aws_sqs_queue")) names.set(`\${aws_sqs_queue.${id}.name}`, q.name);
    for (const [id, f] of resources(stack(), "aws_lambda_function")) names.set(`\${aws_lambda_function.${id}.function_name}`, f.function_name);
    for (const [id] of resources(stack(), "aws_sfn_state_machine")) names.set(`\${aws_sfn_state_machine.${id}.arn}`, "STATE_MACHINE_ARN");
    const body = JSON.parse(dashboard.dashboard_body);
    return body.widgets
      .filter((w: TfJson) => w.type === "metric")
      .flatMap((w: TfJson) => w.properties.metrics as unknown[][])
      .map(([namespace, name, ...rest]: unknown[]) => {
        const pairs = rest.filter((r) => typeof r === "string") as string[];
        const dimensions: Record<string, string> = {};
        for (let i = 0; i < pairs.length; i += 2) {
          const value = names.get(pairs[i + 1]);
          if (value === undefined) throw new Error(`dimension ${pairs[i]} = ${pairs[i + 1]} names no resource of the stack`);
          dimensions[pairs[i]] = value;
        }
        return { namespace: namespace as string, name: name as string, dimensions };
      });
  }

  test("synthesizes one dashboard that shows every queue, its DLQ, every function and the state machine", () => {
    const shown = lines();
    const queues = resources(stack(), "aws_sqs_queue").map(([, q]) => q.name as string);
    expect(queues).toHaveLength(6);
    for (const q of queues) expect(shown.some((l) => l.dimensions.QueueName === q)).toBe(true);
    for (const [, f] of resources(stack(), "aws_lambda_function")) {
      for (const metric of ["ConcurrentExecutions", "Throttles", METRICS.openFileDescriptors]) {
        expect(shown.filter((l) => l.name === metric && Object.values(l.dimensions)[0] === f.function_name)).toHaveLength(1);
      }
    }
    expect(shown.filter((l) => l.namespace === "AWS/States").map((l) => l.name).sort()).toEqual(["ExecutionsFailed", "ExecutionsStarted", "ExecutionsSucceeded"]);
  });

  test("draws each function's reserved concurrency and mapping maximum, and the budget's fd ceiling", () => {
    const [[, dashboard]] = resources(stack(), "aws_cloudwatch_dashboard");
    const widgets = JSON.parse(dashboard.dashboard_body).widgets as TfJson[];
    const annotations = (title: string) => widgets.find((w) => w.properties?.title === title)!.properties.annotations.horizontal.map((a: TfJson) => a.value);
    expect(annotations("fetcher: concurrent executions")).toEqual([env.budget.fetcher.reservedConcurrency, env.budget.fetcher.queue.maximumConcurrency]);
    expect(annotations("processor: peak open file descriptors")).toEqual([Math.floor(env.budget.fd.headroom * 1024)]);
  });

  test("every AWS metric on it is one AWS publishes, under the dimension AWS uses", () => {
    for (const l of lines().filter((x) => x.namespace.startsWith("AWS/"))) {
      expect({ metric: `${l.namespace} ${l.name}`, dimensions: Object.keys(l.dimensions) }).toEqual({
        metric: `${l.namespace} ${l.name}`,
        dimensions: AWS_METRICS[l.namespace]?.[l.name] ?? ["(not an AWS metric this test knows)"],
      });
    }
  });

  test("every metric of ours on it is one the functions' code emits, with the same namespace, name and dimensions", async () => {
    const fns: Record<string, string> = Object.fromEntries(resources(stack(), "aws_lambda_function").map(([, f]) => [String(f.function_name).split("-").pop(), String(f.function_name)]));
    const emitted: EmfMetric[] = [];
    const previous = { service: process.env.POWERTOOLS_SERVICE_NAME, disabled: process.env.POWERTOOLS_METRICS_DISABLED };
    process.env.POWERTOOLS_METRICS_DISABLED = "false";
    try {
      // The fd metric every handler publishes through `instrument`.
      for (const name of Object.values(fns)) {
        process.env.POWERTOOLS_SERVICE_NAME = name;
        const handler = instrument(createObservability("any"), async () => "done");
        emitted.push(...(await capturedEmf(async () => void (await handler({})))));
      }
      // The item counts Finalize publishes, on a job with one success and one failure.
      process.env.POWERTOOLS_SERVICE_NAME = fns.processor;
      const s3 = mockClient(S3Client);
      const objects: Record<string, unknown> = {
        "jobs/j/manifest.json": [
          { index: 0, url: "https://example.com/0" },
          { index: 1, url: "https://example.com/1" },
        ],
        "jobs/j/results/0.json": { index: 0 },
        "jobs/j/failures/1.json": { index: 1, url: "https://example.com/1", error: { Error: "OriginHttpError", Cause: "404" } },
      };
      s3.on(GetObjectCommand).callsFake(async ({ Key }: { Key: string }) => ({ Body: Readable.from([Buffer.from(JSON.stringify(objects[Key]))]) }));
      s3.on(ListObjectsCommand).callsFake(async ({ Prefix }: { Prefix: string }) => ({
        Contents: Object.keys(objects).filter((k) => k.startsWith(Prefix)).map((Key) => ({ Key, LastModified: new Date(0) })),
        IsTruncated: false,
      }));
      s3.on(PutObjectCommand).resolves({});
      const observability = createObservability("processor");
      emitted.push(
        ...(await capturedEmf(async () => {
          await finalize({ action: "finalize", jobId: "j", itemCount: 2 }, { s3: new S3Client({ region: "us-east-1" }), sfn: new SFNClient({ region: "us-east-1" }), config: loadProcessorConfig(FUNCTION_TEST_ENV), ...observability });
          observability.metrics.publishStoredMetrics();
        })),
      );
      s3.restore();
    } finally {
      process.env.POWERTOOLS_SERVICE_NAME = previous.service;
      process.env.POWERTOOLS_METRICS_DISABLED = previous.disabled;
      if (previous.service === undefined) delete process.env.POWERTOOLS_SERVICE_NAME;
      if (previous.disabled === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    }
    const ours = lines().filter((l) => l.namespace === METRICS.namespace);
    expect(ours.length).toBeGreaterThanOrEqual(5);
    for (const l of ours) {
      expect({ line: l, emitted: emitted.some((e) => e.namespace === l.namespace && e.name === l.name && JSON.stringify(e.dimensions) === JSON.stringify(l.dimensions)) }).toEqual({ line: l, emitted: true });
    }
  });
});

describe("dashboardBody", () => {
  test("its metrics of ours are exactly the three the contract names (fds, items succeeded, items failed)", () => {
    const body = dashboardBody({
      name: "x",
      region: "eu-west-1",
      queues: [{ label: "ingest", queueName: "q", dlqName: "q-dlq" }],
      functions: [{ label: "processor", functionName: "p", reservedConcurrency: 2, mappingMaximumConcurrency: 2 }],
      fdCeiling: 512,
      stateMachineArn: "arn",
    });
    const custom = body.widgets.flatMap((w) => (w.type === "metric" ? w.properties.metrics : [])).filter((m) => m[0] === METRICS.namespace).map((m) => m[1]);
    expect(custom.sort()).toEqual([METRICS.itemsFailed, METRICS.itemsSucceeded, METRICS.openFileDescriptors].sort());
  });
});
