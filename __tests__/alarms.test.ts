import { Testing } from "cdktf";
import { Alarms, type AlarmsProps } from "../modules/alarms";
import type { TfJson } from "./helpers/synth";

const props: AlarmsProps = {
  name: "p",
  queueName: "p-ingest",
  dlqName: "p-ingest-dlq",
  maxMessageAgeSeconds: 1800,
  functionNames: ["p-fanout", "p-fetcher", "p-processor"],
  fdThreshold: 512,
  stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:p",
};
const synth = (p: AlarmsProps): TfJson => JSON.parse(Testing.synthScope((s) => new Alarms(s, "alarms", p)));
const alarms = (out: TfJson): TfJson[] => Object.values(out.resource.aws_cloudwatch_metric_alarm) as TfJson[];
const find = (out: TfJson, metric: string, dims: Record<string, string>) =>
  alarms(out).filter((a) => a.metric_name === metric && JSON.stringify(a.dimensions) === JSON.stringify(dims));

describe("Alarms", () => {
  test("raises when any message reaches the DLQ", () => {
    const [a] = find(synth(props), "ApproximateNumberOfMessagesVisible", { QueueName: "p-ingest-dlq" });
    expect(a).toMatchObject({ namespace: "AWS/SQS", threshold: 0, comparison_operator: "GreaterThanThreshold", statistic: "Maximum" });
  });

  test("raises when the oldest ingest message is older than the limit", () => {
    const [a] = find(synth(props), "ApproximateAgeOfOldestMessage", { QueueName: "p-ingest" });
    expect(a.threshold).toBe(1800);
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
    expect(list).toHaveLength(2 + 3 * 3 + 3);
    for (const a of list) {
      expect(a.alarm_actions).toEqual([expect.stringMatching(/^\$\{aws_sns_topic\.[^.]+\.arn\}$/)]);
      expect(a.ok_actions).toEqual(a.alarm_actions);
      expect(a.treat_missing_data).toBe("notBreaching");
    }
  });

  test("lets CloudWatch publish to the topic, over TLS only", () => {
    const [policy] = Object.values(synth(props).resource.aws_sns_topic_policy) as TfJson[];
    const doc = JSON.parse(policy.policy);
    expect(doc.Statement[0]).toMatchObject({ Effect: "Allow", Principal: { Service: "cloudwatch.amazonaws.com" }, Action: "sns:Publish" });
    expect(doc.Statement[1]).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
  });

  test("subscribes an email only when one is given", () => {
    expect(synth(props).resource.aws_sns_topic_subscription).toBeUndefined();
    const out = synth({ ...props, alarmEmail: "ops@example.com" });
    expect(Object.values(out.resource.aws_sns_topic_subscription)).toEqual([
      expect.objectContaining({ protocol: "email", endpoint: "ops@example.com" }),
    ]);
  });

  test("refuses a bad email, an fd threshold over 1024 and an empty function list", () => {
    expect(() => synth({ ...props, alarmEmail: "not-an-email" })).toThrow(/alarmEmail \("not-an-email"\) is not an email address/);
    expect(() => synth({ ...props, fdThreshold: 2000 })).toThrow(/fdThreshold \(2000\) must be between 1 and 1024/);
    expect(() => synth({ ...props, functionNames: [] })).toThrow(/functionNames must name at least one function/);
  });
});
