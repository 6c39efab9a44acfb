/**
 * Socket pools as data: each handler, loaded with the environment synth gives
 * its function, builds exactly the pools SOCKET_POOLS declares, and every
 * agent's maxSockets is what the budget planned (budget rule 6 counts from the
 * same table). Values Terraform only knows after apply (ARNs, names) are
 * stood in for; every other variable is the synthesized one.
 */
import type { Agent } from "http";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { SOCKET_POOLS } from "../contract";
import { poolSockets, plannedFds, type FunctionKey } from "../modules/config/budget";
import { projectConfig } from "../modules/config/environments";
import { APPLY_TIME_STAND_IN } from "../modules/function-environment";
import { resources, synthProject, type SynthResult } from "./helpers/synth";

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth?.cleanup());

const dev = projectConfig.environments.find((e) => e.name === "dev")!;

/** The synthesized environment of function `fn`, with after-apply references stood in for as synth's own check does. */
function synthesizedEnv(fn: FunctionKey): Record<string, string> {
  const [[, f]] = resources(synth.stacks["pipeline-dev"], "aws_lambda_function").filter(([, f]) => f.function_name.endsWith(`-${fn}`));
  const vars = f.environment.variables as Record<string, string>;
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.includes("${") ? APPLY_TIME_STAND_IN : v]));
}

/**
 * An SDK client's agents: the instances its NodeHttpHandler was given (its
 * resolved configuration keeps the https agent, and the http one behind a provider).
 */
async function clientAgents(client: S3Client | SFNClient): Promise<{ httpAgent: Agent; httpsAgent: Agent }> {
  type Resolved = { httpsAgent: Agent; httpAgentProvider: () => Promise<Agent> };
  const resolved = await (client.config.requestHandler as unknown as { configProvider: Promise<Resolved> }).configProvider;
  return { httpAgent: await resolved.httpAgentProvider(), httpsAgent: resolved.httpsAgent };
}

/** Loads `functions/<fn>/handler.ts` with `env` and returns the sockets of each pool its clients hold, in SOCKET_POOLS order. */
async function handlerPools(fn: FunctionKey, env: Record<string, string>): Promise<{ client: string; sockets: number }[]> {
  const saved = process.env;
  process.env = { ...env, AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", POWERTOOLS_LOG_LEVEL: "SILENT" };
  try {
    let deps: { s3: S3Client; sfn: SFNClient; agents?: { http: Agent; https: Agent } } | undefined;
    jest.isolateModules(() => {
      deps = require(`../functions/${fn}/handler`).deps;
    });
    if (!deps) throw new Error(`functions/${fn}/handler exports no deps`);
    const out: { client: string; sockets: number }[] = [];
    for (const [name, client] of [["S3 client", deps.s3], ["Step Functions client", deps.sfn]] as const) {
      const { httpAgent, httpsAgent } = await clientAgents(client);
      // Either agent may carry the client's traffic (https to AWS, http to a loopback endpoint): both are bounded alike.
      expect({ client: name, http: httpAgent.maxSockets }).toEqual({ client: name, http: httpsAgent.maxSockets });
      out.push({ client: name, sockets: httpsAgent.maxSockets });
    }
    if (deps.agents) {
      out.push({ client: "outbound http agent", sockets: deps.agents.http.maxSockets });
      out.push({ client: "outbound https agent", sockets: deps.agents.https.maxSockets });
    }
    return out;
  } finally {
    process.env = saved;
  }
}

describe.each(Object.keys(SOCKET_POOLS) as FunctionKey[])("the %s", (fn) => {
  test("builds every pool SOCKET_POOLS declares, each agent bounded as the budget planned", async () => {
    const planned = poolSockets(dev.budget, fn);
    const built = await handlerPools(fn, synthesizedEnv(fn));
    expect(built.map((p) => p.sockets)).toEqual(planned.map((p) => p.sockets));
    expect(built).toHaveLength(SOCKET_POOLS[fn].length);
    // Rule 6 then holds for what the code really opens.
    const sockets = built.reduce((n, p) => n + p.sockets, 0);
    expect(dev.budget.fd.baseline + sockets + dev.budget[fn].taskConcurrency * dev.budget.fd.fdsPerTask).toBe(plannedFds(dev.budget, fn));
  });
});

test("the fetcher's outbound agents follow fetchMaxSockets, not maxSockets", async () => {
  const env = { ...synthesizedEnv("fetcher"), MAX_SOCKETS: "16", FETCH_MAX_SOCKETS: "3" };
  expect((await handlerPools("fetcher", env)).map((p) => p.sockets)).toEqual([16, 16, 3, 3]);
});
