import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ENV, KEYS } from "../contract";
import { Alarms } from "../modules/alarms";
import { Dashboard } from "../modules/dashboard";
import { fdCeiling, taskTiming, WORK_QUEUE_BATCH_SIZE, WORK_QUEUE_RETENTION_SECONDS } from "../modules/config/budget";
import type { EnvironmentConfig, ProjectConfig } from "../modules/config/environments";
import { PipelineFunction } from "../modules/function";
import { listPrefixGrant, objectGrant } from "../modules/iam";
import { Network, TASK_TOKEN_ACTIONS } from "../modules/network";
import { PipelineQueue } from "../modules/queue";
import { WorkBucket } from "../modules/storage";
import { Workflow } from "../modules/workflow/workflow";

export interface PipelineStackProps {
  /** The project; validated, with every environment, by `validateProject` (buildApp calls it first). */
  readonly config: ProjectConfig;
  /** One of `config.environments`. */
  readonly env: EnvironmentConfig;
}

/** The Terraform state key of an environment's stack: one key per stack. */
export const pipelineStateKey = (envName: string) => `pipeline-${envName}/terraform.tfstate`;

/**
 * One environment of the pipeline: SQS -> fanout -> Step Functions -> work
 * queues -> fetcher (egress VPC) and processor (isolated VPC) -> S3, with every
 * concurrency bound taken from the environment's budget (validated here, at synth).
 */
export class PipelineStack extends TerraformStack {
  readonly workflow: Workflow;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id);
    const { env, config } = props;
    // The environment was validated once, with the whole project, by validateProject (buildApp).
    if (env.workBucketName === config.state.bucketName) {
      throw new Error(`environment "${env.name}": workBucketName must not be the Terraform state bucket (${config.state.bucketName})`);
    }
    const b = env.budget;
    const prefix = `${config.project}-${env.name}`;

    new AwsProvider(this, "aws", {
      region: env.region,
      defaultTags: [{ tags: { project: config.project, environment: env.name, "managed-by": "cdktf" } }],
    });
    new S3Backend(this, {
      bucket: config.state.bucketName,
      key: pipelineStateKey(env.name),
      region: config.state.region,
      encrypt: true,
    });
    // S3-native state locking (Terraform >= 1.10); cdktf 0.21's S3Backend has no option for it.
    this.addOverride("terraform.backend.s3.use_lockfile", true);

    const network = new Network(this, "network", {
      name: prefix,
      region: env.region,
      availabilityZones: env.availabilityZones,
      egressVpcCidr: env.network.egressVpcCidr,
      isolatedVpcCidr: env.network.isolatedVpcCidr,
      nat: env.network.nat,
      allowHttp: env.allowHttp,
      flowLogRetentionDays: env.logRetentionDays,
    });
    const bucket = new WorkBucket(this, "work-bucket", {
      bucketName: env.workBucketName,
      expireJobsAfterDays: env.expireJobsAfterDays,
    });
    const queue = new PipelineQueue(this, "queue", {
      name: `${prefix}-ingest`,
      visibilityTimeoutSeconds: b.queue.visibilityTimeoutSeconds,
      maxReceiveCount: b.queue.maxReceiveCount,
    });
    // One work queue per worker: Step Functions puts each task there, the worker's mapping admits it.
    const workQueue = (fn: "fetcher" | "processor", suffix: string) =>
      new PipelineQueue(this, `${suffix}-queue`, {
        name: `${prefix}-${suffix}`,
        visibilityTimeoutSeconds: b[fn].queue.visibilityTimeoutSeconds,
        maxReceiveCount: b[fn].queue.maxReceiveCount,
        messageRetentionSeconds: WORK_QUEUE_RETENTION_SECONDS,
      });
    const fetchQueue = workQueue("fetcher", "fetch");
    const processQueue = workQueue("processor", "process");

    // Lets a missing key answer 404 (NoSuchKey) instead of 403, and Finalize list a job's outcomes; nothing else.
    const listJobs = listPrefixGrant("ListJobPrefix", bucket.bucketArn, [KEYS.prefixes.jobs]);
    const common = { [ENV.workBucket]: bucket.bucketName, [ENV.allowHttp]: String(env.allowHttp) };
    const answerTasks = {
      // SendTask* support no resource-level permissions: IAM accepts only "*" (the isolated VPC's endpoint policy narrows the processor's further).
      Sid: "AnswerTaskTokens",
      Effect: "Allow" as const,
      Action: [...TASK_TOKEN_ACTIONS],
      Resource: "*",
    };
    const workerEnv = (fn: "fetcher" | "processor") => ({
      ...common,
      [ENV.taskHeartbeatSeconds]: String(taskTiming(b, fn).heartbeatSeconds),
      [ENV.workQueueMaxReceiveCount]: String(b[fn].queue.maxReceiveCount),
    });

    // Each VPC function's S3 access, once: its role's statements and its VPC's endpoint policy.
    const fetcherS3 = [
      objectGrant("WriteRawObjects", ["s3:PutObject", "s3:AbortMultipartUpload"], bucket.bucketArn, [KEYS.raw("*", "*")]),
    ];
    const processorS3 = [
      objectGrant("ReadJobInputsAndOutcomes", "s3:GetObject", bucket.bucketArn, [KEYS.raw("*", "*"), KEYS.manifest("*"), KEYS.result("*", "*"), KEYS.failure("*", "*")]),
      objectGrant("WriteJobOutputs", ["s3:PutObject", "s3:AbortMultipartUpload"], bucket.bucketArn, [KEYS.chunk("*", "*", "*"), KEYS.result("*", "*"), KEYS.status("*")]),
      listJobs,
    ];

    const fetcher = new PipelineFunction(this, "fetcher", {
      functionName: `${prefix}-fetcher`,
      source: "fetcher",
      budget: b.fetcher,
      logRetentionDays: env.logRetentionDays,
      vpc: { subnetIds: network.egressPrivateSubnetIds, securityGroupIds: [network.fetcherSecurityGroupId] },
      environment: {
        ...workerEnv("fetcher"),
        [ENV.fetchTimeoutMs]: String(b.fetcher.fetchTimeoutMs),
        [ENV.fetchMaxBytes]: String(env.fetch.maxBytes),
        [ENV.fetchMaxRedirects]: String(env.fetch.maxRedirects),
      },
      statements: [
        ...fetcherS3,
        fetchQueue.consumeStatement("ConsumeFetchQueue"),
        answerTasks,
      ],
    });
    fetcher.consumeQueue("fetch-mapping", fetchQueue.queueArn, { batchSize: WORK_QUEUE_BATCH_SIZE, maximumConcurrency: b.fetcher.queue.maximumConcurrency });

    const processor = new PipelineFunction(this, "processor", {
      functionName: `${prefix}-processor`,
      source: "processor",
      budget: b.processor,
      logRetentionDays: env.logRetentionDays,
      vpc: { subnetIds: network.isolatedSubnetIds, securityGroupIds: [network.processorSecurityGroupId] },
      environment: {
        ...workerEnv("processor"),
        [ENV.chunkLines]: String(env.processor.chunkLines),
        [ENV.chunkBytes]: String(env.processor.chunkBytes),
      },
      statements: [
        ...processorS3,
        processQueue.consumeStatement("ConsumeProcessQueue"),
        answerTasks,
      ],
    });
    processor.consumeQueue("process-mapping", processQueue.queueArn, { batchSize: WORK_QUEUE_BATCH_SIZE, maximumConcurrency: b.processor.queue.maximumConcurrency });
    network.allowTaskTokenCalls([processor.roleArn]);
    // S3 only where it should be: each VPC's endpoint reaches the work bucket's keys its function uses, and
    // the work bucket refuses those functions' credentials from anywhere but their endpoint.
    const anyone = <T extends object>(list: readonly T[]) => list.map((st) => ({ ...st, Principal: "*" }));
    network.limitS3Endpoints({ egress: anyone(fetcherS3), isolated: anyone(processorS3) });
    bucket.requireEndpointFor("FetcherOnlyThroughItsEndpoint", [fetcher.roleArn], network.egressS3EndpointId);
    bucket.requireEndpointFor("ProcessorOnlyThroughItsEndpoint", [processor.roleArn], network.isolatedS3EndpointId);

    const fetchTiming = taskTiming(b, "fetcher");
    const processTiming = taskTiming(b, "processor");
    this.workflow = new Workflow(this, "workflow", {
      name: prefix,
      account: env.account,
      region: env.region,
      logExecutionData: env.logExecutionData ?? false,
      fetchQueue: { queueUrl: fetchQueue.queueUrl, queueArn: fetchQueue.queueArn, ...fetchTiming },
      processQueue: { queueUrl: processQueue.queueUrl, queueArn: processQueue.queueArn, ...processTiming },
      mapMaxConcurrency: b.map.maxConcurrency,
      maxItemsPerJob: env.maxItemsPerJob,
      maxUrlLength: env.maxUrlLength,
      logRetentionDays: env.logRetentionDays,
      workBucketArn: bucket.bucketArn,
    });

    const fanout = new PipelineFunction(this, "fanout", {
      functionName: `${prefix}-fanout`,
      source: "fanout",
      budget: b.fanout,
      logRetentionDays: env.logRetentionDays,
      environment: {
        ...common,
        [ENV.stateMachineArn]: this.workflow.stateMachineArn,
        [ENV.maxItemsPerJob]: String(env.maxItemsPerJob),
        [ENV.maxUrlLength]: String(env.maxUrlLength),
      },
      statements: [
        objectGrant("WriteManifestsAndRejects", "s3:PutObject", bucket.bucketArn, [KEYS.manifest("*"), `${KEYS.prefixes.rejected}*`]),
        // A redelivered message compares its items with the manifest already written.
        objectGrant("ReadManifests", "s3:GetObject", bucket.bucketArn, [KEYS.manifest("*")]),
        listJobs,
        { Sid: "StartJobs", Effect: "Allow", Action: "states:StartExecution", Resource: this.workflow.stateMachineArn },
        queue.consumeStatement("ConsumeIngestQueue"),
      ],
    });
    fanout.consumeQueue("ingest-mapping", queue.queueArn, {
      batchSize: b.queue.batchSize,
      maximumBatchingWindowSeconds: b.queue.maximumBatchingWindowSeconds,
      maximumConcurrency: b.queue.maximumConcurrency,
    });

    const alarms = new Alarms(this, "alarms", {
      name: prefix,
      account: env.account,
      region: env.region,
      queues: [
        // Backlog older than one full retry cycle of a message.
        { queueName: queue.queueName, dlqName: queue.dlqName, maxMessageAgeSeconds: Math.max(300, b.queue.visibilityTimeoutSeconds * b.queue.maxReceiveCount) },
        // A task older than the wait the budget plans for is about to time out.
        { queueName: fetchQueue.queueName, dlqName: fetchQueue.dlqName, maxMessageAgeSeconds: b.fetcher.queue.queueWaitSeconds },
        { queueName: processQueue.queueName, dlqName: processQueue.dlqName, maxMessageAgeSeconds: b.processor.queue.queueWaitSeconds },
      ],
      functionNames: [fanout.functionName, fetcher.functionName, processor.functionName],
      fdThreshold: fdCeiling(b),
      stateMachineArn: this.workflow.stateMachineArn,
      alarmEmail: env.alarmEmail,
    });

    new Dashboard(this, "dashboard", {
      name: prefix,
      region: env.region,
      queues: [
        { label: "ingest", queueName: queue.queueName, dlqName: queue.dlqName },
        { label: "fetch", queueName: fetchQueue.queueName, dlqName: fetchQueue.dlqName },
        { label: "process", queueName: processQueue.queueName, dlqName: processQueue.dlqName },
      ],
      functions: [
        { label: "fanout", functionName: fanout.functionName, reservedConcurrency: b.fanout.reservedConcurrency, mappingMaximumConcurrency: b.queue.maximumConcurrency },
        { label: "fetcher", functionName: fetcher.functionName, reservedConcurrency: b.fetcher.reservedConcurrency, mappingMaximumConcurrency: b.fetcher.queue.maximumConcurrency },
        { label: "processor", functionName: processor.functionName, reservedConcurrency: b.processor.reservedConcurrency, mappingMaximumConcurrency: b.processor.queue.maximumConcurrency },
      ],
      fdCeiling: fdCeiling(b),
      stateMachineArn: this.workflow.stateMachineArn,
    });

    new TerraformOutput(this, "ingest_queue_url", { value: queue.queueUrl });
    new TerraformOutput(this, "dlq_url", { value: queue.dlqUrl });
    new TerraformOutput(this, "fetch_queue_url", { value: fetchQueue.queueUrl });
    new TerraformOutput(this, "process_queue_url", { value: processQueue.queueUrl });
    new TerraformOutput(this, "work_bucket", { value: bucket.bucketName });
    new TerraformOutput(this, "state_machine_arn", { value: this.workflow.stateMachineArn });
    new TerraformOutput(this, "alarm_topic_arn", { value: alarms.topicArn });
  }
}
