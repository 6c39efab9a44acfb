import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import { ENV, KEYS } from "../functions/shared/contract";
import { Alarms } from "../modules/alarms";
import { fdCeiling } from "../modules/config/budget";
import type { EnvironmentConfig, ProjectConfig } from "../modules/config/environments";
import { validateEnvironment } from "../modules/config/validate";
import { PipelineFunction } from "../modules/function";
import { Network } from "../modules/network";
import { IngestQueue } from "../modules/queue";
import { WorkBucket } from "../modules/storage";
import { Workflow } from "../modules/workflow/workflow";

export interface PipelineStackProps {
  readonly config: ProjectConfig;
  readonly env: EnvironmentConfig;
}

/** The Terraform state key of an environment's stack: one key per stack. */
export const pipelineStateKey = (envName: string) => `pipeline-${envName}/terraform.tfstate`;

/**
 * One environment of the pipeline: SQS -> fanout -> Step Functions -> fetcher
 * (egress VPC) and processor (isolated VPC) -> S3, with every concurrency bound
 * taken from the environment's budget (validated here, at synth).
 */
export class PipelineStack extends TerraformStack {
  readonly workflow: Workflow;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id);
    const { env, config } = props;
    validateEnvironment(env);
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
    const queue = new IngestQueue(this, "queue", {
      name: `${prefix}-ingest`,
      visibilityTimeoutSeconds: b.queue.visibilityTimeoutSeconds,
      maxReceiveCount: b.queue.maxReceiveCount,
    });

    const objects = (...patterns: string[]) => patterns.map((p) => `${bucket.bucketArn}/${p}`);
    const listJobs = {
      Sid: "ListJobPrefix",
      Effect: "Allow" as const,
      Action: "s3:ListBucket",
      Resource: bucket.bucketArn,
      // Lets a missing key answer 404 (NoSuchKey) instead of 403, and nothing else.
      Condition: { StringLike: { "s3:prefix": [`${KEYS.prefixes.jobs}*`] } },
    };
    const common = { [ENV.workBucket]: bucket.bucketName, [ENV.allowHttp]: String(env.allowHttp) };

    const fetcher = new PipelineFunction(this, "fetcher", {
      functionName: `${prefix}-fetcher`,
      source: "fetcher",
      budget: b.fetcher,
      logRetentionDays: env.logRetentionDays,
      vpc: { subnetIds: network.egressPrivateSubnetIds, securityGroupIds: [network.fetcherSecurityGroupId] },
      environment: {
        ...common,
        [ENV.fetchTimeoutMs]: String(b.fetcher.fetchTimeoutMs),
        [ENV.fetchMaxBytes]: String(env.fetch.maxBytes),
        [ENV.fetchMaxRedirects]: String(env.fetch.maxRedirects),
      },
      statements: [
        {
          Sid: "WriteRawObjects",
          Effect: "Allow",
          Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
          Resource: objects("jobs/*/raw/*"),
        },
      ],
    });

    const processor = new PipelineFunction(this, "processor", {
      functionName: `${prefix}-processor`,
      source: "processor",
      budget: b.processor,
      logRetentionDays: env.logRetentionDays,
      vpc: { subnetIds: network.isolatedSubnetIds, securityGroupIds: [network.processorSecurityGroupId] },
      environment: {
        ...common,
        [ENV.chunkLines]: String(env.processor.chunkLines),
        [ENV.chunkBytes]: String(env.processor.chunkBytes),
      },
      statements: [
        { Sid: "ReadRawObjects", Effect: "Allow", Action: "s3:GetObject", Resource: objects("jobs/*/raw/*") },
        {
          Sid: "WriteJobOutputs",
          Effect: "Allow",
          Action: ["s3:PutObject", "s3:AbortMultipartUpload"],
          Resource: objects("jobs/*/chunks/*", "jobs/*/results/*", "jobs/*/status.json"),
        },
        listJobs,
      ],
    });

    this.workflow = new Workflow(this, "workflow", {
      name: prefix,
      fetcherArn: fetcher.functionArn,
      processorArn: processor.functionArn,
      mapMaxConcurrency: b.map.maxConcurrency,
      fetchTimeoutSeconds: b.fetcher.stateTimeoutSeconds,
      processTimeoutSeconds: b.processor.stateTimeoutSeconds,
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
      },
      statements: [
        {
          Sid: "WriteManifestsAndRejects",
          Effect: "Allow",
          Action: "s3:PutObject",
          Resource: objects("jobs/*/manifest.json", `${KEYS.prefixes.rejected}*`),
        },
        { Sid: "StartJobs", Effect: "Allow", Action: "states:StartExecution", Resource: this.workflow.stateMachineArn },
        {
          Sid: "ConsumeIngestQueue",
          Effect: "Allow",
          Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
          Resource: queue.queueArn,
        },
      ],
    });

    new LambdaEventSourceMapping(this, "ingest-mapping", {
      eventSourceArn: queue.queueArn,
      functionName: fanout.functionArn,
      batchSize: b.queue.batchSize,
      maximumBatchingWindowInSeconds: b.queue.maximumBatchingWindowSeconds,
      functionResponseTypes: ["ReportBatchItemFailures"],
      scalingConfig: { maximumConcurrency: b.queue.maximumConcurrency },
    });

    const alarms = new Alarms(this, "alarms", {
      name: prefix,
      queueName: queue.queueName,
      dlqName: queue.dlqName,
      // Backlog older than one full retry cycle of a message.
      maxMessageAgeSeconds: Math.max(300, b.queue.visibilityTimeoutSeconds * b.queue.maxReceiveCount),
      functionNames: [fanout.functionName, fetcher.functionName, processor.functionName],
      fdThreshold: fdCeiling(b),
      stateMachineArn: this.workflow.stateMachineArn,
      alarmEmail: env.alarmEmail,
    });

    new TerraformOutput(this, "ingest_queue_url", { value: queue.queueUrl });
    new TerraformOutput(this, "dlq_url", { value: queue.dlqUrl });
    new TerraformOutput(this, "work_bucket", { value: bucket.bucketName });
    new TerraformOutput(this, "state_machine_arn", { value: this.workflow.stateMachineArn });
    new TerraformOutput(this, "alarm_topic_arn", { value: alarms.topicArn });
  }
}
