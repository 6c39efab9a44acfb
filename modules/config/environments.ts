/**
 * The one file a platform team edits: the state bucket and every environment.
 * Everything is explicit (regions, AZ names, CIDRs, sizes, the concurrency
 * budget), so `terraform plan` needs no AWS lookups and a review sees every number.
 */
import { DEFAULT_FD_BASELINE, DEFAULT_FDS_PER_TASK, type Budget } from "./budget";

export const PROJECT = "fanout-pipeline";

export interface EnvironmentConfig {
  /** Short name: the stack is `pipeline-<name>`. Lowercase letters and digits, 1..12. */
  readonly name: string;
  /**
   * The AWS account the environment deploys into (12 digits). Names the account
   * in ARNs and confused-deputy conditions without a lookup (plan stays offline),
   * and lets budget rule 3 add up the reserved concurrency of every environment
   * that shares an account and region.
   */
  readonly account: string;
  /** AWS region. */
  readonly region: string;
  /** Availability zones (>= 2), explicit so plan needs no lookup. */
  readonly availabilityZones: readonly string[];
  readonly network: {
    /** Egress VPC CIDR (fetcher; public + private subnets, NAT). */
    readonly egressVpcCidr: string;
    /** Isolated VPC CIDR (processor; no route out). */
    readonly isolatedVpcCidr: string;
    /** One NAT gateway, or one per AZ (costs more, survives an AZ outage). */
    readonly nat: "single" | "perAz";
  };
  /** Work bucket name (globally unique). */
  readonly workBucketName: string;
  /** Days after which job data and rejected messages expire. */
  readonly expireJobsAfterDays: number;
  /** CloudWatch Logs retention for functions, state machine and flow logs. */
  readonly logRetentionDays: number;
  /** Let `http:` URLs through (fanout validation, fetcher, port 80 egress). */
  readonly allowHttp: boolean;
  /**
   * Items per message (and per execution). 1..10000, and a message of that many
   * items at `maxUrlLength` must fit in one message of the ingest queue (256 KiB,
   * QUEUE_MAX_MESSAGE_BYTES): 126 at 2,048 characters, about 2,000 at 100.
   */
  readonly maxItemsPerJob: number;
  /** Longest item URL accepted, in characters (after normalisation). 1..8192. */
  readonly maxUrlLength: number;
  readonly fetch: {
    /** Largest response the fetcher stores, in bytes. */
    readonly maxBytes: number;
    /** Redirects followed, each re-checked by the address guard. 0..10. */
    readonly maxRedirects: number;
  };
  readonly processor: {
    /** Lines per chunk for text input. */
    readonly chunkLines: number;
    /** Bytes per chunk for binary input. */
    readonly chunkBytes: number;
  };
  /** Email subscribed to the alarm topic (optional; confirm the subscription by mail). */
  readonly alarmEmail?: string;
  /**
   * Write each state's input and output into the state machine's log group.
   * They carry URLs, query-string tokens included: off unless you need them.
   * @default false
   */
  readonly logExecutionData?: boolean;
  readonly budget: Budget;
}

export interface StateConfig {
  /** Terraform state bucket (globally unique); never the work bucket. */
  readonly bucketName: string;
  readonly region: string;
  /**
   * Backend of the `state` stack itself: "local" to bootstrap the bucket, then
   * "s3" once its state has been migrated into it (README, "Deploy").
   */
  readonly backend: "local" | "s3";
  /**
   * The IAM roles or users that run Terraform (ARN patterns, `*` allowed): the
   * state bucket's policy denies every other principal. At least one.
   */
  readonly terraformPrincipals: readonly string[];
}

export interface ProjectConfig {
  readonly project: string;
  readonly state: StateConfig;
  readonly environments: readonly EnvironmentConfig[];
}

const fd = { baseline: DEFAULT_FD_BASELINE, fdsPerTask: DEFAULT_FDS_PER_TASK, headroom: 0.5 };

/** The example account: replace with yours (dev and prod share it here, so rule 3 adds them up). */
const ACCOUNT = "123456789012";

const dev: EnvironmentConfig = {
  name: "dev",
  account: ACCOUNT,
  region: "eu-west-1",
  availabilityZones: ["eu-west-1a", "eu-west-1b"],
  network: { egressVpcCidr: "10.20.0.0/16", isolatedVpcCidr: "10.21.0.0/16", nat: "single" },
  workBucketName: "fanout-pipeline-dev-work-example",
  expireJobsAfterDays: 7,
  logRetentionDays: 14,
  allowHttp: false,
  // 120 items of 2,048-character URLs fill 247 KB of the queue's 256 KiB message.
  maxItemsPerJob: 120,
  maxUrlLength: 2048,
  fetch: { maxBytes: 50 * 1024 * 1024, maxRedirects: 3 },
  processor: { chunkLines: 1000, chunkBytes: 1024 * 1024 },
  budget: {
    accountConcurrency: 1000,
    queue: { maximumConcurrency: 5, batchSize: 10, maximumBatchingWindowSeconds: 0, visibilityTimeoutSeconds: 360, maxReceiveCount: 5 },
    map: { maxConcurrency: 20 },
    fanout: { reservedConcurrency: 5, timeoutSeconds: 60, memoryMb: 256, maxSockets: 25, taskConcurrency: 10, sdkRequestTimeoutMs: 10_000 },
    // Each worker takes its tasks from its own queue, at most `maximumConcurrency`
    // at once (= its reserved concurrency: nothing is throttled); a burst waits in
    // the queue, up to `queueWaitSeconds` per task.
    fetcher: {
      // The fetches share two outbound agents of fetchMaxSockets each: one socket per task in flight.
      reservedConcurrency: 20, timeoutSeconds: 120, memoryMb: 512, maxSockets: 16, taskConcurrency: 4, fetchMaxSockets: 4,
      sdkRequestTimeoutMs: 30_000, fetchTimeoutMs: 60_000,
      queue: { maximumConcurrency: 20, visibilityTimeoutSeconds: 720, maxReceiveCount: 3, queueWaitSeconds: 3600 },
    },
    // The processor keeps twice as many chunk PUTs in flight as it has pooled
    // sockets: with one task per socket, a socket idles while its task runs the
    // SDK's middleware (npm run bench: the TASK_CONCURRENCY axis, over TLS). The
    // extra tasks wait in the agent, on the same 50 connections; at most
    // FETCH_MAX_BYTES / CHUNK_BYTES = 50 chunks of 1 MiB are ever held (peak RSS
    // about 100 MB of 1024 in the benchmark's largest-object split).
    processor: {
      reservedConcurrency: 20, timeoutSeconds: 300, memoryMb: 1024, maxSockets: 50, taskConcurrency: 100,
      sdkRequestTimeoutMs: 30_000,
      queue: { maximumConcurrency: 20, visibilityTimeoutSeconds: 1800, maxReceiveCount: 3, queueWaitSeconds: 3600 },
    },
    fd,
  },
};

const prod: EnvironmentConfig = {
  ...dev,
  name: "prod",
  availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
  network: { egressVpcCidr: "10.30.0.0/16", isolatedVpcCidr: "10.31.0.0/16", nat: "perAz" },
  workBucketName: "fanout-pipeline-prod-work-example",
  expireJobsAfterDays: 30,
  logRetentionDays: 90,
  budget: {
    ...dev.budget,
    queue: { ...dev.budget.queue, maximumConcurrency: 50 },
    map: { maxConcurrency: 150 },
    fanout: { ...dev.budget.fanout, reservedConcurrency: 50 },
    fetcher: { ...dev.budget.fetcher, reservedConcurrency: 150, queue: { ...dev.budget.fetcher.queue, maximumConcurrency: 150 } },
    processor: { ...dev.budget.processor, reservedConcurrency: 150, queue: { ...dev.budget.processor.queue, maximumConcurrency: 150 } },
  },
};

export const projectConfig: ProjectConfig = {
  project: PROJECT,
  state: {
    bucketName: "fanout-pipeline-tfstate-example",
    region: "eu-west-1",
    backend: "local",
    // The roles the GitHub workflows assume (AWS_PLAN_ROLE_ARN, AWS_DEPLOY_ROLE_ARN) and the bootstrap admin.
    terraformPrincipals: [
      `arn:aws:iam::${ACCOUNT}:role/fanout-pipeline-plan`,
      `arn:aws:iam::${ACCOUNT}:role/fanout-pipeline-deploy`,
      `arn:aws:iam::${ACCOUNT}:role/admin`,
    ],
  },
  environments: [dev, prod],
};
