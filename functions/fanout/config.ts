/** fanout configuration: its environment schema, parsed once at module scope by the handler (and at synth). */
import * as z from "zod/mini";
import { ENV } from "../../contract";
import { RUNTIME_ENV, runtimeConfig, type RuntimeConfig } from "../shared/config";
import { flag, integers, originList, parseEnv, requiredString, type Env } from "../shared/env";

export interface FanoutConfig extends RuntimeConfig {
  readonly stateMachineArn: string;
  /** Items allowed in one message (the execution input is a pointer, so this bounds the manifest, not the input). */
  readonly maxItemsPerJob: number;
  /** Longest item URL accepted, in characters (MAX_URL_LENGTH, required: the stack sets it). */
  readonly maxUrlLength: number;
  /** Accept `http:` item URLs (the fetcher must allow them too). */
  readonly allowHttp: boolean;
  /**
   * `host:port` origins exempt from the port rule, from FETCH_ALLOW_PRIVATE: the
   * same variable, and the same exemption, as the fetcher's (tests and local
   * runs only; the function construct refuses it at synth, a policy test proves
   * no stack sets it), so the fanout never accepts what the fetcher refuses.
   */
  readonly exemptOrigins: ReadonlySet<string>;
}

/** Every variable the fanout reads. */
export const FANOUT_ENV = z.object({
  ...RUNTIME_ENV,
  [ENV.stateMachineArn]: requiredString(ENV.stateMachineArn),
  ...integers("maxItemsPerJob", "maxUrlLength"),
  [ENV.allowHttp]: flag(ENV.allowHttp),
  [ENV.fetchAllowPrivate]: originList(ENV.fetchAllowPrivate),
});

export function loadFanoutConfig(env: Env = process.env): FanoutConfig {
  const e = parseEnv(FANOUT_ENV, env);
  return {
    ...runtimeConfig(e, env),
    stateMachineArn: e[ENV.stateMachineArn],
    maxItemsPerJob: e[ENV.maxItemsPerJob],
    maxUrlLength: e[ENV.maxUrlLength],
    allowHttp: e[ENV.allowHttp] ?? false,
    exemptOrigins: e[ENV.fetchAllowPrivate],
  };
}
