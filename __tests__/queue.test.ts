import "./helpers/cdktf-matchers";
import { TerraformOutput, TerraformVariable } from "cdktf";
import { SqsQueueRedriveAllowPolicy } from "@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy";
import { PipelineQueue, PipelineQueueProps } from "../modules/queue";
import { synthInStack as synth, type Resources } from "./helpers/synth";


const BASE: PipelineQueueProps = { name: "fanout-ingest-test", visibilityTimeoutSeconds: 180, maxReceiveCount: 5 };

function synthQueue(overrides: Partial<PipelineQueueProps> = {}): { out: string; res: Resources } {
  const out = synth((scope) => new PipelineQueue(scope, "q", { ...BASE, ...overrides }));
  return { out, res: JSON.parse(out).resource };
}

/** Key of the queue named `name`. */
function queueKey(res: Resources, name: string): string {
  const keys = Object.keys(res.aws_sqs_queue).filter((k) => res.aws_sqs_queue[k].name === name);
  if (keys.length !== 1) throw new Error(`expected one queue named ${name}, found ${keys.length}`);
  return keys[0];
}

const ref = (key: string, attr: string) => `\${aws_sqs_queue.${key}.${attr}}`;

describe("PipelineQueue", () => {
  test("creates the ingest queue and a DLQ named <name>-dlq, both encrypted with SQS-managed SSE", () => {
    const { res } = synthQueue();
    expect(Object.keys(res.aws_sqs_queue)).toHaveLength(2);
    for (const name of ["fanout-ingest-test", "fanout-ingest-test-dlq"]) {
      const q = res.aws_sqs_queue[queueKey(res, name)];
      expect(q.sqs_managed_sse_enabled).toBe(true);
      expect(q.fifo_queue).toBeUndefined();
      expect(q.policy).toBeUndefined(); // policies live in aws_sqs_queue_policy
    }
  });

  test("queue redrives to its DLQ after maxReceiveCount", () => {
    const { res } = synthQueue({ maxReceiveCount: 7 });
    const queue = res.aws_sqs_queue[queueKey(res, "fanout-ingest-test")];
    const dlq = queueKey(res, "fanout-ingest-test-dlq");
    expect(JSON.parse(queue.redrive_policy)).toEqual({ deadLetterTargetArn: ref(dlq, "arn"), maxReceiveCount: 7 });
    expect(res.aws_sqs_queue[dlq].redrive_policy).toBeUndefined();
  });

  test("redrive policy falls back to jsonencode() when maxReceiveCount is only known at apply time", () => {
    const out = synth((scope) => {
      const v = new TerraformVariable(scope, "receives", { type: "number" });
      new PipelineQueue(scope, "q", { ...BASE, maxReceiveCount: v.numberValue });
    });
    const res: Resources = JSON.parse(out).resource;
    const dlq = queueKey(res, "fanout-ingest-test-dlq");
    const policy = res.aws_sqs_queue[queueKey(res, "fanout-ingest-test")].redrive_policy;
    expect(policy).toMatch(/^\$\{jsonencode\(\{.*\}\)\}$/);
    expect(policy).toContain(`"deadLetterTargetArn" = aws_sqs_queue.${dlq}.arn`);
    expect(policy).toContain(`"maxReceiveCount" = var.receives`);
  });

  test("DLQ accepts redrives from the ingest queue only", () => {
    const { out, res } = synthQueue();
    const queue = queueKey(res, "fanout-ingest-test");
    const dlq = queueKey(res, "fanout-ingest-test-dlq");
    expect(out).toHaveResourceWithProperties(SqsQueueRedriveAllowPolicy, { queue_url: ref(dlq, "url") });
    const allow = Object.values(res.aws_sqs_queue_redrive_allow_policy);
    expect(allow).toHaveLength(1);
    expect(JSON.parse(allow[0].redrive_allow_policy)).toEqual({
      redrivePermission: "byQueue",
      sourceQueueArns: [ref(queue, "arn")],
    });
  });

  test("both queues deny any request not made over TLS", () => {
    const { res } = synthQueue();
    const policies = Object.values(res.aws_sqs_queue_policy);
    expect(policies).toHaveLength(2);
    for (const name of ["fanout-ingest-test", "fanout-ingest-test-dlq"]) {
      const key = queueKey(res, name);
      const mine = policies.filter((p) => p.queue_url === ref(key, "url"));
      expect(mine).toHaveLength(1);
      expect(JSON.parse(mine[0].policy)).toEqual({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DenyInsecureTransport",
            Effect: "Deny",
            Principal: "*",
            Action: "sqs:*",
            Resource: ref(key, "arn"),
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
        ],
      });
    }
  });

  test("the DLQ's access policy is written after its redrive-allow policy (one writer of its attributes at a time)", () => {
    const { res } = synthQueue();
    const dlqUrl = ref(queueKey(res, "fanout-ingest-test-dlq"), "url");
    const [dlqPolicy] = Object.values(res.aws_sqs_queue_policy).filter((p) => p.queue_url === dlqUrl);
    const allowKey = Object.keys(res.aws_sqs_queue_redrive_allow_policy)[0];
    expect(dlqPolicy.depends_on).toEqual([`aws_sqs_queue_redrive_allow_policy.${allowKey}`]);
  });

  test("defaults: 4-day retention and 20 s long polling on the queue, 14-day retention on the DLQ", () => {
    const { res } = synthQueue();
    expect(res.aws_sqs_queue[queueKey(res, "fanout-ingest-test")]).toMatchObject({
      visibility_timeout_seconds: 180,
      message_retention_seconds: 345600,
      receive_wait_time_seconds: 20,
    });
    expect(res.aws_sqs_queue[queueKey(res, "fanout-ingest-test-dlq")]).toMatchObject({
      message_retention_seconds: 1209600,
    });
  });

  test("passes explicit retention and wait values through", () => {
    const { res } = synthQueue({
      messageRetentionSeconds: 86400,
      dlqMessageRetentionSeconds: 172800,
      receiveWaitTimeSeconds: 0,
      visibilityTimeoutSeconds: 0,
    });
    expect(res.aws_sqs_queue[queueKey(res, "fanout-ingest-test")]).toMatchObject({
      visibility_timeout_seconds: 0,
      message_retention_seconds: 86400,
      receive_wait_time_seconds: 0,
    });
    expect(res.aws_sqs_queue[queueKey(res, "fanout-ingest-test-dlq")].message_retention_seconds).toBe(172800);
  });

  test("exposes the ARN, URL and name of both queues", () => {
    const out = synth((scope) => {
      const q = new PipelineQueue(scope, "q", BASE);
      new TerraformOutput(scope, "o", {
        value: {
          queueArn: q.queueArn,
          queueUrl: q.queueUrl,
          queueName: q.queueName,
          dlqArn: q.dlqArn,
          dlqUrl: q.dlqUrl,
          dlqName: q.dlqName,
        },
      });
    });
    const tf = JSON.parse(out);
    const queue = queueKey(tf.resource, "fanout-ingest-test");
    const dlq = queueKey(tf.resource, "fanout-ingest-test-dlq");
    expect(tf.output.o.value).toEqual({
      queueArn: ref(queue, "arn"),
      queueUrl: ref(queue, "url"),
      queueName: ref(queue, "name"),
      dlqArn: ref(dlq, "arn"),
      dlqUrl: ref(dlq, "url"),
      dlqName: ref(dlq, "name"),
    });
  });
});

describe("PipelineQueue validation", () => {
  const attempt = (overrides: Partial<PipelineQueueProps>) => () => synthQueue(overrides);

  test("refuses a DLQ retention shorter than the queue's", () => {
    expect(attempt({ messageRetentionSeconds: 604800, dlqMessageRetentionSeconds: 86400 })).toThrow(
      /queue retention: dlqMessageRetentionSeconds \(86400\) must be >= messageRetentionSeconds \(604800\)/,
    );
    // Against the default queue retention (4 days) too.
    expect(attempt({ dlqMessageRetentionSeconds: 86400 })).toThrow(
      /dlqMessageRetentionSeconds \(86400\) must be >= messageRetentionSeconds \(345600\)/,
    );
    // Equal is fine.
    expect(attempt({ messageRetentionSeconds: 86400, dlqMessageRetentionSeconds: 86400 })).not.toThrow();
  });

  test.each([
    ["visibilityTimeoutSeconds", -1, "0..43200"],
    ["visibilityTimeoutSeconds", 43201, "0..43200"],
    ["maxReceiveCount", 0, "1..1000"],
    ["maxReceiveCount", 1001, "1..1000"],
    ["maxReceiveCount", 2.5, "1..1000"],
    ["messageRetentionSeconds", 59, "60..1209600"],
    ["messageRetentionSeconds", 1209601, "60..1209600"],
    ["dlqMessageRetentionSeconds", 59, "60..1209600"],
    ["dlqMessageRetentionSeconds", 1209601, "60..1209600"],
    ["receiveWaitTimeSeconds", -1, "0..20"],
    ["receiveWaitTimeSeconds", 21, "0..20"],
    ["maxMessageSizeBytes", 1023, "1024..262144"],
    ["maxMessageSizeBytes", 262145, "1024..262144"],
  ] as const)("refuses %s = %p", (field, value, range) => {
    const message = `queue range: ${field} must be an integer ${range} (given ${value})`;
    expect(attempt({ [field]: value })).toThrow(new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  });

  test.each([
    ["visibilityTimeoutSeconds", 43200],
    ["maxReceiveCount", 1],
    ["maxReceiveCount", 1000],
    ["receiveWaitTimeSeconds", 20],
    ["messageRetentionSeconds", 60],
  ] as const)("accepts the boundary %s = %p", (field, value) => {
    expect(attempt({ [field]: value })).not.toThrow();
  });

  test.each(["", "has space", "fanout.fifo", "q".repeat(76)])("refuses the queue name %j", (name) => {
    expect(attempt({ name })).toThrow(/queue name: name must be 1\.\.75 characters of \[A-Za-z0-9_-\] \(given ".*"\)/);
  });

  test("both queues accept messages up to the largest size the pinned provider can set, unless told otherwise", () => {
    expect(Object.values(synthQueue().res.aws_sqs_queue).map((q) => q.max_message_size)).toEqual([262144, 262144]);
    expect(Object.values(synthQueue({ maxMessageSizeBytes: 4096 }).res.aws_sqs_queue).map((q) => q.max_message_size)).toEqual([4096, 4096]);
  });

  test("accepts a 75-character name (its DLQ name is SQS's 80-character maximum)", () => {
    const { res } = synthQueue({ name: "q".repeat(75) });
    expect(Object.values(res.aws_sqs_queue).map((q) => q.name.length).sort()).toEqual([75, 79]);
  });
});
