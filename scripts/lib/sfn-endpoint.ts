/**
 * A loopback endpoint speaking the Step Functions JSON protocol (awsJson1_0),
 * so the functions' real SFN clients run against it (AWS_ENDPOINT_URL_SFN). It
 * answers as AWS does, not more kindly:
 *
 * - `StartExecution` is idempotent by name *and* input, as for STANDARD
 *   workflows: the same name and the same input while that execution is running
 *   answers 200 with the same executionArn (counted in `duplicateStarts()`); a
 *   name that exists with another input, or whose execution has closed, answers
 *   400 `ExecutionAlreadyExists`. An execution runs until `closeExecution(name)`,
 *   unless the `isRunning` option answers for it. Inputs that are not JSON or
 *   exceed 256 KiB answer 400 `InvalidExecutionInput`.
 * - `SendTaskSuccess` / `SendTaskFailure` / `SendTaskHeartbeat` for tokens a
 *   test or runner registered (`registerTask`): an open token calls its handler
 *   (success and failure close it) and answers 200 `{}`; a registered token that
 *   is closed answers 400 `TaskTimedOut`; an unknown one 400 `InvalidToken`; an
 *   output that is not JSON 400 `InvalidOutput`; fields over the API's length
 *   limits 400 `ValidationException`.
 *
 * `onStart` lets a local runner start the execution; `failNext` injects errors
 * (throttling, 5xx) for tests.
 */
import * as http from "http";
import { listenOnLoopback } from "./listen";

/** The API's length limits (characters). */
const LIMITS = { name: 80, input: 256 * 1024, output: 256 * 1024, error: 256, cause: 32_768, taskToken: 2048 } as const;

export interface StartedExecution {
  readonly name: string;
  readonly stateMachineArn: string;
  readonly executionArn: string;
  /** The execution input, parsed. */
  readonly input: unknown;
  /** The execution input as it was sent (AWS compares this text for idempotency). */
  readonly rawInput: string;
  /** Seconds since the epoch, as StartExecution answers it. */
  readonly startDate: number;
}

export interface SfnEndpointOptions {
  /** Called for each new execution (not for duplicates); errors answer 500. */
  readonly onStart?: (name: string, input: unknown, execution: StartedExecution) => void | Promise<void>;
  /**
   * Whether the named execution is still running (decides idempotent StartExecution).
   * @default running until `closeExecution(name)`
   */
  readonly isRunning?: (name: string) => boolean;
  readonly host?: string;
}

/** What a registered task token does when a worker answers it. */
export interface TaskHandlers {
  success?(output: string): void | Promise<void>;
  failure?(error: string, cause: string): void | Promise<void>;
  heartbeat?(): void | Promise<void>;
}

export interface TaskCalls {
  /** SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat calls received (whatever the answer). */
  readonly success: number;
  readonly failure: number;
  readonly heartbeat: number;
  /** Calls answered 400 TaskTimedOut (the token was registered and is closed). */
  readonly closed: number;
  /** Calls answered 400 InvalidToken (the token was never registered). */
  readonly invalid: number;
}

export type SfnOperation = "StartExecution" | "SendTaskSuccess" | "SendTaskFailure" | "SendTaskHeartbeat";

export interface SfnEndpoint {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_SFN. */
  readonly endpoint: string;
  /** New executions by name. */
  readonly executions: Map<string, StartedExecution>;
  /** StartExecution calls received (including duplicates and injected failures). */
  readonly calls: () => number;
  /** StartExecution calls answered 200 for an execution that already ran under that name and input. */
  readonly duplicateStarts: () => number;
  /** The next `count` calls of `operation` answer `status` with `type` (e.g. 400 ThrottlingException, 500 InternalFailure). */
  failNext(count: number, error?: { status: number; type: string }, operation?: SfnOperation): void;
  /** Marks an execution closed: a StartExecution with its name then answers ExecutionAlreadyExists. */
  closeExecution(name: string): void;
  /** Registers a task token; answers to it call `handlers`. */
  registerTask(token: string, handlers: TaskHandlers): void;
  /** Closes a token (as a timeout would): answers to it get TaskTimedOut. */
  closeTask(token: string): void;
  taskCalls(): TaskCalls;
  close(): Promise<void>;
}

interface Task {
  readonly handlers: TaskHandlers;
  open: boolean;
}

type Reply = { status: number; body: unknown };

const error = (status: number, type: string, message: string): Reply => ({ status, body: { __type: type, message } });
const TASK_TIMED_OUT = error(400, "TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'");

export async function startSfnEndpoint(options: SfnEndpointOptions = {}): Promise<SfnEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const executions = new Map<string, StartedExecution>();
  const closedExecutions = new Set<string>();
  const isRunning = options.isRunning ?? ((name: string) => !closedExecutions.has(name));
  const tasks = new Map<string, Task>();
  const taskCalls = { success: 0, failure: 0, heartbeat: 0, closed: 0, invalid: 0 };
  let calls = 0;
  let duplicateStarts = 0;
  let requests = 0;
  const failures = new Map<SfnOperation, { count: number; status: number; type: string }>();

  const injected = (operation: SfnOperation): Reply | undefined => {
    const failure = failures.get(operation);
    if (!failure || failure.count <= 0) return undefined;
    failure.count--;
    return error(failure.status, failure.type, "injected failure");
  };

  const startExecution = async (request: Record<string, unknown>): Promise<Reply> => {
    calls++;
    const failure = injected("StartExecution");
    if (failure) return failure;
    const stateMachineArn = typeof request.stateMachineArn === "string" ? request.stateMachineArn : "";
    const name = typeof request.name === "string" ? request.name : "";
    const rawInput = typeof request.input === "string" ? request.input : "{}";
    if (!name || name.length > LIMITS.name) return error(400, "InvalidName", `Invalid Name: '${name}'`);
    if (rawInput.length > LIMITS.input) {
      return error(400, "InvalidExecutionInput", `Invalid Execution Input: input of ${rawInput.length} characters exceeds the limit of ${LIMITS.input}`);
    }
    let input: unknown;
    try {
      input = JSON.parse(rawInput);
    } catch {
      return error(400, "InvalidExecutionInput", "Invalid Execution Input: the input is not valid JSON");
    }
    const existing = executions.get(name);
    if (existing) {
      // Idempotent only while running, and only for the same input.
      if (existing.rawInput === rawInput && existing.stateMachineArn === stateMachineArn && isRunning(name)) {
        duplicateStarts++;
        return { status: 200, body: { executionArn: existing.executionArn, startDate: existing.startDate } };
      }
      return error(400, "ExecutionAlreadyExists", `Execution Already Exists: '${existing.executionArn}'`);
    }
    const executionArn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const execution: StartedExecution = { name, stateMachineArn, executionArn, input, rawInput, startDate: Date.now() / 1000 };
    executions.set(name, execution);
    try {
      await options.onStart?.(name, execution.input, execution);
    } catch (e) {
      return error(500, "InternalFailure", String(e));
    }
    return { status: 200, body: { executionArn, startDate: execution.startDate } };
  };

  const taskOperation = async (operation: Exclude<SfnOperation, "StartExecution">, request: Record<string, unknown>): Promise<Reply> => {
    const kind = operation === "SendTaskSuccess" ? "success" : operation === "SendTaskFailure" ? "failure" : "heartbeat";
    taskCalls[kind]++;
    const failure = injected(operation);
    if (failure) return failure;
    const token = request.taskToken;
    if (typeof token !== "string" || token.length < 1 || token.length > LIMITS.taskToken) {
      return error(400, "ValidationException", "1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and 2048");
    }
    const task = tasks.get(token);
    if (!task) {
      taskCalls.invalid++;
      return error(400, "InvalidToken", "Invalid Token: 'Invalid token'");
    }
    if (!task.open) {
      taskCalls.closed++;
      return TASK_TIMED_OUT;
    }
    if (kind === "heartbeat") {
      await task.handlers.heartbeat?.();
      return { status: 200, body: {} };
    }
    if (kind === "success") {
      const output = request.output;
      if (typeof output !== "string") return error(400, "ValidationException", "1 validation error detected: Value at 'output' failed to satisfy constraint: Member must not be null");
      if (output.length > LIMITS.output) {
        return error(400, "ValidationException", `1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to ${LIMITS.output}`);
      }
      try {
        JSON.parse(output);
      } catch {
        return error(400, "InvalidOutput", "Invalid Output: the output is not valid JSON");
      }
      task.open = false;
      await task.handlers.success?.(output);
      return { status: 200, body: {} };
    }
    const taskError = typeof request.error === "string" ? request.error : "";
    const cause = typeof request.cause === "string" ? request.cause : "";
    for (const [field, value, max] of [["error", taskError, LIMITS.error], ["cause", cause, LIMITS.cause]] as const) {
      if (value.length > max) {
        return error(400, "ValidationException", `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
      }
    }
    task.open = false;
    await task.handlers.failure?.(taskError, cause);
    return { status: 200, body: {} };
  };

  const handle = async (req: http.IncomingMessage, raw: string): Promise<Reply> => {
    const target = String(req.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("AWSStepFunctions.") ? (target.slice("AWSStepFunctions.".length) as SfnOperation) : undefined;
    const known: readonly string[] = ["StartExecution", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"];
    if (req.method !== "POST" || !operation || !known.includes(operation)) {
      return error(400, "UnknownOperationException", `unsupported: ${req.method} ${target}`);
    }
    let request: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      request = parsed as Record<string, unknown>;
    } catch {
      if (operation === "StartExecution") calls++;
      return error(400, "SerializationException", "body is not a JSON object");
    }
    if (operation === "StartExecution") return startExecution(request);
    return taskOperation(operation, request);
  };

  const send = (res: http.ServerResponse, { status, body }: Reply) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.0",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": `req-${++requests}`,
    });
    res.end(text);
  };

  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      handle(req, raw).then(
        (reply) => send(res, reply),
        (e: unknown) => send(res, error(500, "InternalFailure", String(e))),
      );
    });
  });
  const { port, close } = await listenOnLoopback(server, host);
  return {
    endpoint: `http://${host}:${port}`,
    executions,
    calls: () => calls,
    duplicateStarts: () => duplicateStarts,
    failNext(count, failure = { status: 500, type: "InternalFailure" }, operation = "StartExecution") {
      failures.set(operation, { count, ...failure });
    },
    closeExecution(name) {
      closedExecutions.add(name);
    },
    registerTask(token, handlers) {
      tasks.set(token, { handlers, open: true });
    },
    closeTask(token) {
      const task = tasks.get(token);
      if (task) task.open = false;
      else tasks.set(token, { handlers: {}, open: false });
    },
    taskCalls: () => ({ ...taskCalls }),
    close,
  };
}
