import { ENV_RANGES, type IntRange } from "../../contract";
import type { EnvironmentConfig, ProjectConfig } from "./environments";
import { BudgetError, sharedAccountViolations, validateBudget } from "./budget";

/** Throws an error naming the environment, the field and the value when a setting is out of range. */
export function validateEnvironment(env: EnvironmentConfig): void {
  const where = `environment "${env.name}"`;
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  const int = (field: string, value: number, { min, max }: IntRange) => {
    if (!Number.isInteger(value) || value < min || value > max) fail(`${field} (${value}) must be an integer between ${min} and ${max}`);
  };
  if (!/^[a-z][a-z0-9]{0,11}$/.test(env.name)) fail(`name must be 1..12 lowercase letters and digits, starting with a letter (got "${env.name}")`);
  if (!/^\d{12}$/.test(env.account)) fail(`account must be a 12-digit AWS account id (got "${env.account}")`);
  if (env.availabilityZones.length < 2) fail(`availabilityZones needs at least 2 zones (got ${env.availabilityZones.length})`);
  if (new Set(env.availabilityZones).size !== env.availabilityZones.length) fail(`availabilityZones has duplicates (${env.availabilityZones.join(", ")})`);
  for (const az of env.availabilityZones) {
    if (!az.startsWith(env.region)) fail(`availability zone "${az}" is not in region ${env.region}`);
  }
  // Both become the fanout's variables: the variables' own ranges (contract ENV_RANGES).
  int("maxItemsPerJob", env.maxItemsPerJob, ENV_RANGES.maxItemsPerJob);
  int("maxUrlLength", env.maxUrlLength, ENV_RANGES.maxUrlLength);
  int("expireJobsAfterDays", env.expireJobsAfterDays, { min: 1, max: 3650 });
  // fetch.* and processor.chunk* become environment variables too: PipelineFunction
  // parses them with the function's own environment schema at synth
  // (modules/function-environment.ts), so there is one range, and one message.
  try {
    validateBudget(env.budget);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** Validates every environment and the rules that span them (distinct names, buckets and CIDRs). */
export function validateProject(config: ProjectConfig): void {
  const names = config.environments.map((e) => e.name);
  const dupName = names.find((n, i) => names.indexOf(n) !== i);
  if (dupName) throw new Error(`environment name "${dupName}" is used twice`);
  const buckets = [config.state.bucketName, ...config.environments.map((e) => e.workBucketName)];
  const dupBucket = buckets.find((b, i) => buckets.indexOf(b) !== i);
  if (dupBucket) {
    throw new Error(`bucket "${dupBucket}" is used twice: the state bucket and every work bucket must be distinct`);
  }
  const principals = config.state.terraformPrincipals;
  if (principals.length === 0) throw new Error("state.terraformPrincipals must name at least one role or user that runs Terraform");
  for (const p of principals) {
    if (!/^arn:aws[a-z-]*:iam::(\d{12}|\*):(role|user|assumed-role)\/.+$/.test(p)) {
      throw new Error(`state.terraformPrincipals: "${p}" is not an IAM role or user ARN (pattern arn:aws:iam::<account>:role/<name>)`);
    }
  }
  config.environments.forEach(validateEnvironment);
  const shared = sharedAccountViolations(config.environments);
  if (shared.length > 0) throw new BudgetError(shared);
}
