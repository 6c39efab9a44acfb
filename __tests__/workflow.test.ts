import aslValidator from "asl-validator";
import { Testing } from "cdktf";
import { ERRORS } from "../functions/shared/contract";
import { projectConfig } from "../modules/config/environments";
import type { MapState, TaskState } from "../modules/workflow/asl";
import { LAMBDA_TRANSIENT_ERRORS } from "../modules/workflow/definition";
import { Workflow, type WorkflowProps } from "../modules/workflow/workflow";
import { resources, synthProject, type SynthResult, type TfJson } from "./helpers/synth";

const FAKE_ARN = (name: string) => `arn:aws:lambda:eu-west-1:123456789012:function:${name}`;

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth.cleanup());

/** The definition exactly as Terraform would send it, with the function ARN references filled in. */
function deployedDefinition(stackName: string): { text: string; def: TfJson } {
  const [[, sm]] = resources(synth.stacks[stackName], "aws_sfn_state_machine");
  const text = (sm.definition as string).replace(/\$\{aws_lambda_function\.([^.]+)\.arn\}/g, (_, id) => FAKE_ARN(id));
  return { text, def: JSON.parse(text) };
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

  test("maps over the items with the budget's finite MaxConcurrency, then finalizes", () => {
    const { def } = deployedDefinition(stackName);
    const map = def.States[def.StartAt] as MapState;
    expect(map.Type).toBe("Map");
    expect(map.ItemsPath).toBe("$.items");
    expect(map.MaxConcurrency).toBe(env.budget.map.maxConcurrency);
    expect(map.Next).toBe("Finalize");
    expect(def.States.Finalize.End).toBe(true);
    expect(def.States.Finalize.Parameters.Payload).toEqual({ action: "finalize", "jobId.$": "$.jobId", "items.$": "$.results" });
  });

  test("each task retries throttling, Lambda service errors, timeouts and our transient errors with full jitter", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States;
    for (const task of [inner.Fetch, inner.Process, def.States.Finalize] as TaskState[]) {
      const retried = task.Retry!.flatMap((r) => r.ErrorEquals);
      expect(retried).toEqual(expect.arrayContaining([...LAMBDA_TRANSIENT_ERRORS, "States.Timeout", ...ERRORS.transient]));
      for (const r of task.Retry!) {
        expect(r.JitterStrategy).toBe("FULL");
        expect(r.BackoffRate).toBeGreaterThan(1);
        expect(r.MaxAttempts).toBeGreaterThan(1);
      }
      expect(retried).not.toContain("States.ALL");
    }
  });

  test("throttling, expected under a burst, is retried longest", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States;
    for (const task of [inner.Fetch, inner.Process, def.States.Finalize] as TaskState[]) {
      const throttle = task.Retry!.find((r) => r.ErrorEquals.includes("Lambda.TooManyRequestsException"))!;
      expect(throttle.MaxAttempts).toBeGreaterThanOrEqual(10);
      expect(Math.max(...task.Retry!.filter((r) => r !== throttle).map((r) => r.MaxAttempts ?? 3))).toBeLessThan(throttle.MaxAttempts!);
    }
  });

  test("an item that still fails is caught and recorded as failed, so the job still finalizes", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States;
    for (const task of [inner.Fetch, inner.Process] as TaskState[]) {
      expect(task.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "ItemFailed" }]);
    }
    expect(inner.ItemFailed).toMatchObject({ Type: "Pass", End: true, Parameters: { status: "failed", "error.$": "$.error.Error" } });
    expect(inner.ItemSucceeded).toMatchObject({ Type: "Pass", End: true, Parameters: { status: "succeeded" } });
  });

  test("a Finalize that still fails has Step Functions write status.json itself, then fails the execution", () => {
    const { def } = deployedDefinition(stackName);
    expect(def.States.Finalize.Catch).toEqual([{ ErrorEquals: ["States.ALL"], ResultPath: "$.finalizeError", Next: "RecordFinalizeFailure" }]);
    const record = def.States.RecordFinalizeFailure as TaskState;
    expect(record.Resource).toBe("arn:aws:states:::aws-sdk:s3:putObject");
    expect(record.Parameters).toMatchObject({
      "Bucket.$": "$.bucket",
      "Key.$": "States.Format('jobs/{}/status.json', $.jobId)",
      Body: { "jobId.$": "$.jobId", status: "finalize-failed", "error.$": "$.finalizeError.Error", "items.$": "$.results" },
    });
    expect(record.Retry?.length).toBeGreaterThan(0);
    expect(record.Next).toBe("FinalizeFailed");
    expect(def.States.FinalizeFailed).toMatchObject({ Type: "Fail", Error: "FinalizeFailed" });
  });

  test("timeouts nest: each state's TimeoutSeconds exceeds its function's timeout", () => {
    const { def } = deployedDefinition(stackName);
    const inner = (def.States.FetchAndProcess as MapState).ItemProcessor.States;
    expect((inner.Fetch as TaskState).TimeoutSeconds).toBe(env.budget.fetcher.stateTimeoutSeconds);
    expect((inner.Fetch as TaskState).TimeoutSeconds!).toBeGreaterThan(env.budget.fetcher.timeoutSeconds);
    expect((inner.Process as TaskState).TimeoutSeconds!).toBeGreaterThan(env.budget.processor.timeoutSeconds);
    expect((def.States.Finalize as TaskState).TimeoutSeconds!).toBeGreaterThan(env.budget.processor.timeoutSeconds);
  });

  test("Fetch calls the fetcher and Process and Finalize call the processor", () => {
    const [[, sm]] = resources(synth.stacks[stackName], "aws_sfn_state_machine");
    const fnIdByName = Object.fromEntries(
      resources(synth.stacks[stackName], "aws_lambda_function").map(([id, f]) => [f.function_name.split("-").pop(), id]),
    );
    const def = JSON.parse(sm.definition);
    const inner = def.States.FetchAndProcess.ItemProcessor.States;
    expect(inner.Fetch.Parameters.FunctionName).toBe(`\${aws_lambda_function.${fnIdByName.fetcher}.arn}`);
    expect(inner.Process.Parameters.FunctionName).toBe(`\${aws_lambda_function.${fnIdByName.processor}.arn}`);
    expect(def.States.Finalize.Parameters.FunctionName).toBe(`\${aws_lambda_function.${fnIdByName.processor}.arn}`);
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
  const props: WorkflowProps = {
    name: "wf",
    fetcherArn: FAKE_ARN("f"),
    processorArn: FAKE_ARN("p"),
    mapMaxConcurrency: 5,
    fetchTimeoutSeconds: 150,
    processTimeoutSeconds: 330,
    logRetentionDays: 14,
    workBucketArn: "arn:aws:s3:::work",
  };

  test("refuses MaxConcurrency 0, which would mean unlimited", () => {
    expect(() => Testing.synthScope((s) => new Workflow(s, "wf", { ...props, mapMaxConcurrency: 0 }))).toThrow(
      /mapMaxConcurrency \(0\) must be between 1 and 40: 0 means unlimited/,
    );
  });

  test("refuses a log retention CloudWatch does not accept", () => {
    expect(() => Testing.synthScope((s) => new Workflow(s, "wf", { ...props, logRetentionDays: 10 }))).toThrow(/logRetentionDays \(10\) must be one of/);
  });

  test("its role may write a job's status.json in the work bucket and no other object", () => {
    const out = JSON.parse(Testing.synthScope((s) => new Workflow(s, "wf", props)));
    const [pol] = Object.values(out.resource.aws_iam_role_policy) as TfJson[];
    const s3 = JSON.parse(pol.policy).Statement.filter((s: TfJson) => String(s.Action).startsWith("s3:"));
    expect(s3).toEqual([expect.objectContaining({ Action: "s3:PutObject", Resource: "arn:aws:s3:::work/jobs/*/status.json" })]);
  });

  test("its role may invoke the two task functions and nothing else", () => {
    const out = JSON.parse(Testing.synthScope((s) => new Workflow(s, "wf", props)));
    const [pol] = Object.values(out.resource.aws_iam_role_policy) as TfJson[];
    const invoke = JSON.parse(pol.policy).Statement.find((s: TfJson) => s.Action === "lambda:InvokeFunction");
    expect(invoke.Resource).toEqual([FAKE_ARN("f"), `${FAKE_ARN("f")}:*`, FAKE_ARN("p"), `${FAKE_ARN("p")}:*`]);
  });
});
