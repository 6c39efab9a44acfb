/**
 * Typed getters for environment variables. Each one names the variable in its
 * error, so a bad deployment fails the init with a message that says what to fix.
 * They take the environment as a parameter so tests can pass their own.
 */
import { ConfigurationError } from "./errors";

export type Env = Readonly<Record<string, string | undefined>>;

/** A required, non-empty string. */
export function stringFromEnv(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigurationError(`${name} environment variable is not set`);
  return value;
}

/** An integer in [min, max]; `fallback` when unset (required when no fallback). */
export function intFromEnv(env: Env, name: string, range: { min: number; max: number; fallback?: number }): number {
  const raw = env[name]?.trim();
  if (!raw) {
    if (range.fallback !== undefined) return range.fallback;
    throw new ConfigurationError(`${name} environment variable is not set`);
  }
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw new ConfigurationError(
      `${name} environment variable must be an integer between ${range.min} and ${range.max} (got "${raw}")`,
    );
  }
  return value;
}

/** "true" or "false" (any case); `fallback` when unset. */
export function boolFromEnv(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new ConfigurationError(`${name} environment variable must be "true" or "false" (got "${env[name]}")`);
}
