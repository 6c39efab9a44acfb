/**
 * Running Terraform on synthesized stacks, offline or for real.
 *
 * Offline mode (no AWS account): providers come from a filesystem mirror
 * (`TF_PROVIDER_MIRROR`), an override file swaps the S3 backend for a local one
 * and gives the provider mock credentials with every AWS lookup skipped.
 * Used by the offline Terraform tests and by `npm run plan`.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** The Terraform version this project is tested with (S3 `use_lockfile` needs >= 1.10). */
export const TERRAFORM_VERSION = "1.11.4";
/** The AWS provider version `@cdktf/provider-aws` 20.1.0 is generated for. */
export const AWS_PROVIDER_VERSION = "5.100.0";
/** The AWS provider's registry address: its folder in a mirror or under `.terraform/providers`, and the key of `TF_REATTACH_PROVIDERS`. */
export const AWS_PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws";
/** Environment variable naming a filesystem mirror that holds the AWS provider. */
export const MIRROR_ENV = "TF_PROVIDER_MIRROR";
/** Name of the override file written into a stack folder for offline runs. */
export const OFFLINE_OVERRIDE_FILE = "zz_offline_override.tf.json";

/** Path of the `terraform` binary on PATH (or `TERRAFORM_BIN`), or undefined when there is none. */
export function findTerraform(): string | undefined {
  const explicit = process.env.TERRAFORM_BIN;
  if (explicit) return fs.existsSync(explicit) ? explicit : undefined;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, "terraform");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The one-line error for a machine without Terraform. */
export function missingTerraformMessage(): string {
  return `terraform not found on PATH: install Terraform ${TERRAFORM_VERSION} (>= 1.10 for S3 use_lockfile) or set TERRAFORM_BIN`;
}

/**
 * The provider mirror from `TF_PROVIDER_MIRROR`, checked to hold the pinned AWS
 * provider. Returns undefined when the variable is unset; throws when it names a
 * folder without the provider (a wrong setting should not silently go online).
 */
export function providerMirror(): string | undefined {
  const mirror = process.env[MIRROR_ENV];
  if (!mirror) return undefined;
  const providerDir = path.join(mirror, AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION);
  if (!fs.existsSync(providerDir)) {
    throw new Error(`${MIRROR_ENV}=${mirror} does not hold the AWS provider ${AWS_PROVIDER_VERSION} (no ${providerDir})`);
  }
  return mirror;
}

/**
 * When `TF_PROVIDER_MIRROR` is unset, searches the disk for a filesystem mirror
 * holding the pinned AWS provider and sets the variable to it (so child processes
 * inherit it). Found by searching, never by a fixed path. Returns a line saying
 * what was done, for the caller's log.
 */
export function ensureProviderMirror(): string {
  if (process.env[MIRROR_ENV]) return `${MIRROR_ENV}=${process.env[MIRROR_ENV]}`;
  // One disk search per checkout: the answer is kept beside the installed packages.
  const cached = readCachedMirror();
  if (cached) {
    process.env[MIRROR_ENV] = cached;
    return `${MIRROR_ENV} unset; using the provider mirror found before (${MIRROR_CACHE_FILE}): ${cached}`;
  }
  // Not into the kernel's folders, package trees, git objects or stack working
  // folders (.terraform holds an installed copy, not a mirror): a tenth of the time.
  const prune = ["/proc", "/sys", "/dev"].flatMap((p) => ["-path", p, "-o"]).concat(["-name", "node_modules", "-o", "-name", ".git", "-o", "-name", ".terraform"]);
  const r = spawnSync(
    "find",
    ["/", "-maxdepth", "8", "(", ...prune, ")", "-prune", "-o", "-type", "d", "-path", `*/${AWS_PROVIDER_ADDRESS}/${AWS_PROVIDER_VERSION}`, "-print"],
    // find exits non-zero on unreadable folders but still prints what it found.
    { encoding: "utf8", timeout: 15_000, stdio: ["ignore", "pipe", "ignore"] },
  );
  const hit = (r.stdout ?? "").split("\n").find(Boolean);
  if (!hit) return `${MIRROR_ENV} unset and no mirror found: providers come from the public registry`;
  process.env[MIRROR_ENV] = path.resolve(hit, "..", "..", "..", "..");
  try {
    fs.mkdirSync(path.dirname(MIRROR_CACHE_FILE), { recursive: true });
    fs.writeFileSync(MIRROR_CACHE_FILE, process.env[MIRROR_ENV]);
  } catch {
    // a read-only checkout searches again next time
  }
  return `${MIRROR_ENV} unset; using the provider mirror found at ${process.env[MIRROR_ENV]}`;
}

/** Where `ensureProviderMirror` remembers the mirror it found (inside node_modules: never committed, gone with `npm ci`). */
export const MIRROR_CACHE_FILE = path.join(projectRoot(), "node_modules", ".cache", "fanout-pipeline", "provider-mirror");

/** The folder holding package.json, from here (scripts/lib) or the compiled copy (dist/scripts/lib). */
function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** The remembered mirror, if it still holds the pinned provider. */
function readCachedMirror(): string | undefined {
  try {
    const dir = fs.readFileSync(MIRROR_CACHE_FILE, "utf8").trim();
    return fs.existsSync(path.join(dir, AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes a Terraform CLI config that installs the AWS provider from `mirror`
 * (and nothing from the network) into `dir`; returns its path, for
 * `TF_CLI_CONFIG_FILE`. Without a mirror the config is empty: the public registry.
 */
export function writeCliConfig(dir: string, mirror: string | undefined): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "terraformrc");
  const body = mirror
    ? `provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(mirror)}
    include = ["${AWS_PROVIDER_ADDRESS}"]
  }
  direct {
    exclude = ["${AWS_PROVIDER_ADDRESS}"]
  }
}
`
    : "";
  fs.writeFileSync(file, body);
  return file;
}

/**
 * The override that makes a stack plannable without AWS: a local backend in
 * place of S3, and a provider that never asks AWS who it is.
 */
export function offlineOverride(): object {
  return {
    terraform: { backend: { local: { path: "offline.tfstate" } } },
    provider: {
      aws: {
        access_key: "mock-access-key",
        secret_key: "mock-secret-key",
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: true,
        skip_region_validation: true,
      },
    },
  };
}

export interface TerraformRunOptions {
  /** Folder holding the CLI config (one per run, outside the stack folder). */
  readonly workDir: string;
  /** Offline: mirror + override + mock credentials. */
  readonly offline: boolean;
}

export interface TerraformResult {
  readonly ok: boolean;
  /** Exit code (128 when ended by a signal). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout then stderr, for messages. */
  readonly output: string;
}

/** Terraform's environment for a run: our CLI config, no telemetry, no prompts; offline drops real credentials. */
export function terraformEnv(opts: TerraformRunOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TF_CLI_CONFIG_FILE: writeCliConfig(opts.workDir, providerMirror()),
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    CHECKPOINT_DISABLE: "1",
  };
  if (opts.offline) {
    for (const k of ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
    env.AWS_EC2_METADATA_DISABLED = "true";
  }
  return env;
}

/** Prepares a stack folder for an offline run (writes the override file). */
export function prepareOffline(stackDir: string): void {
  fs.writeFileSync(path.join(stackDir, OFFLINE_OVERRIDE_FILE), JSON.stringify(offlineOverride(), null, 2));
}

/**
 * Runs one terraform command in `stackDir` without a shell and without blocking
 * the event loop (stacks run side by side); resolves on exit, never rejects on a
 * failing command.
 */
export function terraformAsync(stackDir: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<TerraformResult> {
  const bin = findTerraform();
  if (!bin) return Promise.reject(new Error(missingTerraformMessage()));
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: stackDir, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      const exit = code ?? (signal ? 128 : 1);
      resolve({ ok: exit === 0, code: exit, stdout, stderr, output: stdout + stderr });
    });
  });
}

