/**
 * Environment variables as zod schemas (zod/mini). Each function's config
 * module puts the variables it reads into one object schema; the init parses
 * the environment with it once, and synth parses the environment it builds
 * with the same schema (modules/function-environment.ts), so both refuse the
 * same values with the same message. The ranges are the contract's
 * (`ENV_RANGES`); no variable the stack sets has a fallback here.
 */
import * as z from "zod/mini";
import { ENV, ENV_RANGES, type IntRange } from "../../contract";
import { ConfigurationError } from "./errors";
import { parseOrigins } from "./origins";

export type Env = Readonly<Record<string, string | undefined>>;

/** The output of a function's environment schema built from `shape`. */
export type ParsedEnv<S extends z.core.$ZodShape> = z.output<z.ZodMiniObject<S>>;

/** The variable's raw value: a string, or undefined when unset. */
const raw = (name: string) => z.optional(z.string({ error: `${name} environment variable must be a string` }));

/** Records one refused variable (the message names it) and ends its parse. */
function refuse(ctx: z.core.ParsePayload, name: string, input: unknown, problem: string): never {
  ctx.issues.push({ code: "custom", message: `${name} environment variable ${problem}`, input });
  return z.NEVER;
}

/** A required, non-empty string (trimmed). */
export function requiredString(name: string) {
  return z.pipe(raw(name), z.transform((value, ctx) => value?.trim() || refuse(ctx, name, value, "is not set")));
}

/** A required integer in `range` (decimal digits only: no sign, exponent or fraction). */
export function integer(name: string, range: IntRange) {
  return z.pipe(
    raw(name),
    z.transform((value, ctx) => {
      const text = value?.trim();
      if (!text) return refuse(ctx, name, value, "is not set");
      const n = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isSafeInteger(n) && n >= range.min && n <= range.max) return n;
      return refuse(ctx, name, value, `must be an integer between ${range.min} and ${range.max} (got "${text}")`);
    }),
  );
}

/** The integer variables of `fields`, each held to its `ENV_RANGES` entry: `{ FETCH_TIMEOUT_MS: …, … }`. */
export function integers<F extends keyof typeof ENV_RANGES>(...fields: F[]): { [K in F as (typeof ENV)[K]]: ReturnType<typeof integer> } {
  return Object.fromEntries(fields.map((f) => [ENV[f], integer(ENV[f], ENV_RANGES[f])])) as { [K in F as (typeof ENV)[K]]: ReturnType<typeof integer> };
}

/** "true" or "false" (any case); undefined when unset, so the config module states the default. */
export function flag(name: string) {
  return z.pipe(
    raw(name),
    z.transform((value, ctx): boolean | undefined => {
      const text = value?.trim().toLowerCase();
      if (!text) return undefined;
      if (text === "true" || text === "false") return text === "true";
      return refuse(ctx, name, value, `must be "true" or "false" (got "${value}")`);
    }),
  );
}

/** A comma-separated `host:port` list (FETCH_ALLOW_PRIVATE); empty when unset. */
export function originList(name: string) {
  return z.pipe(
    raw(name),
    z.transform((value, ctx): ReadonlySet<string> => {
      const parsed = parseOrigins(value);
      return "refused" in parsed ? refuse(ctx, name, value, `must be a comma-separated list of host:port (got "${parsed.refused}")`) : parsed.origins;
    }),
  );
}

/** Parses `env` with a function's schema; one ConfigurationError names every refused variable. */
export function parseEnv<S extends z.core.$ZodShape>(schema: z.ZodMiniObject<S>, env: Env): ParsedEnv<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigurationError(result.error.issues.map((issue) => issue.message).join("; "));
}
