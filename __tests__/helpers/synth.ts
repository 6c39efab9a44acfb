/** Shared builders for synthesized stacks, so each test file synthesizes once. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { projectConfig, type EnvironmentConfig, type ProjectConfig } from "../../modules/config/environments";
import { buildApp } from "../../stacks/app";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TfJson = Record<string, any>;

export interface SynthResult {
  readonly outdir: string;
  readonly stacks: Record<string, TfJson>;
  stackDir(name: string): string;
  cleanup(): void;
}

/** Synthesizes every stack of `config` into a fresh temp folder. */
export function synthProject(config: ProjectConfig = projectConfig): SynthResult {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-synth-"));
  buildApp(config, { outdir }).synth();
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
