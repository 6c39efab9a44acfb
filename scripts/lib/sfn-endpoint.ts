/**
 * A loopback endpoint speaking the Step Functions JSON protocol (awsJson1_0) for
 * `StartExecution`, so the fanout's real SFN client can run against it
 * (AWS_ENDPOINT_URL_SFN). Like STANDARD workflows it dedupes by name: a name seen
 * before answers 400 `ExecutionAlreadyExists`. `onStart` lets a local runner
 * start the execution; `failNext` injects errors (throttling, 5xx) for tests.
 */
import * as http from "http";
import { listenOnLoopback } from "./listen";

export interface StartedExecution {
  readonly name: string;
  readonly stateMachineArn: string;
  readonly executionArn: string;
  /** The execution input, parsed. */
  readonly input: unknown;
}

export interface SfnEndpointOptions {
  /** Called for each new execution (not for duplicates); errors answer 500. */
  readonly onStart?: (name: string, input: unknown, execution: StartedExecution) => void | Promise<void>;
  readonly host?: string;
}

export interface SfnEndpoint {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_SFN. */
  readonly endpoint: string;
  /** New executions by name. */
  readonly executions: Map<string, StartedExecution>;
  /** StartExecution calls received (including duplicates and injected failures). */
  readonly calls: () => number;
  /** The next `count` calls answer `status` with `type` (e.g. 400 ThrottlingException, 500 InternalFailure). */
  failNext(count: number, error?: { status: number; type: string }): void;
  close(): Promise<void>;
}

export async function startSfnEndpoint(options: SfnEndpointOptions = {}): Promise<SfnEndpoint> {
  const host = options.host ?? "127.0.0.1";
  const executions = new Map<string, StartedExecution>();
  let calls = 0;
  let failures: { count: number; status: number; type: string } = { count: 0, status: 500, type: "InternalFailure" };

  const reply = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.0",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": `req-${calls}`,
    });
    res.end(text);
  };

  const handle = async (req: http.IncomingMessage, raw: string, res: http.ServerResponse) => {
    const target = req.headers["x-amz-target"];
    if (req.method !== "POST" || target !== "AWSStepFunctions.StartExecution") {
      return reply(res, 400, { __type: "UnknownOperationException", message: `unsupported: ${req.method} ${target}` });
    }
    calls++;
    if (failures.count > 0) {
      failures.count--;
      return reply(res, failures.status, { __type: failures.type, message: "injected failure" });
    }
    let request: { stateMachineArn?: string; name?: string; input?: string };
    try {
      request = JSON.parse(raw);
    } catch {
      return reply(res, 400, { __type: "SerializationException", message: "body is not JSON" });
    }
    const { stateMachineArn = "", name = "", input = "{}" } = request;
    if (!name) return reply(res, 400, { __type: "InvalidName", message: "name is required" });
    if (executions.has(name)) {
      return reply(res, 400, { __type: "ExecutionAlreadyExists", message: `Execution Already Exists: '${name}'` });
    }
    const executionArn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const execution: StartedExecution = { name, stateMachineArn, executionArn, input: JSON.parse(input) };
    executions.set(name, execution);
    try {
      await options.onStart?.(name, execution.input, execution);
    } catch (error) {
      return reply(res, 500, { __type: "InternalFailure", message: String(error) });
    }
    reply(res, 200, { executionArn, startDate: Date.now() / 1000 });
  };

  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      handle(req, raw, res).catch((error) => reply(res, 500, { __type: "InternalFailure", message: String(error) }));
    });
  });
  const { port, close } = await listenOnLoopback(server, host);
  return {
    endpoint: `http://${host}:${port}`,
    executions,
    calls: () => calls,
    failNext(count, error = { status: 500, type: "InternalFailure" }) {
      failures = { count, ...error };
    },
    close,
  };
}
