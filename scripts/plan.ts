/**
 * `npm run plan`: synthesize, then `terraform init`, `plan -out` and `show -json`
 * for every stack, and write the review material:
 *
 *   plan/<stack>.txt   the human plan (or the error of the step that failed)
 *   plan/<stack>.json  `terraform show -json` of the saved plan
 *   plan/summary.md    add / change / destroy / replace per stack, replaced and
 *                      destroyed resources, a warning line per protected resource lost
 *   plan/comment.md    the pull request comment (summary + collapsed plans, <= 65536 chars)
 *
 * Modes: real (AWS credentials found, or --real: the real backend and account) and
 * offline (--offline, the default without credentials: mock credentials, local
 * backend override, empty state, no refresh).
 *
 * Exit status: 0 ok; 1 a stack failed to plan (or usage/setup error); 2 a
 * protected resource would be destroyed or replaced (unless --allow-destroy, which
 * cannot override Terraform's own `prevent_destroy` refusal).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { detectAwsCredentials } from "./lib/aws-credentials";
import { mapBounded } from "../functions/shared/bounded";
import { InitQueue, planStack, type StackOutcome } from "./lib/plan-runner";
import {
  allHits,
  catalogFromConfig,
  exitStatus,
  renderComment,
  renderSummary,
  summarizeFailure,
  summarizePlan,
  warningLine,
  type Catalog,
  type PlanJson,
  type StackSummary,
} from "./lib/plan-summary";
import { ensureProviderMirror, findTerraform, missingTerraformMessage, providerMirror, OFFLINE_OVERRIDE_FILE, terraformEnv } from "./lib/terraform";

const USAGE = `usage: npm run plan -- [options]

  --offline            mock credentials + local backend (default when no AWS credentials are found)
  --real               use the real backend and AWS credentials even if none were detected
  --allow-destroy      exit 0 even when a protected resource would be destroyed or replaced
  --stack <name>       plan only this stack (repeatable; default: every stack)
  --out <dir>          where plan files go (default: plan)
  --synth-dir <dir>    where the app is synthesized (default: cdktf.out for a real plan;
                       offline: node_modules/.cache/fanout-pipeline-plan/cdktf.out, so that
                       cdktf.out never holds the offline override)
  --no-synth           plan what is already in --synth-dir (default there: cdktf.out)
  --parallel <n>       stacks planned at once (default: CPUs + 1, at most 4)
  -h, --help           this text

Exit status: 0 ok, 1 a stack failed to plan, 2 a protected resource would be destroyed or replaced.`;

/** Where offline runs synthesize by default (ignored by git with node_modules/). */
const OFFLINE_SYNTH_DIR = (root: string) => path.join(root, "node_modules", ".cache", "fanout-pipeline-plan", "cdktf.out");

/** Project root: the nearest folder above this file with a package.json (works from dist/scripts and scripts). */
function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

interface Options {
  offline: boolean;
  modeReason: string;
  allowDestroy: boolean;
  stacks: string[];
  outDir: string;
  /** Where the app is synthesized; undefined: cdktf.out for real plans, a temporary folder for offline ones. */
  synthDir: string | undefined;
  synth: boolean;
  parallel: number;
}

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function parseOptions(argv: string[], root: string): Options | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        offline: { type: "boolean" },
        real: { type: "boolean" },
        "allow-destroy": { type: "boolean" },
        stack: { type: "string", multiple: true },
        out: { type: "string" },
        "synth-dir": { type: "string" },
        "no-synth": { type: "boolean" },
        parallel: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return "help";
  if (values.offline && values.real) throw new UsageError("--offline and --real exclude each other");
  let offline: boolean;
  let modeReason: string;
  if (values.offline) {
    offline = true;
    modeReason = "--offline";
  } else if (values.real) {
    offline = false;
    modeReason = "--real";
  } else {
    const source = detectAwsCredentials();
    offline = !source;
    modeReason = source ? `AWS credentials from ${source}` : "no AWS credentials found (AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws/…); --real forces a real plan";
  }
  // Terraform waits on its provider plugin part of the time: one more than the cores keeps them busy.
  const parallel = values.parallel === undefined ? Math.min(4, (os.cpus().length || 1) + 1) : Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) throw new UsageError(`--parallel must be a positive integer (given ${values.parallel})`);
  return {
    offline,
    modeReason,
    allowDestroy: values["allow-destroy"] ?? false,
    stacks: (values.stack ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean),
    outDir: path.resolve(root, values.out ?? "plan"),
    synthDir: values["synth-dir"] === undefined ? undefined : path.resolve(root, values["synth-dir"]),
    synth: !values["no-synth"],
    parallel,
  };
}

/** `p` relative to the project when inside it, else absolute. */
function shown(root: string, p: string): string {
  const rel = path.relative(root, p);
  return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? p : rel;
}

function log(line: string): void {
  process.stderr.write(`[plan] ${line}\n`);
}

/** Stacks of a synthesized app, in manifest order: name -> working directory. */
function readManifest(synthDir: string): Map<string, string> {
  const file = path.join(synthDir, "manifest.json");
  if (!fs.existsSync(file)) throw new UsageError(`no ${file}: synthesize first (npm run synth) or drop --no-synth`);
  const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as { stacks: Record<string, { workingDirectory: string }> };
  return new Map(Object.entries(manifest.stacks).map(([name, s]) => [name, path.join(synthDir, s.workingDirectory)]));
}

function synthesize(root: string, synthDir: string): void {
  const app = path.join(root, "dist", "main.js");
  if (!fs.existsSync(app)) throw new UsageError(`no ${path.relative(root, app)}: run through \`npm run plan\` (it builds first) or \`npm run build\``);
  const started = Date.now();
  fs.mkdirSync(synthDir, { recursive: true }); // cdktf creates only the last level
  const r = spawnSync(process.execPath, [app], {
    cwd: root,
    env: { ...process.env, CDKTF_OUTDIR: synthDir, CHECKPOINT_DISABLE: "1" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error(`synth failed (node ${path.relative(root, app)} exited ${r.status ?? r.signal})`);
  log(`synth ${((Date.now() - started) / 1000).toFixed(1)} s -> ${shown(root, synthDir)}`);
}

function readCatalog(stackDir: string): Catalog | undefined {
  try {
    return catalogFromConfig(JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")));
  } catch {
    return undefined;
  }
}

function runFooter(): string | undefined {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = process.env;
  if (!GITHUB_SERVER_URL || !GITHUB_REPOSITORY || !GITHUB_RUN_ID) return undefined;
  return `<sub>From [workflow run ${GITHUB_RUN_ID}](${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}); whole plans in its \`plan\` artifact.</sub>`;
}

async function main(argv: string[]): Promise<number> {
  const root = projectRoot();
  const parsed = parseOptions(argv, root);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  const opts = parsed;
  if (!findTerraform()) {
    console.error(missingTerraformMessage());
    return 1;
  }
  const mirrorNote = ensureProviderMirror();
  const mirror = providerMirror(); // throws on a wrong TF_PROVIDER_MIRROR
  log(`mode: ${opts.offline ? "offline" : "real"} (${opts.modeReason})`);
  log(mirror ? `providers: filesystem mirror ${mirror}` : `providers: public registry (${mirrorNote})`);

  // Offline runs synthesize outside cdktf.out: their override (local backend, mock
  // keys) must never be where `cdktf deploy` looks (cdktf keeps extra files in
  // cdktf.out/stacks/*). The folder persists, so `init` reuses what it installed.
  const synthDir = opts.synthDir ?? (opts.offline && opts.synth ? OFFLINE_SYNTH_DIR(root) : path.join(root, "cdktf.out"));
  if (opts.synth) synthesize(root, synthDir);
  const all = readManifest(synthDir);
  const unknown = opts.stacks.filter((s) => !all.has(s));
  if (unknown.length > 0) throw new UsageError(`unknown stack ${unknown.join(", ")}; stacks: ${[...all.keys()].join(", ")}`);
  // The state stack first (it is deployed first), then the manifest's order.
  const selected = [...all]
    .filter(([name]) => opts.stacks.length === 0 || opts.stacks.includes(name))
    .sort(([a], [b]) => Number(b === "state") - Number(a === "state"));

  fs.mkdirSync(opts.outDir, { recursive: true });
  for (const f of ["summary.md", "comment.md", ...selected.flatMap(([s]) => [`${s}.txt`, `${s}.json`])]) {
    fs.rmSync(path.join(opts.outDir, f), { force: true });
  }

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-plan-"));
  try {
    const env = terraformEnv({ workDir, offline: opts.offline });
    if (!mirror && !env.TF_PLUGIN_CACHE_DIR) {
      // One download of the AWS provider per run instead of one per stack.
      env.TF_PLUGIN_CACHE_DIR = path.join(os.homedir(), ".terraform.d", "plugin-cache");
    }
    if (env.TF_PLUGIN_CACHE_DIR) fs.mkdirSync(env.TF_PLUGIN_CACHE_DIR, { recursive: true });

    const started = Date.now();
    const initQueue = new InitQueue();
    const outcomes: StackOutcome[] = await mapBounded(selected, opts.parallel, ([stack, dir]) =>
      planStack(stack, dir, { offline: opts.offline, env, initQueue, log }),
    );
    log(`${selected.length} stack(s) planned in ${((Date.now() - started) / 1000).toFixed(1)} s (${Math.min(opts.parallel, selected.length)} at once)`);

    let terraformVersion: string | undefined;
    const summaries: StackSummary[] = outcomes.map((o, i) => {
      const catalog = readCatalog(selected[i][1]);
      fs.writeFileSync(path.join(opts.outDir, `${o.stack}.txt`), o.text);
      if (!o.ok || !o.planJson) return summarizeFailure(o.stack, o.step, o.text, catalog);
      fs.writeFileSync(path.join(opts.outDir, `${o.stack}.json`), o.planJson);
      const plan = JSON.parse(o.planJson) as PlanJson;
      terraformVersion ??= plan.terraform_version;
      return summarizePlan(o.stack, plan, catalog);
    });

    const summary = renderSummary(summaries, {
      mode: opts.offline ? "offline" : "real",
      allowDestroy: opts.allowDestroy,
      notes: terraformVersion ? [`Terraform ${terraformVersion}, AWS provider from ${mirror ? "a filesystem mirror" : "the registry"}.`] : [],
    });
    fs.writeFileSync(path.join(opts.outDir, "summary.md"), summary);
    const comment = renderComment(
      summary,
      outcomes.map((o) => ({ stack: o.stack, text: o.text })),
      { footer: runFooter() },
    );
    fs.writeFileSync(path.join(opts.outDir, "comment.md"), comment);

    process.stdout.write(summary);
    for (const s of summaries) {
      if (s.status === "failed") {
        log(`${s.stack}: terraform ${s.failure?.step} failed: ${s.failure?.message} (see ${shown(root, path.join(opts.outDir, `${s.stack}.txt`))})`);
      }
    }
    for (const h of allHits(summaries)) process.stderr.write(`${warningLine(h)}\n`);
    log(`wrote ${shown(root, opts.outDir)}/summary.md, comment.md and <stack>.txt/.json`);
    return exitStatus(summaries, opts.allowDestroy);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
    if (opts.offline) for (const [, dir] of selected) fs.rmSync(path.join(dir, OFFLINE_OVERRIDE_FILE), { force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    if (e instanceof UsageError) {
      console.error(`plan: ${e.message}\n\n${USAGE}`);
    } else {
      console.error(`plan: ${e.message}`);
    }
    process.exitCode = 1;
  },
);
