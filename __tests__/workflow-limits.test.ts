import { SFN_MAX_HISTORY_EVENTS, SFN_MAX_PAYLOAD_BYTES, QUEUE_MAX_MESSAGE_BYTES } from "../contract";
import type { StateMachineDefinition } from "../modules/workflow/asl";
import { buildDefinition, type DefinitionProps } from "../modules/workflow/definition";
import { HISTORY_EVENTS, maxHistoryEvents } from "../modules/workflow/history";
import { largestMessageBytes, payloadBounds, workflowLimitViolations } from "../modules/workflow/limits";

const queue = { queueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/q", timeoutSeconds: 12_960, heartbeatSeconds: 4_320 };
const props: DefinitionProps = { fetchQueue: queue, processQueue: queue, mapMaxConcurrency: 20 };
const definition = buildDefinition(props);

describe("budget rule 10: state payloads", () => {
  test("every state of the definition stays far under 256 KiB at 120 items of 2,048-character URLs", () => {
    const bounds = payloadBounds({ maxItemsPerJob: 120, maxUrlLength: 2048 });
    const largest = Math.max(...bounds.map((b) => b.bytes));
    // Two error causes of 32 KiB each (a failed map run, then a failed Finalize) are the largest part.
    expect(largest).toBeLessThan(SFN_MAX_PAYLOAD_BYTES / 2);
    expect(workflowLimitViolations({ definition, maxItemsPerJob: 120, maxUrlLength: 2048 })).toEqual([]);
  });

  test("the bound does not grow with the item count: the items live in S3", () => {
    const at = (n: number) => Math.max(...payloadBounds({ maxItemsPerJob: n, maxUrlLength: 2048 }).map((b) => b.bytes));
    // Only the digits of an index and a count grow.
    expect(at(1_000_000) - at(10)).toBeLessThan(40);
  });

  test("refuses URLs long enough for a child's state to pass 256 KiB, naming the state, the fields and the limit", () => {
    const violations = workflowLimitViolations({ definition, maxItemsPerJob: 1, maxUrlLength: 240_000 });
    expect(violations).toEqual([
      expect.stringMatching(/^budget rule 10: the child execution's (Fetch|RecordItemFailure|Process) .* can reach \d+ bytes at maxItemsPerJob 1 and maxUrlLength 240000, more than Step Functions' 262144$/),
    ]);
  });
});

describe("one job's message must fit in one message of the ingest queue", () => {
  test("126 items of 2,048 characters fit in 256 KiB; 128 do not", () => {
    expect(largestMessageBytes(126, 2048)).toBeLessThanOrEqual(QUEUE_MAX_MESSAGE_BYTES);
    expect(largestMessageBytes(128, 2048)).toBeGreaterThan(QUEUE_MAX_MESSAGE_BYTES);
  });

  test("counts a message as JSON.stringify writes it", () => {
    const body = JSON.stringify({ jobId: "x".repeat(64), items: Array.from({ length: 3 }, () => ({ url: "u".repeat(10) })) });
    expect(largestMessageBytes(3, 10)).toBe(Buffer.byteLength(body));
  });

  test("refuses maxItemsPerJob x maxUrlLength that cannot travel in one message, naming both", () => {
    expect(workflowLimitViolations({ definition, maxItemsPerJob: 1000, maxUrlLength: 2048 })).toEqual([
      expect.stringMatching(/^budget rule range: a message of maxItemsPerJob \(1000\) items with URLs of maxUrlLength \(2048\) is \d+ bytes, more than the ingest queue accepts \(262144\)$/),
    ]);
  });
});

describe("budget rule 11: history events", () => {
  test("counts a two-state machine as AWS does: execution, each state's entered/exited, each task attempt", () => {
    const machine: StateMachineDefinition = {
      StartAt: "T",
      States: {
        T: { Type: "Task", Resource: "arn:aws:states:::sqs:sendMessage.waitForTaskToken", Retry: [{ ErrorEquals: ["X"], MaxAttempts: 2 }], Next: "P" },
        P: { Type: "Pass", End: true },
      },
    };
    const expected = HISTORY_EVENTS.execution + (HISTORY_EVENTS.state + 3 * HISTORY_EVENTS.callbackTaskAttempt) + HISTORY_EVENTS.state;
    expect(maxHistoryEvents(machine)).toBe(expected);
    expect(expected).toBe(2 + 14 + 2);
  });

  test("takes the longest path, Catch transitions included", () => {
    const machine: StateMachineDefinition = {
      StartAt: "T",
      States: {
        T: { Type: "Task", Resource: "arn:aws:states:::aws-sdk:s3:putObject", Catch: [{ ErrorEquals: ["States.ALL"], Next: "Long" }], Next: "Done" },
        Long: { Type: "Task", Resource: "arn:aws:states:::aws-sdk:s3:putObject", Retry: [{ ErrorEquals: ["States.ALL"], MaxAttempts: 10 }], Next: "Done" },
        Done: { Type: "Pass", End: true },
      },
    };
    expect(maxHistoryEvents(machine)).toBe(2 + (2 + 3) + (2 + 11 * 3) + 2);
  });

  test("parent and child of the pipeline's definition stay far under 25,000", () => {
    expect(maxHistoryEvents(definition)).toBeLessThan(200);
    expect(maxHistoryEvents(definition.States.FetchAndProcess.Type === "Map" ? definition.States.FetchAndProcess.ItemProcessor : definition)).toBeLessThan(200);
  });

  test("refuses a definition whose retries could pass 25,000 events, naming the execution", () => {
    const wild: StateMachineDefinition = {
      ...definition,
      States: {
        ...definition.States,
        Finalize: { ...(definition.States.Finalize as object), Retry: [{ ErrorEquals: ["States.Timeout"], MaxAttempts: 7000 }] } as unknown as StateMachineDefinition["States"][string],
      },
    };
    expect(workflowLimitViolations({ definition: wild, maxItemsPerJob: 120, maxUrlLength: 2048 })).toEqual([
      expect.stringMatching(new RegExp(`^budget rule 11: the parent execution can record \\d+ history events with every retrier at its MaxAttempts, more than Step Functions' ${SFN_MAX_HISTORY_EVENTS}$`)),
    ]);
  });

  test("refuses to bound a machine with a loop", () => {
    const loop: StateMachineDefinition = { StartAt: "A", States: { A: { Type: "Pass", Next: "B" }, B: { Type: "Pass", Next: "A" } } };
    expect(() => maxHistoryEvents(loop)).toThrow(/state "A" is part of a loop/);
  });
});
