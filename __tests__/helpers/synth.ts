/**
 * Shared builders for synthesized stacks, so each test file synthesizes once —
 * and the project as configured is synthesized once per test run: the first
 * suite to ask publishes its output in the run's folder, the others copy it.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { projectConfig, type EnvironmentConfig, type ProjectConfig } from "../../modules/config/environments";
import { RUN_TMP_ENV } from "./run-dir";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TfJson = Record<string, any>;

export interface SynthResult {
  readonly outdir: string;
  readonly stacks: Record<string, TfJson>;
  stackDir(name: string): string;
  cleanup(): void;
}

/**
 * Synthesizes every stack of `config` into a fresh temp folder (the caller's
 * own: it may write there). For `projectConfig` itself, a copy of this run's
 * one synth of it when a suite before made it.
 */
export function synthProject(config: ProjectConfig = projectConfig): SynthResult {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-synth-"));
  const shared = config === projectConfig && process.env[RUN_TMP_ENV] ? path.join(process.env[RUN_TMP_ENV] as string, "synth-project") : undefined;
  if (shared && fs.existsSync(shared)) {
    fs.cpSync(shared, outdir, { recursive: true });
  } else {
    // Loaded only when synthesizing (a copy needs none of the stacks' modules).
    const { buildApp } = require("../../stacks/app") as typeof import("../../stacks/app");
    buildApp(config, { outdir }).synth();
    if (shared) publish(outdir, shared);
  }
  const stacks: Record<string, TfJson> = {};
  for (const name of fs.readdirSync(path.join(outdir, "stacks"))) {
    stacks[name] = JSON.parse(fs.readFileSync(path.join(outdir, "stacks", name, "cdk.tf.json"), "utf8"));
  }
  return {
    outdir,
    stacks,
    stackDir: (name) => path.join(outdir, "stacks", name),
    cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }),
  };
}

/** Puts a finished synth where the run's other suites find it: whole, through a rename, or not at all (another suite was first). */
function publish(outdir: string, shared: string): void {
  const tmp = `${shared}.${process.pid}.tmp`;
  try {
    fs.cpSync(outdir, tmp, { recursive: true });
    fs.renameSync(tmp, shared);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The dev environment with some fields replaced (deep enough for budget tweaks). */
export function devWith(patch: (env: EnvironmentConfig) => EnvironmentConfig): EnvironmentConfig {
  const dev = projectConfig.environments.find((e) => e.name === "dev");
  if (!dev) throw new Error("no dev environment in projectConfig");
  return patch(structuredClone(dev) as EnvironmentConfig);
}

/** Resources of one type in a synthesized stack, as [logical id, config] pairs. */
export function resources(stack: TfJson, type: string): [string, TfJson][] {
  return Object.entries(stack.resource?.[type] ?? {}) as [string, TfJson][];
}

/** Every resource of a stack as [type, id, config]. */
export function allResources(stack: TfJson): [string, string, TfJson][] {
  const out: [string, string, TfJson][] = [];
  for (const [type, byId] of Object.entries(stack.resource ?? {})) {
    for (const [id, cfg] of Object.entries(byId as TfJson)) out.push([type, id, cfg as TfJson]);
  }
  return out;
}

/** Synthesizes what `build` adds to a fresh stack and returns the stack's JSON text (outdirs are removed by the global teardown). */
export function synthInStack(build: (scope: Construct) => void): string {
  const app = Testing.app();
  const stack = new TerraformStack(app, "stack");
  build(stack);
  return Testing.synth(stack);
}

/** Synthesized resources by type and logical id. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Resources = Record<string, Record<string, Record<string, any>>>;
