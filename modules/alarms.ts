import { CloudwatchMetricAlarm } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { SnsTopic } from "@cdktf/provider-aws/lib/sns-topic";
import { SnsTopicPolicy } from "@cdktf/provider-aws/lib/sns-topic-policy";
import { SnsTopicSubscription } from "@cdktf/provider-aws/lib/sns-topic-subscription";
import { Token } from "cdktf";
import { Construct } from "constructs";
import { METRICS } from "../contract";
import { denyInsecureTransport, policyDocument } from "./iam";

export interface AlarmsProps {
  /** Name prefix of the topic and alarms. */
  readonly name: string;
  /** The account and region the alarms live in (12 digits; the topic policy's source conditions). */
  readonly account: string;
  readonly region: string;
  /** Every queue (ingest and work queues): age of its oldest message, depth of its DLQ. At least one. */
  readonly queues: readonly AlarmedQueue[];
  /** Lambda function names (errors, throttles, peak open file descriptors). At least one. */
  readonly functionNames: readonly string[];
  /** Alarm when a function reports more open file descriptors than this. Range 1..1024. */
  readonly fdThreshold: number;
  /** Throttles per 5 minutes that raise the alarm. Work is admitted by queues, so none is expected. @default 0 */
  readonly throttleThreshold?: number;
  /** State machine ARN (failed, timed out, throttled executions). */
  readonly stateMachineArn: string;
  /** Email subscribed to the topic. @default none */
  readonly alarmEmail?: string;
}

export interface AlarmedQueue {
  readonly queueName: string;
  /** Its dead-letter queue (depth > 0). */
  readonly dlqName: string;
  /** Alarm when the oldest message is older than this, in seconds. Range 60..1209600. */
  readonly maxMessageAgeSeconds: number;
}

interface AlarmSpec {
  readonly id: string;
  readonly description: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
  readonly statistic: "Sum" | "Maximum";
  readonly threshold: number;
  readonly periodSeconds?: number;
}

/**
 * The SNS topic and the alarms: each queue's DLQ depth and age of its oldest
 * message, Lambda errors / throttles / peak open file descriptors, and Step
 * Functions executions failed / timed out / throttled. The topic is encrypted
 * with a customer managed key (rotated yearly): the AWS managed SNS key's policy
 * cannot be changed and does not let CloudWatch use it, so alarms could not
 * publish. Only this account's alarms of this stack may publish.
 */
export class Alarms extends Construct {
  readonly topicArn: string;
  /** Alarm names, for tests and runbooks. */
  readonly alarmNames: string[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    if (props.functionNames.length === 0) throw new Error("functionNames must name at least one function");
    if (!(props.fdThreshold >= 1 && props.fdThreshold <= 1024)) {
      throw new Error(`fdThreshold (${props.fdThreshold}) must be between 1 and 1024`);
    }
    if (props.queues.length === 0) throw new Error("queues must name at least one queue");
    for (const q of props.queues) {
      if (!(q.maxMessageAgeSeconds >= 60 && q.maxMessageAgeSeconds <= 1_209_600)) {
        throw new Error(`maxMessageAgeSeconds of queue ${q.queueName} (${q.maxMessageAgeSeconds}) must be between 60 and 1209600`);
      }
    }
    if (props.alarmEmail !== undefined && !Token.isUnresolved(props.alarmEmail) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alarmEmail)) {
      throw new Error(`alarmEmail ("${props.alarmEmail}") is not an email address`);
    }

    if (!/^\d{12}$/.test(props.account)) throw new Error(`account ("${props.account}") must be a 12-digit AWS account id`);
    const alarmArns = `arn:aws:cloudwatch:${props.region}:${props.account}:alarm:${props.name}-*`;
    const fromOurAlarms = { StringEquals: { "aws:SourceAccount": props.account }, ArnLike: { "aws:SourceArn": alarmArns } };
    const key = new KmsKey(this, "topic-key", {
      description: `${props.name}-alarms topic encryption (CloudWatch alarms publish with it)`,
      enableKeyRotation: true,
      deletionWindowInDays: 30,
      policy: policyDocument([
        {
          // Without it the key would be unmanageable; IAM policies then decide who administers it.
          Sid: "AccountAdministersTheKey",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${props.account}:root` },
          Action: "kms:*",
          Resource: "*",
        },
        {
          Sid: "CloudWatchAlarmsEncrypt",
          Effect: "Allow",
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
          Resource: "*",
          Condition: fromOurAlarms,
        },
      ]),
    });
    new KmsAlias(this, "topic-key-alias", { name: `alias/${props.name}-alarms`, targetKeyId: key.keyId });
    const topic = new SnsTopic(this, "topic", { name: `${props.name}-alarms`, kmsMasterKeyId: key.arn });
    new SnsTopicPolicy(this, "topic-policy", {
      arn: topic.arn,
      policy: policyDocument([
        {
          Sid: "CloudWatchAlarmsPublish",
          Effect: "Allow",
          Principal: { Service: "cloudwatch.amazonaws.com" },
          Action: "sns:Publish",
          Resource: topic.arn,
          Condition: fromOurAlarms,
        },
        denyInsecureTransport("sns:Publish", topic.arn),
      ]),
    });
    if (props.alarmEmail) {
      new SnsTopicSubscription(this, "email", { topicArn: topic.arn, protocol: "email", endpoint: props.alarmEmail });
    }
    this.topicArn = topic.arn;

    const specs: AlarmSpec[] = props.queues.flatMap((q, i): AlarmSpec[] => [
      {
        id: `queue${i}-dlq-depth`,
        description: `Messages in ${q.dlqName}: they failed maxReceiveCount times. Inspect, fix, then redrive.`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: q.dlqName },
        statistic: "Maximum",
        threshold: 0,
      },
      {
        id: `queue${i}-oldest-message-age`,
        description: `The oldest message of ${q.queueName} is older than ${q.maxMessageAgeSeconds}s: its consumer is behind or failing.`,
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        dimensions: { QueueName: q.queueName },
        statistic: "Maximum",
        threshold: q.maxMessageAgeSeconds,
      },
    ]);
    props.functionNames.forEach((fn, i) => {
      specs.push(
        {
          id: `fn${i}-errors`,
          description: `Function ${fn} reported errors.`,
          namespace: "AWS/Lambda",
          metricName: "Errors",
          dimensions: { FunctionName: fn },
          statistic: "Sum",
          threshold: 0,
          periodSeconds: 300,
        },
        {
          id: `fn${i}-throttles`,
          description: `Function ${fn} was throttled. Work reaches it through a queue whose mapping stays within its reserved concurrency, so a throttle means the budget or an outside caller is wrong.`,
          namespace: "AWS/Lambda",
          metricName: "Throttles",
          dimensions: { FunctionName: fn },
          statistic: "Sum",
          threshold: props.throttleThreshold ?? 0,
          periodSeconds: 300,
        },
        {
          id: `fn${i}-open-fds`,
          description: `Function ${fn} held more than ${props.fdThreshold} open file descriptors (limit 1024): EMFILE is near.`,
          namespace: METRICS.namespace,
          metricName: METRICS.openFileDescriptors,
          dimensions: { service: fn },
          statistic: "Maximum",
          threshold: props.fdThreshold,
        },
      );
    });
    for (const [metricName, what] of [
      ["ExecutionsFailed", "failed"],
      ["ExecutionsTimedOut", "timed out"],
      ["ExecutionThrottled", "were throttled"],
    ] as const) {
      specs.push({
        id: `sfn-${metricName}`,
        description: `State machine executions ${what}.`,
        namespace: "AWS/States",
        metricName,
        dimensions: { StateMachineArn: props.stateMachineArn },
        statistic: "Sum",
        threshold: 0,
        periodSeconds: 300,
      });
    }

    for (const s of specs) {
      const alarmName = `${props.name}-${s.id}`;
      new CloudwatchMetricAlarm(this, s.id, {
        alarmName,
        alarmDescription: s.description,
        namespace: s.namespace,
        metricName: s.metricName,
        dimensions: s.dimensions,
        statistic: s.statistic,
        period: s.periodSeconds ?? 60,
        evaluationPeriods: 1,
        threshold: s.threshold,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [topic.arn],
        okActions: [topic.arn],
      });
      this.alarmNames.push(alarmName);
    }
  }
}
