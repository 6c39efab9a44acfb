/**
 * A function's environment, checked at synth by the function's own
 * configuration loader — its environment schema, the code its init runs — so
 * synth refuses exactly what the init would, with the init's message naming
 * every refused variable. Values
 * Terraform resolves at apply (tokens: ARNs, bucket names) stand in as
 * placeholders: the loaders only require them to be set.
 */
import { Token } from "cdktf";
import { ConfigurationError } from "../functions/shared/errors";
import type { Env } from "../functions/shared/env";
import { loadFanoutConfig } from "../functions/fanout/config";
import { loadFetcherConfig } from "../functions/fetcher/config";
import { loadProcessorConfig } from "../functions/processor/config";
import type { FunctionName } from "./bundle";

const LOADERS: Record<FunctionName, (env: Env) => unknown> = {
  fanout: loadFanoutConfig,
  fetcher: loadFetcherConfig,
  processor: loadProcessorConfig,
};

/** Stand-in for a value Terraform resolves at apply. */
export const APPLY_TIME_STAND_IN = "resolved-at-apply";

/**
 * The message the function's init would fail with on `variables`, or
 * undefined when it would start. Throws what is not a configuration error (a bug).
 */
export function initError(source: FunctionName, variables: Readonly<Record<string, string>>): string | undefined {
  const env = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, Token.isUnresolved(v) ? APPLY_TIME_STAND_IN : v]));
  try {
    LOADERS[source](env);
    return undefined;
  } catch (error) {
    if (error instanceof ConfigurationError) return error.message;
    throw error;
  }
}
