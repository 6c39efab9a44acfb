import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import { SqsQueuePolicy } from "@cdktf/provider-aws/lib/sqs-queue-policy";
import { SqsQueueRedriveAllowPolicy } from "@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy";
import { QUEUE_MAX_MESSAGE_BYTES } from "../contract";
import { denyInsecureTransport, policyDocument, type PolicyStatement } from "./iam";

export interface PipelineQueueProps {
  /**
   * Name of the queue; the DLQ is `${name}-dlq`. 1..75 characters of
   * `[A-Za-z0-9_-]` (SQS allows 80, the DLQ suffix takes 4; no FIFO queues).
   */
  readonly name: string;
  /**
   * Visibility timeout of the queue, 0..43200 seconds. For a Lambda
   * source, at least 6 × the function timeout (the budget enforces it).
   */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the DLQ, 1..1000. */
  readonly maxReceiveCount: number;
  /**
   * Largest message the queue (and its DLQ) accepts, 1024..262144 bytes (the
   * most the pinned AWS provider can set; see QUEUE_MAX_MESSAGE_BYTES).
   * @default 262144
   */
  readonly maxMessageSizeBytes?: number;
  /**
   * How long the queue keeps a message, 60..1209600 seconds.
   * @default 345600 (4 days, the AWS default)
   */
  readonly messageRetentionSeconds?: number;
  /**
   * How long the DLQ keeps a message, 60..1209600 seconds; must be >= the
   * queue's retention (a message's age carries over into the DLQ).
   * @default 1209600 (14 days, the maximum)
   */
  readonly dlqMessageRetentionSeconds?: number;
  /**
   * Long-polling wait of the queue, 0..20 seconds.
   * @default 20
   */
  readonly receiveWaitTimeSeconds?: number;
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,75}$/;

/** Range rules of `PipelineQueueProps`, checked in order. */
const RANGE_RULES: ReadonlyArray<{ field: keyof PipelineQueueProps; min: number; max: number }> = [
  { field: "visibilityTimeoutSeconds", min: 0, max: 43200 },
  { field: "maxReceiveCount", min: 1, max: 1000 },
  { field: "maxMessageSizeBytes", min: 1024, max: QUEUE_MAX_MESSAGE_BYTES },
  { field: "messageRetentionSeconds", min: 60, max: 1209600 },
  { field: "dlqMessageRetentionSeconds", min: 60, max: 1209600 },
  { field: "receiveWaitTimeSeconds", min: 0, max: 20 },
];

/** Throws on the first prop that breaks a rule, naming the rule, the field and the value. */
export function validatePipelineQueueProps(props: PipelineQueueProps): void {
  if (!Token.isUnresolved(props.name) && !NAME_PATTERN.test(props.name)) {
    throw new Error(`queue name: name must be 1..75 characters of [A-Za-z0-9_-] (given "${props.name}")`);
  }
  for (const { field, min, max } of RANGE_RULES) {
    const value = props[field];
    if (value === undefined || Token.isUnresolved(value)) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new Error(`queue range: ${field} must be an integer ${min}..${max} (given ${value})`);
    }
  }
  const retention = props.messageRetentionSeconds ?? PipelineQueue.DEFAULT_MESSAGE_RETENTION_SECONDS;
  const dlqRetention = props.dlqMessageRetentionSeconds ?? PipelineQueue.DEFAULT_DLQ_MESSAGE_RETENTION_SECONDS;
  if (!Token.isUnresolved(retention) && !Token.isUnresolved(dlqRetention) && dlqRetention < retention) {
    throw new Error(
      `queue retention: dlqMessageRetentionSeconds (${dlqRetention}) must be >= messageRetentionSeconds (${retention}), ` +
        "or messages expire from the DLQ before anyone can look at them",
    );
  }
}

/**
 * A queue of the pipeline (the ingest queue, and each worker's work queue) and
 * its dead-letter queue: both encrypted (SQS-managed SSE) and reachable only over
 * TLS; the queue redrives to the DLQ after `maxReceiveCount` receives, and the
 * DLQ accepts redrives from this queue only.
 */
export class PipelineQueue extends Construct {
  /** AWS default retention of a queue: 4 days. */
  public static readonly DEFAULT_MESSAGE_RETENTION_SECONDS = 345600;
  /** DLQ retention default: 14 days, the maximum. */
  public static readonly DEFAULT_DLQ_MESSAGE_RETENTION_SECONDS = 1209600;
  /** Long polling by default. */
  public static readonly DEFAULT_RECEIVE_WAIT_TIME_SECONDS = 20;

  /** ARN of the queue (event source mapping, IAM). */
  public readonly queueArn: string;
  /** URL of the queue (senders send here). */
  public readonly queueUrl: string;
  /** Name of the queue (CloudWatch dimensions). */
  public readonly queueName: string;
  /** ARN of the dead-letter queue. */
  public readonly dlqArn: string;
  /** Name of the dead-letter queue (alarm dimension). */
  public readonly dlqName: string;
  /** URL of the dead-letter queue. */
  public readonly dlqUrl: string;

  constructor(scope: Construct, id: string, props: PipelineQueueProps) {
    super(scope, id);
    validatePipelineQueueProps(props);

    const dlq = new SqsQueue(this, "dlq", {
      name: `${props.name}-dlq`,
      messageRetentionSeconds: props.dlqMessageRetentionSeconds ?? PipelineQueue.DEFAULT_DLQ_MESSAGE_RETENTION_SECONDS,
      maxMessageSize: props.maxMessageSizeBytes ?? QUEUE_MAX_MESSAGE_BYTES,
      sqsManagedSseEnabled: true,
    });
    const queue = new SqsQueue(this, "queue", {
      name: props.name,
      visibilityTimeoutSeconds: props.visibilityTimeoutSeconds,
      messageRetentionSeconds: props.messageRetentionSeconds ?? PipelineQueue.DEFAULT_MESSAGE_RETENTION_SECONDS,
      receiveWaitTimeSeconds: props.receiveWaitTimeSeconds ?? PipelineQueue.DEFAULT_RECEIVE_WAIT_TIME_SECONDS,
      maxMessageSize: props.maxMessageSizeBytes ?? QUEUE_MAX_MESSAGE_BYTES,
      sqsManagedSseEnabled: true,
      redrivePolicy: jsonOf({ deadLetterTargetArn: dlq.arn, maxReceiveCount: props.maxReceiveCount }),
    });
    const redriveAllow = new SqsQueueRedriveAllowPolicy(this, "dlq-redrive-allow", {
      queueUrl: dlq.url,
      redriveAllowPolicy: JSON.stringify({
        redrivePermission: "byQueue",
        sourceQueueArns: [queue.arn],
      }),
    });
    new SqsQueuePolicy(this, "queue-policy", { queueUrl: queue.url, policy: tlsOnlyPolicy(queue.arn) });
    new SqsQueuePolicy(this, "dlq-policy", {
      queueUrl: dlq.url,
      policy: tlsOnlyPolicy(dlq.arn),
      // Two writers of the same queue's attributes: one at a time.
      dependsOn: [redriveAllow],
    });

    this.queueArn = queue.arn;
    this.queueUrl = queue.url;
    this.queueName = queue.name;
    this.dlqArn = dlq.arn;
    this.dlqName = dlq.name;
    this.dlqUrl = dlq.url;
  }

  /** What an event source mapping's function needs to consume this queue. */
  consumeStatement(sid: string): PolicyStatement {
    return {
      Sid: sid,
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
      Resource: this.queueArn,
    };
  }
}

/**
 * JSON text of `value`: a literal string when every number in it is known, else
 * Terraform's `jsonencode()` (a number token would not survive `JSON.stringify`).
 */
function jsonOf(value: Record<string, string | number>): string {
  const numberTokens = Object.values(value).some((v) => typeof v === "number" && Token.isUnresolved(v));
  return numberTokens ? Fn.jsonencode(value) : JSON.stringify(value);
}

function tlsOnlyPolicy(queueArn: string): string {
  return policyDocument([denyInsecureTransport("sqs:*", queueArn)]);
}
