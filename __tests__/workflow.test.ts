import aslValidator from "asl-validator";
import { Testing } from "cdktf";
import { ERRORS } from "../contract";
import { taskTiming } from "../modules/config/budget";
import { projectConfig } from "../modules/config/environments";
import type { MapState, State, TaskState } from "../modules/workflow/asl";
import { SQS_SEND_WAIT_FOR_TOKEN } from "../modules/workflow/definition";
import { Workflow, type WorkflowProps } from "../modules/workflow/workflow";
import { resources, synthProject, type SynthResult, type TfJson } from "./helpers/synth";

const FAKE_QUEUE_URL = (id: string) => `https://sqs.eu-west-1.amazonaws.com/123456789012/${id}`;

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth.cleanup());

/** The definition exactly as Terraform would send it, with the queue URL references filled in. */
function deployedDefinition(stackName: string): { text: string; def: TfJson } {
  const [[, sm]] = resources(synth.stacks[stackName], "aws_sfn_state_machine");
  const text = (sm.definition as string).replace(/\$\{aws_sqs_queue\.([^.]+)\.url\}/g, (_, id) => FAKE_QUEUE_URL(id));
  return { text, def: JSON.parse(text) };
}

/** Every Task state of the parent and of the Map's children. */
function allTasks(def: TfJson): [string, TaskState][] {
  const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States as Record<string, State>;
  return [...Object.entries(def.States as Record<string, State>), ...Object.entries(inner)].filter(
    (e): e is [string, TaskState] => e[1].Type === "Task",
  );
}

describe.each(["pipeline-dev", "pipeline-prod"])("%s state machine", (stackName) => {
  const env = projectConfig.environments.find((e) => `pipeline-${e.name}` === stackName)!;

  test("the synthesized definition passes asl-validator", () => {
    const { def } = deployedDefinition(stackName);
    const result = aslValidator(def);
    expect(result.errorsText?.("\n") ?? "").toBe("");
    expect(result.isValid).toBe(true);
  });

  test("asl-validator would catch a broken definition (a Next that names no state)", () => {
    const { def } = deployedDefinition(stackName);
    def.States.FetchAndProcess.Next = "NoSuchState";
    expect(aslValidator(def).isValid).toBe(false);
  });

  test("a Distributed Map reads the items from the manifest in S3 and writes its results to S3, with the budget's MaxConcurrency", () => {
    const { def } = deployedDefinition(stackName);
    const map = def.States[def.StartAt] as MapState;
    expect(map.Type).toBe("Map");
    expect(map).not.toHaveProperty("ItemsPath");
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: "DISTRIBUTED", ExecutionType: "STANDARD" });
    expect(map.ItemReader).toEqual({
      Resource: "arn:aws:states:::s3:getObject",
      ReaderConfig: { InputType: "JSON" },
      Parameters: { "Bucket.$": "$.bucket", "Key.$": "$.manifestKey" },
    });
    expect(map.ResultWriter.Parameters).toEqual({ "Bucket.$": "$.bucket", "Prefix.$": "States.Format('jobs/{}/map', $.jobId)" });
    expect(map.MaxConcurrency).toBe(env.budget.map.maxConcurrency);
    expect(map.Next).toBe("Finalize");
    expect(map.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.mapError", Next: "Finalize" }]);
  });

  test("the workers' tasks go through their work queues with a task token; Finalize too", () => {
    const [[, sm]] = resources(synth.stacks[stackName], "aws_sfn_state_machine");
    const queueIdByName = Object.fromEntries(resources(synth.stacks[stackName], "aws_sqs_queue").map(([id, q]) => [q.name.split("-").pop(), id]));
    const def = JSON.parse(sm.definition);
    const inner = def.States.FetchAndProcess.ItemProcessor.States;
    const queueOf = (t: TfJson) => t.Parameters.QueueUrl;
    expect(inner.Fetch.Resource).toBe(SQS_SEND_WAIT_FOR_TOKEN);
    expect(queueOf(inner.Fetch)).toBe(`\${aws_sqs_queue.${queueIdByName.fetch}.url}`);
    expect(queueOf(inner.Process)).toBe(`\${aws_sqs_queue.${queueIdByName.process}.url}`);
    expect(queueOf(def.States.Finalize)).toBe(`\${aws_sqs_queue.${queueIdByName.process}.url}`);
    expect(inner.Fetch.Parameters.MessageBody).toEqual({ "taskToken.$": "$$.Task.Token", input: { "jobId.$": "$.jobId", "index.$": "$.index", "url.$": "$.url" } });
    expect(def.States.Finalize.Parameters.MessageBody.input).toEqual({ action: "finalize", "jobId.$": "$.jobId", "itemCount.$": "$.itemCount" });
  });

  test("nothing is admitted by throttling: no task invokes a Lambda function or retries Lambda throttling", () => {
    const { text, def } = deployedDefinition(stackName);
    expect(text).not.toContain("lambda:invoke");
    expect(text).not.toContain("TooManyRequestsException");
    for (const [name, task] of allTasks(def)) {
      expect([name, task.Resource]).not.toEqual([name, expect.stringContaining(":lambda:")]);
    }
  });

  test("worker tasks retry timeouts, the send itself and our transient errors (from the last receive) with full jitter", () => {
    const { def } = deployedDefinition(stackName);
    for (const [, task] of allTasks(def).filter(([, t]) => t.Resource === SQS_SEND_WAIT_FOR_TOKEN)) {
      const retried = task.Retry!.flatMap((r) => r.ErrorEquals);
      expect(retried).toEqual(expect.arrayContaining(["States.Timeout", "States.HeartbeatTimeout", "SQS.SdkClientException", ...ERRORS.transient]));
      expect(retried).not.toContain("States.ALL");
      for (const r of task.Retry!) {
        expect(r.JitterStrategy).toBe("FULL");
        expect(r.BackoffRate).toBeGreaterThan(1);
      }
    }
  });

  test("a task's TimeoutSeconds covers the wait in its queue and every receive; its heartbeat is shorter", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States as Record<string, TaskState>;
    const fetch = taskTiming(env.budget, "fetcher");
    const process = taskTiming(env.budget, "processor");
    expect([inner.Fetch.TimeoutSeconds, inner.Fetch.HeartbeatSeconds]).toEqual([fetch.timeoutSeconds, fetch.heartbeatSeconds]);
    expect([inner.Process.TimeoutSeconds, inner.Process.HeartbeatSeconds]).toEqual([process.timeoutSeconds, process.heartbeatSeconds]);
    expect((def.States.Finalize as TaskState).HeartbeatSeconds).toBe(process.heartbeatSeconds);
    const q = env.budget.fetcher.queue;
    expect(inner.Fetch.TimeoutSeconds!).toBeGreaterThanOrEqual(q.queueWaitSeconds + q.maxReceiveCount * q.visibilityTimeoutSeconds);
    expect(inner.Fetch.HeartbeatSeconds!).toBeLessThan(inner.Fetch.TimeoutSeconds!);
    expect(inner.Fetch.HeartbeatSeconds!).toBeGreaterThan(env.budget.fetcher.timeoutSeconds);
  });

  test("a failed item's outcome goes to S3 (written by Step Functions), not into the state; the item's output is a few bytes", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States as Record<string, TaskState>;
    for (const task of [inner.Fetch, inner.Process]) {
      expect(task.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordItemFailure" }]);
    }
    expect(inner.Process.ResultPath).toBeNull();
    expect(inner.RecordItemFailure).toMatchObject({
      Resource: "arn:aws:states:::aws-sdk:s3:putObject",
      Parameters: { "Key.$": "States.Format('jobs/{}/failures/{}.json', $.jobId, $.index)", Body: { "error.$": "$.error" } },
      ResultPath: null,
      Next: "ItemFailed",
    });
    expect(inner.ItemFailed).toMatchObject({ Type: "Pass", End: true, Parameters: { status: "failed" } });
    expect(inner.ItemSucceeded).toMatchObject({ Type: "Pass", End: true, Parameters: { status: "succeeded" } });
    expect(JSON.stringify(inner.ItemSucceeded)).not.toContain("url");
  });

  test("a Finalize that still fails has Step Functions write status.json itself, then fails the execution", () => {
    const { def } = deployedDefinition(stackName);
    expect(def.States.Finalize.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.finalizeError", Next: "RecordFinalizeFailure" }]);
    const record = def.States.RecordFinalizeFailure as TaskState;
    expect(record.Resource).toBe("arn:aws:states:::aws-sdk:s3:putObject");
    expect(record.Parameters).toMatchObject({
      "Bucket.$": "$.bucket",
      "Key.$": "States.Format('jobs/{}/status.json', $.jobId)",
      Body: { "jobId.$": "$.jobId", status: "finalize-failed", "error.$": "$.finalizeError", "itemCount.$": "$.itemCount" },
    });
    expect(JSON.stringify(record)).not.toContain("$.results");
    expect(record.Retry?.length).toBeGreaterThan(0);
    expect(record.Next).toBe("FinalizeFailed");
    expect(def.States.FinalizeFailed).toMatchObject({ Type: "Fail", Error: "FinalizeFailed" });
  });

  test("is STANDARD, logs to its own log group and traces with X-Ray", () => {
    const [[, sm]] = resources(synth.stacks[stackName], "aws_sfn_state_machine");
    expect(sm.type).toBe("STANDARD");
    expect(sm.tracing_configuration).toEqual({ enabled: true });
    expect(sm.logging_configuration.log_destination).toMatch(/^\$\{aws_cloudwatch_log_group\.[^.]+\.arn\}:\*$/);
    expect(sm.logging_configuration.level).toBe("ERROR");
  });
});

describe("Workflow construct", () => {
  const queue = (name: string) => ({
    queueUrl: FAKE_QUEUE_URL(name),
    queueArn: `arn:aws:sqs:eu-west-1:123456789012:${name}`,
    timeoutSeconds: 12_960,
    heartbeatSeconds: 4_320,
  });
  const props: WorkflowProps = {
    name: "wf",
    account: "123456789012",
    region: "eu-west-1",
    fetchQueue: queue("fetch"),
    processQueue: queue("process"),
    mapMaxConcurrency: 5,
    maxItemsPerJob: 120,
    maxUrlLength: 2048,
    logRetentionDays: 14,
    workBucketArn: "arn:aws:s3:::work",
  };
  const rolePolicies = () => {
    const out = JSON.parse(Testing.synthScope((s) => new Workflow(s, "wf", props)));
    return Object.values(out.resource.aws_iam_role_policy) as TfJson[];
  };
  /** Statements of the JSON policies (the map-run policy is a jsonencode() expression: see its own test). */
  const policies = () => rolePolicies().filter((p) => p.policy.startsWith("{")).flatMap((p) => JSON.parse(p.policy).Statement as TfJson[]);

  test("its role trusts Step Functions only for this state machine in this account", () => {
    const out = JSON.parse(Testing.synthScope((s) => new Workflow(s, "wf", props)));
    const [role] = Object.values(out.resource.aws_iam_role) as TfJson[];
    expect(JSON.parse(role.assume_role_policy).Statement).toEqual([
      {
        Effect: "Allow",
        Principal: { Service: "states.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: {
          StringEquals: { "aws:SourceAccount": "123456789012" },
          ArnLike: {
            "aws:SourceArn": [
              "arn:aws:states:eu-west-1:123456789012:stateMachine:wf",
              "arn:aws:states:eu-west-1:123456789012:stateMachine:wf/*",
              "arn:aws:states:eu-west-1:123456789012:mapRun:wf/*",
            ],
          },
        },
      },
    ]);
  });

  test("logs no execution data (URLs, tokens in query strings) unless asked to", () => {
    const logging = (p: WorkflowProps) =>
      (Object.values(JSON.parse(Testing.synthScope((s) => new Workflow(s, "wf", p))).resource.aws_sfn_state_machine)[0] as TfJson).logging_configuration;
    expect(logging(props).include_execution_data).toBe(false);
    expect(logging({ ...props, logExecutionData: true }).include_execution_data).toBe(true);
  });

  test("refuses MaxConcurrency 0, which would mean unlimited", () => {
    expect(() => Testing.synthScope((s) => new Workflow(s, "wf", { ...props, mapMaxConcurrency: 0 }))).toThrow(
      /mapMaxConcurrency \(0\) must be between 1 and 10000: 0 means unlimited/,
    );
  });

  test("refuses a log retention CloudWatch does not accept", () => {
    expect(() => Testing.synthScope((s) => new Workflow(s, "wf", { ...props, logRetentionDays: 10 }))).toThrow(/logRetentionDays \(10\) must be one of/);
  });

  test("refuses, at synth, URLs so long that a state could pass 256 KiB (rule 10)", () => {
    expect(() => Testing.synthScope((s) => new Workflow(s, "wf", { ...props, maxItemsPerJob: 1, maxUrlLength: 300_000 }))).toThrow(
      /budget rule 10: the child execution's .* can reach \d+ bytes at maxItemsPerJob 1 and maxUrlLength 300000, more than Step Functions' 262144/,
    );
  });

  test("its role sends to the two work queues only, and invokes no function", () => {
    const statements = policies();
    expect(statements.find((s) => s.Sid === "SendToWorkQueues")).toMatchObject({ Action: "sqs:SendMessage", Resource: [props.fetchQueue.queueArn, props.processQueue.queueArn] });
    expect(JSON.stringify(statements)).not.toContain("lambda:");
  });

  test("its role reads manifests and writes map results, failed items' outcomes and status.json, and no other object", () => {
    const s3 = policies().filter((s) => [s.Action].flat().some((a: string) => a.startsWith("s3:")));
    expect(Object.fromEntries(s3.map((s) => [s.Sid, s.Resource]))).toEqual({
      ReadManifests: ["arn:aws:s3:::work/jobs/*/manifest.json"],
      WriteMapRunResults: ["arn:aws:s3:::work/jobs/*/map/*"],
      RecordOutcomes: ["arn:aws:s3:::work/jobs/*/failures/*.json", "arn:aws:s3:::work/jobs/*/status.json"],
    });
  });

  test("its role may start and manage only its own child executions", () => {
    const mapRun = rolePolicies().find((p) => p.name === "wf-sfn-map-run")!.policy as string;
    const machine = /aws_sfn_state_machine\.([A-Za-z0-9_-]+)\.arn/.exec(mapRun)![1];
    expect(mapRun).toContain(`"Action" = "states:StartExecution", "Resource" = aws_sfn_state_machine.${machine}.arn}`);
    expect(mapRun).toContain(
      `"Action" = ["states:DescribeExecution", "states:StopExecution"], "Resource" = "\${replace(aws_sfn_state_machine.${machine}.arn, ":stateMachine:", ":execution:")}/*"`,
    );
    expect(mapRun.match(/"Action"/g)).toHaveLength(2);
  });
});
