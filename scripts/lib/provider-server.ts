/**
 * One AWS provider process for a stack's `terraform plan` and `show`.
 *
 * Each `plan` and `show` starts the provider afresh (two or three times for a
 * plan), asks it for its whole schema and first hashes its 700 MB binary against
 * the lock file: CPU time that has nothing to do with the stack (sharing one
 * process took `npm run plan --offline` from 49 to 26 CPU-seconds for three
 * stacks, on 2 cores). Terraform's own reattach protocol
 * (`TF_REATTACH_PROVIDERS`, what provider debuggers use) lets the commands
 * share one process instead: started here with `-debug` from the package
 * `terraform init` installed and checked against the lock file, given to each
 * command, ended when the stack is done.
 * The plan is the same binary's plan; stacks keep a process each, so no two
 * stacks' provider configurations meet in one process.
 */
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION } from "./terraform";

/** The SDK's trace logs (megabytes a plan) are not read by anyone here. */
const QUIET_LOGS = { TF_LOG_PROVIDER: "off", TF_LOG_SDK: "off", TF_LOG_SDK_PROTO: "off", TF_LOG_SDK_MUX: "off", TF_LOG_SDK_FRAMEWORK: "off", TF_LOG_SDK_HELPER_SCHEMA: "off" };

export interface ProviderServer {
  /** The value for `TF_REATTACH_PROVIDERS`. */
  readonly reattach: string;
  /** Ends the process; resolves when it has exited. */
  close(): Promise<void>;
}

/** Terraform's name for this machine's platform (`linux_amd64`). */
export function terraformPlatform(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string {
  const arches: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "386", arm: "arm" };
  return `${platform === "win32" ? "windows" : platform}_${arches[arch] ?? arch}`;
}

/** The provider binary `terraform init` installed into `stackDir`, or undefined when there is none. */
export function installedProvider(stackDir: string, platform = terraformPlatform()): string | undefined {
  const dir = path.join(stackDir, ".terraform", "providers", AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION, platform);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const binary = names.find((n) => n.startsWith("terraform-provider-aws"));
  return binary ? path.join(dir, binary) : undefined;
}

/** The `TF_REATTACH_PROVIDERS='…'` line a provider prints once it serves, parsed and checked. */
export function parseReattachLine(output: string): string | undefined {
  const m = output.match(/TF_REATTACH_PROVIDERS='([^'\n]+)'/);
  if (!m) return undefined;
  try {
    const value = JSON.parse(m[1]) as Record<string, { Addr?: { String?: unknown } }>;
    return typeof value[AWS_PROVIDER_ADDRESS]?.Addr?.String === "string" ? m[1] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `binary -debug` and resolves once it prints where it serves. Rejects,
 * with the provider's own output, when it exits first or says nothing in
 * `timeoutMs`; the caller then lets Terraform start the provider as usual.
 */
export function startProviderServer(binary: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<ProviderServer> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(binary, ["-debug"], { env: { ...env, ...QUIET_LOGS }, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    let output = "";
    let settled = false;
    // Rejects once the process is gone (reaped, not a zombie), unless it never started.
    const fail = (why: string, started = true) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      const error = new Error(`${path.basename(binary)} -debug ${why}${output.trim() ? `:\n${output.trim().slice(-2000)}` : ""}`);
      if (started) void exited.then(() => reject(error));
      else reject(error);
    };
    const timer = setTimeout(() => fail(`printed no TF_REATTACH_PROVIDERS line in ${timeoutMs} ms`), timeoutMs);
    const read = (chunk: Buffer) => {
      if (settled) return;
      output += chunk.toString("utf8");
      const reattach = parseReattachLine(output);
      if (!reattach) return;
      settled = true;
      clearTimeout(timer);
      output = "";
      resolve({
        reattach,
        close: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout?.on("data", read);
    // After start-up the provider's stderr is only the logs turned off above; keep the pipe drained.
    child.stderr?.on("data", (c: Buffer) => (settled ? undefined : (output += c.toString("utf8"))));
    child.once("error", (e) => fail(`could not start: ${e.message}`, child.pid !== undefined));
    child.once("exit", (code, signal) => fail(`exited (${code ?? signal}) before serving`));
  });
}
