import { Testing } from "cdktf";
import { Alarms, type AlarmsProps } from "../modules/alarms";
import type { TfJson } from "./helpers/synth";

const props: AlarmsProps = {
  name: "p",
  account: "123456789012",
  region: "eu-west-1",
  queues: [
    { queueName: "p-ingest", dlqName: "p-ingest-dlq", maxMessageAgeSeconds: 1800 },
    { queueName: "p-fetch", dlqName: "p-fetch-dlq", maxMessageAgeSeconds: 3600 },
    { queueName: "p-process", dlqName: "p-process-dlq", maxMessageAgeSeconds: 3600 },
  ],
  functionNames: ["p-fanout", "p-fetcher", "p-processor"],
  fdThreshold: 512,
  stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:p",
};
const synth = (p: AlarmsProps): TfJson => JSON.parse(Testing.synthScope((s) => new Alarms(s, "alarms", p)));
const alarms = (out: TfJson): TfJson[] => Object.values(out.resource.aws_cloudwatch_metric_alarm) as TfJson[];
const find = (out: TfJson, metric: string, dims: Record<string, string>) =>
  alarms(out).filter((a) => a.metric_name === metric && JSON.stringify(a.dimensions) === JSON.stringify(dims));

describe("Alarms", () => {
  test.each(["p-ingest", "p-fetch", "p-process"])("raises when any message reaches the DLQ of %s", (queue) => {
    const [a] = find(synth(props), "ApproximateNumberOfMessagesVisible", { QueueName: `${queue}-dlq` });
    expect(a).toMatchObject({ namespace: "AWS/SQS", threshold: 0, comparison_operator: "GreaterThanThreshold", statistic: "Maximum" });
  });

  test("raises when a queue's oldest message is older than that queue's limit (ingest and work queues)", () => {
    expect(find(synth(props), "ApproximateAgeOfOldestMessage", { QueueName: "p-ingest" })[0].threshold).toBe(1800);
    expect(find(synth(props), "ApproximateAgeOfOldestMessage", { QueueName: "p-fetch" })[0].threshold).toBe(3600);
    expect(find(synth(props), "ApproximateAgeOfOldestMessage", { QueueName: "p-process" })[0].threshold).toBe(3600);
  });

  test("raises on the first throttle: work is admitted by queues, so none is expected", () => {
    for (const fn of props.functionNames) expect(find(synth(props), "Throttles", { FunctionName: fn })[0].threshold).toBe(0);
  });

  test("watches errors, throttles and peak open file descriptors of every function", () => {
    const out = synth(props);
    for (const fn of props.functionNames) {
      expect(find(out, "Errors", { FunctionName: fn })).toHaveLength(1);
      expect(find(out, "Throttles", { FunctionName: fn })).toHaveLength(1);
      const [fds] = find(out, "OpenFileDescriptors", { service: fn });
      expect(fds).toMatchObject({ namespace: "FanoutPipeline", statistic: "Maximum", threshold: 512 });
    }
  });

  test("watches failed, timed-out and throttled executions of the state machine", () => {
    const out = synth(props);
    for (const m of ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled"]) {
      expect(find(out, m, { StateMachineArn: props.stateMachineArn })).toHaveLength(1);
    }
  });

  test("every alarm notifies the topic on alarm and on recovery, and treats missing data as fine", () => {
    const out = synth(props);
    const list = alarms(out);
    // 2 per queue (DLQ depth, oldest message), 3 per function, 3 for the state machine.
    expect(list).toHaveLength(3 * 2 + 3 * 3 + 3);
    for (const a of list) {
      expect(a.alarm_actions).toEqual([expect.stringMatching(/^\$\{aws_sns_topic\.[^.]+\.arn\}$/)]);
      expect(a.ok_actions).toEqual(a.alarm_actions);
      expect(a.treat_missing_data).toBe("notBreaching");
    }
  });

  const ourAlarms = { StringEquals: { "aws:SourceAccount": "123456789012" }, ArnLike: { "aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:p-*" } };

  test("lets only this account's alarms of this stack publish to the topic, over TLS only", () => {
    const [policy] = Object.values(synth(props).resource.aws_sns_topic_policy) as TfJson[];
    const doc = JSON.parse(policy.policy);
    expect(doc.Statement[0]).toEqual({
      Sid: "CloudWatchAlarmsPublish",
      Effect: "Allow",
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: "sns:Publish",
      Resource: expect.stringMatching(/^\$\{aws_sns_topic\./),
      Condition: ourAlarms,
    });
    expect(doc.Statement[1]).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
  });

  test("every alarm's name matches the ARN pattern the topic and key policies allow", () => {
    for (const a of alarms(synth(props))) expect(a.alarm_name).toMatch(/^p-/);
  });

  test("encrypts the topic with a rotated customer managed key that CloudWatch may use for our alarms only", () => {
    const out = synth(props);
    const [[keyId, key]] = Object.entries(out.resource.aws_kms_key) as [string, TfJson][];
    expect(key.enable_key_rotation).toBe(true);
    const [topic] = Object.values(out.resource.aws_sns_topic) as TfJson[];
    expect(topic.kms_master_key_id).toBe(`\${aws_kms_key.${keyId}.arn}`);
    const statements = JSON.parse(key.policy).Statement as TfJson[];
    expect(statements.find((st) => st.Sid === "CloudWatchAlarmsEncrypt")).toEqual({
      Sid: "CloudWatchAlarmsEncrypt",
      Effect: "Allow",
      Principal: { Service: "cloudwatch.amazonaws.com" },
      Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
      Resource: "*",
      Condition: ourAlarms,
    });
    expect(statements.find((st) => st.Sid === "AccountAdministersTheKey")!.Principal).toEqual({ AWS: "arn:aws:iam::123456789012:root" });
  });

  test("subscribes an email only when one is given", () => {
    expect(synth(props).resource.aws_sns_topic_subscription).toBeUndefined();
    const out = synth({ ...props, alarmEmail: "ops@example.com" });
    expect(Object.values(out.resource.aws_sns_topic_subscription)).toEqual([
      expect.objectContaining({ protocol: "email", endpoint: "ops@example.com" }),
    ]);
  });

  test("refuses a bad email, an fd threshold over 1024, an empty function or queue list and a bad message age", () => {
    expect(() => synth({ ...props, alarmEmail: "not-an-email" })).toThrow(/alarmEmail \("not-an-email"\) is not an email address/);
    expect(() => synth({ ...props, fdThreshold: 2000 })).toThrow(/fdThreshold \(2000\) must be between 1 and 1024/);
    expect(() => synth({ ...props, functionNames: [] })).toThrow(/functionNames must name at least one function/);
    expect(() => synth({ ...props, queues: [] })).toThrow(/queues must name at least one queue/);
    expect(() => synth({ ...props, account: "12345" })).toThrow(/account \("12345"\) must be a 12-digit AWS account id/);
    expect(() => synth({ ...props, queues: [{ queueName: "q", dlqName: "q-dlq", maxMessageAgeSeconds: 10 }] })).toThrow(/maxMessageAgeSeconds of queue q \(10\) must be between 60 and 1209600/);
  });
});
