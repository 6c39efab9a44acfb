/**
 * Synth reader: the pipeline as Terraform would deploy it, read from the
 * synthesized `cdk.tf.json` of a `pipeline-<env>` stack — the state machine
 * definition (the exact `definition` string), the functions (reserved
 * concurrency, timeout, environment), every queue (visibility timeout, message
 * size, redrive policy → DLQ) and every event source mapping (which queue feeds
 * which function: batch size, maximum concurrency, ReportBatchItemFailures).
 * Terraform references (`${aws_lambda_function.x.arn}`,
 * `${aws_s3_bucket.x.bucket}`, …) are resolved to local stand-ins; a reference
 * this reader does not know fails loudly instead of reaching the runner as text.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Account id used in every local ARN. */
export const LOCAL_ACCOUNT = "000000000000";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TfJson = Record<string, any>;

export interface LocalFunction {
  /** Terraform resource id (`fetcher_function_557F1D37`). */
  readonly resourceId: string;
  /** Deployed function name (`fanout-pipeline-dev-fetcher`). */
  readonly functionName: string;
  /** Local ARN the state machine and the mapping refer to. */
  readonly arn: string;
  /** Which bundle it deploys: `dist/functions/<bundle>/index.js`. */
  readonly bundle: string;
  /** `reserved_concurrent_executions`. */
  readonly reservedConcurrency: number;
  readonly timeoutSeconds: number;
  /** `environment.variables`, references resolved. */
  readonly environment: Readonly<Record<string, string>>;
}

/** An `aws_lambda_event_source_mapping`: which queue feeds which function, and how. */
export interface LocalMapping {
  /** Terraform resource id of the mapping. */
  readonly resourceId: string;
  /** The queue it polls (a key of `PipelineModel.queues`). */
  readonly queueResourceId: string;
  /** The function it invokes (a key of `PipelineModel.functions`). */
  readonly functionResourceId: string;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  /** `scaling_config.maximum_concurrency` (AWS: up to 1,000 without one). */
  readonly maximumConcurrency: number;
  readonly reportBatchItemFailures: boolean;
}

/** An `aws_sqs_queue`. */
export interface QueueModel {
  readonly resourceId: string;
  readonly name: string;
  /** The local queue URL (`https://sqs.<region>.amazonaws.com/000000000000/<name>`), what `${aws_sqs_queue.x.url}` resolves to. */
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  /** `max_message_size` (AWS default 262,144; SQS allows 1 MiB). */
  readonly maxMessageSizeBytes: number;
  /** From `redrive_policy`; undefined = no DLQ. */
  readonly maxReceiveCount?: number;
  readonly deadLetterQueueName?: string;
  readonly deadLetterQueueResourceId?: string;
}

export interface PipelineModel {
  readonly stackName: string;
  readonly region: string;
  /** Where the stack's `cdk.tf.json` was read from. */
  readonly source: string;
  /** The `definition` string exactly as synthesized (with its Terraform references). */
  readonly definitionText: string;
  /** The definition with references resolved, parsed. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly definition: Record<string, any>;
  readonly stateMachineName: string;
  readonly stateMachineArn: string;
  readonly bucketName: string;
  /** By Terraform resource id. */
  readonly functions: Readonly<Record<string, LocalFunction>>;
  /** Every queue (work queues, the ingest queue, their DLQs), by Terraform resource id. */
  readonly queues: Readonly<Record<string, QueueModel>>;
  /** Every event source mapping. */
  readonly mappings: readonly LocalMapping[];
  /** The ingest side: the one mapping whose queue the state machine does not send to (the producer's queue → fanout). */
  readonly ingest: { readonly queue: QueueModel; readonly mapping: LocalMapping };
}

const TOKEN = /\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}/g;

/** Resolves every `${type.id.attr}` in `text`; throws on anything unknown or left over. */
export function resolveReferences(text: string, stack: TfJson, region: string): string {
  const resolved = text.replace(TOKEN, (whole, type: string, id: string, attr: string) => {
    const resource = stack.resource?.[type]?.[id];
    if (!resource) throw new Error(`unresolvable reference ${whole}: no resource ${type}.${id} in the stack`);
    const value = attribute(type, resource, attr, region);
    if (value === undefined) throw new Error(`unresolvable reference ${whole}: the local runner does not model ${type}.${attr}`);
    return value;
  });
  const left = /\$\{[^}]*\}/.exec(resolved);
  if (left) throw new Error(`unresolved Terraform expression ${left[0]} (the local runner resolves only resource references)`);
  return resolved;
}

function attribute(type: string, r: TfJson, attr: string, region: string): string | undefined {
  switch (`${type}.${attr}`) {
    case "aws_lambda_function.arn":
    case "aws_lambda_function.qualified_arn":
    case "aws_lambda_function.invoke_arn":
      return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${r.function_name}`;
    case "aws_lambda_function.function_name":
      return r.function_name;
    case "aws_sfn_state_machine.arn":
    case "aws_sfn_state_machine.id":
      return `arn:aws:states:${region}:${LOCAL_ACCOUNT}:stateMachine:${r.name}`;
    case "aws_s3_bucket.bucket":
    case "aws_s3_bucket.id":
      return r.bucket;
    case "aws_s3_bucket.arn":
      return `arn:aws:s3:::${r.bucket}`;
    case "aws_sqs_queue.arn":
      return `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${r.name}`;
    case "aws_sqs_queue.name":
      return r.name;
    case "aws_sqs_queue.url":
    case "aws_sqs_queue.id":
      return localQueueUrl(region, r.name);
    default:
      return undefined;
  }
}

/** The URL a queue named `name` has locally (the shape of an SQS queue URL). */
export function localQueueUrl(region: string, name: string): string {
  return `https://sqs.${region}.amazonaws.com/${LOCAL_ACCOUNT}/${name}`;
}

/** `type.id` of a whole-string reference such as `${aws_lambda_function.x.arn}`. */
function referencedId(value: unknown, type: string): string {
  const m = typeof value === "string" ? /^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}$/.exec(value) : null;
  if (!m || m[1] !== type) throw new Error(`expected a reference to a ${type}, got ${JSON.stringify(value)}`);
  return m[2];
}

function only(stack: TfJson, type: string): [string, TfJson] {
  const entries = Object.entries((stack.resource?.[type] ?? {}) as TfJson);
  if (entries.length !== 1) throw new Error(`expected exactly one ${type} in the stack, found ${entries.length}`);
  return entries[0] as [string, TfJson];
}

/** Reads a synthesized stack (`cdk.tf.json`) into the model the runner executes. */
export function readPipeline(stackFile: string): PipelineModel {
  const stack = JSON.parse(fs.readFileSync(stackFile, "utf8")) as TfJson;
  const region: string = stack.provider?.aws?.[0]?.region ?? "us-east-1";
  const resolve = (text: string) => resolveReferences(text, stack, region);

  const [, sm] = only(stack, "aws_sfn_state_machine");
  const definitionText: string = sm.definition;
  const definition = JSON.parse(resolve(definitionText));

  const functions: Record<string, LocalFunction> = {};
  for (const [id, f] of Object.entries((stack.resource?.aws_lambda_function ?? {}) as TfJson)) {
    const environment: Record<string, string> = {};
    for (const [k, v] of Object.entries((f.environment?.variables ?? {}) as Record<string, unknown>)) {
      environment[k] = resolve(String(v));
    }
    const reserved = Number(f.reserved_concurrent_executions);
    if (!Number.isInteger(reserved) || reserved < 1) {
      throw new Error(`function ${f.function_name}: reserved_concurrent_executions is ${f.reserved_concurrent_executions}; the local runner sizes its pool from it`);
    }
    functions[id] = {
      resourceId: id,
      functionName: f.function_name,
      arn: resolve(`\${aws_lambda_function.${id}.arn}`),
      bundle: path.basename(String(f.filename), ".zip"),
      reservedConcurrency: reserved,
      timeoutSeconds: Number(f.timeout ?? 3),
      environment,
    };
  }

  const queues: Record<string, QueueModel> = {};
  for (const [id, q] of Object.entries((stack.resource?.aws_sqs_queue ?? {}) as TfJson)) {
    let maxReceiveCount: number | undefined;
    let deadLetterQueueResourceId: string | undefined;
    if (q.redrive_policy) {
      const redrive = JSON.parse(q.redrive_policy) as { maxReceiveCount: number; deadLetterTargetArn: string };
      maxReceiveCount = Number(redrive.maxReceiveCount);
      deadLetterQueueResourceId = referencedId(redrive.deadLetterTargetArn, "aws_sqs_queue");
    }
    queues[id] = {
      resourceId: id,
      name: q.name,
      url: localQueueUrl(region, q.name),
      arn: `arn:aws:sqs:${region}:${LOCAL_ACCOUNT}:${q.name}`,
      visibilityTimeoutSeconds: Number(q.visibility_timeout_seconds ?? 30),
      maxMessageSizeBytes: Number(q.max_message_size ?? 262_144),
      maxReceiveCount,
      deadLetterQueueResourceId,
      deadLetterQueueName: deadLetterQueueResourceId ? stack.resource.aws_sqs_queue[deadLetterQueueResourceId]?.name : undefined,
    };
  }

  const mappings: LocalMapping[] = [];
  for (const [id, esm] of Object.entries((stack.resource?.aws_lambda_event_source_mapping ?? {}) as TfJson)) {
    const functionResourceId = referencedId(esm.function_name, "aws_lambda_function");
    const queueResourceId = referencedId(esm.event_source_arn, "aws_sqs_queue");
    if (!functions[functionResourceId]) throw new Error(`event source mapping ${id}: no function ${functionResourceId} in the stack`);
    if (!queues[queueResourceId]) throw new Error(`event source mapping ${id}: no queue ${queueResourceId} in the stack`);
    mappings.push({
      resourceId: id,
      queueResourceId,
      functionResourceId,
      batchSize: Number(esm.batch_size ?? 10),
      maximumBatchingWindowSeconds: Number(esm.maximum_batching_window_in_seconds ?? 0),
      // No scaling_config: AWS scales up to 1,000 concurrent batches.
      maximumConcurrency: Number(esm.scaling_config?.maximum_concurrency ?? 1000),
      reportBatchItemFailures: ((esm.function_response_types ?? []) as string[]).includes("ReportBatchItemFailures"),
    });
  }
  // The ingest queue is the one with a mapping that the state machine never sends to.
  const sentTo = (q: QueueModel) => definitionText.includes(`\${aws_sqs_queue.${q.resourceId}.`);
  const ingestMappings = mappings.filter((m) => !sentTo(queues[m.queueResourceId]));
  if (ingestMappings.length !== 1) {
    throw new Error(
      `expected exactly one event source mapping on a queue the state machine does not send to (the ingest queue), found ${ingestMappings.length}: ${ingestMappings.map((m) => m.resourceId).join(", ") || "none"}`,
    );
  }
  const ingest = { queue: queues[ingestMappings[0].queueResourceId], mapping: ingestMappings[0] };

  // The work bucket is the one the functions are told about (WORK_BUCKET).
  const buckets = new Set(Object.values(functions).map((f) => f.environment.WORK_BUCKET).filter(Boolean));
  if (buckets.size !== 1) throw new Error(`expected every function to name one WORK_BUCKET, found: ${[...buckets].join(", ") || "none"}`);
  const [bucketName] = buckets;

  return {
    stackName: path.basename(path.dirname(stackFile)),
    region,
    source: stackFile,
    definitionText,
    definition,
    stateMachineName: sm.name,
    stateMachineArn: resolve(`\${aws_sfn_state_machine.${only(stack, "aws_sfn_state_machine")[0]}.arn}`),
    bucketName,
    functions,
    queues,
    mappings,
    ingest,
  };
}

/** The stack file of `pipeline-<env>` under a synth output folder. */
export function stackFile(outdir: string, envName: string): string {
  const file = path.join(outdir, "stacks", `pipeline-${envName}`, "cdk.tf.json");
  if (!fs.existsSync(file)) throw new Error(`no synthesized stack at ${file} (environments: ${listStacks(outdir).join(", ") || "none"})`);
  return file;
}

function listStacks(outdir: string): string[] {
  try {
    return fs.readdirSync(path.join(outdir, "stacks"));
  } catch {
    return [];
  }
}

/**
 * Synthesizes the project (the same `buildApp` as `npm run synth`, so config
 * edits take effect) into a fresh temporary folder; returns the folder.
 * The caller removes it.
 */
export function synthesize(): string {
  // Loaded lazily: reading an existing synth output does not need cdktf.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildApp } = require("../../stacks/app") as typeof import("../../stacks/app");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { projectConfig } = require("../../modules/config/environments") as typeof import("../../modules/config/environments");
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-local-synth-"));
  buildApp(projectConfig, { outdir }).synth();
  return outdir;
}
