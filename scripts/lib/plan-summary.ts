/**
 * The plan summary a reviewer reads: per stack, what `terraform plan` would add,
 * change, destroy and replace, and a loud line for every protected resource (the
 * state bucket, the work bucket, the queues) that would be destroyed or replaced.
 *
 * Pure functions over `terraform show -json` output, the synthesized
 * `cdk.tf.json` and Terraform's error text: `npm run plan` (scripts/plan.ts)
 * runs Terraform and writes what these return.
 */

/** The part of `terraform show -json <plan>` this module reads. */
export interface PlanJson {
  readonly format_version?: string;
  readonly terraform_version?: string;
  readonly resource_changes?: readonly ResourceChange[];
  readonly errored?: boolean;
}

export type PlanAction = "no-op" | "create" | "read" | "update" | "delete" | "forget";

export interface ResourceChange {
  readonly address: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  /** Set when the change is about a deposed object (a leftover of create_before_destroy). */
  readonly deposed?: string;
  readonly action_reason?: string;
  readonly change: {
    readonly actions: readonly PlanAction[];
    /** Attribute paths that force the replacement, e.g. `[["name"]]`. */
    readonly replace_paths?: readonly (readonly (string | number)[])[];
  };
}

/** What the synthesized configuration says about one resource. */
export interface CatalogEntry {
  readonly type: string;
  /** Construct path from cdktf's metadata, e.g. `pipeline-dev/work-bucket/bucket`. */
  readonly constructPath?: string;
  /** `lifecycle.prevent_destroy` is set. */
  readonly preventDestroy: boolean;
}

/** Resources of one synthesized stack by address (`type.name`). */
export type Catalog = ReadonlyMap<string, CatalogEntry>;

/** Reads the resources of a synthesized `cdk.tf.json` (construct path, `prevent_destroy`). */
export function catalogFromConfig(cdkTfJson: unknown): Catalog {
  const catalog = new Map<string, CatalogEntry>();
  const resources = (cdkTfJson as { resource?: Record<string, Record<string, Record<string, unknown>>> })?.resource ?? {};
  for (const [type, byName] of Object.entries(resources)) {
    for (const [name, body] of Object.entries(byName ?? {})) {
      const meta = (body?.["//"] as { metadata?: { path?: string } } | undefined)?.metadata;
      const lifecycle = body?.lifecycle as { prevent_destroy?: boolean } | undefined;
      catalog.set(`${type}.${name}`, { type, constructPath: meta?.path, preventDestroy: lifecycle?.prevent_destroy === true });
    }
  }
  return catalog;
}

/**
 * Roles of the resources whose loss loses data or messages, by resource type and
 * the construct that creates them (stacks/*.ts). Every S3 bucket and SQS queue of
 * the project is one of these; any other resource with `prevent_destroy` is
 * protected too.
 */
const ROLES: readonly { readonly type: string; readonly pathSuffix: string; readonly addressPrefix: string; readonly role: string }[] = [
  { type: "aws_s3_bucket", pathSuffix: "/state-bucket/bucket", addressPrefix: "state-bucket", role: "state bucket" },
  { type: "aws_s3_bucket", pathSuffix: "/work-bucket/bucket", addressPrefix: "work-bucket", role: "work bucket" },
  { type: "aws_sqs_queue", pathSuffix: "/queue/dlq", addressPrefix: "queue_dlq", role: "dead-letter queue" },
  { type: "aws_sqs_queue", pathSuffix: "/queue/queue", addressPrefix: "queue", role: "ingest queue" },
];
const PROTECTED_TYPES: Readonly<Record<string, string>> = { aws_s3_bucket: "S3 bucket", aws_sqs_queue: "SQS queue" };

/**
 * The role of a protected resource ("work bucket", "ingest queue", …), or
 * undefined when the resource is not protected. The construct path from the
 * synthesized config decides when the resource is still configured; a resource
 * removed from the config is recognized by its type and logical id.
 */
export function protectedRole(type: string, address: string, catalog?: Catalog): string | undefined {
  const entry = catalog?.get(address);
  const path = entry?.constructPath;
  if (path) {
    const byPath = ROLES.find((r) => r.type === type && path.endsWith(r.pathSuffix));
    if (byPath) return byPath.role;
  } else {
    const name = address.slice(address.lastIndexOf(".", address.length) + 1);
    const byName = ROLES.find((r) => r.type === type && name.startsWith(`${r.addressPrefix}_`));
    if (byName) return byName.role;
  }
  if (PROTECTED_TYPES[type]) return PROTECTED_TYPES[type];
  if (entry?.preventDestroy) return "prevent_destroy";
  return undefined;
}

export type HitKind = "destroy" | "replace";

/** A protected resource the plan would destroy (or destroy to replace). */
export interface ProtectedHit {
  readonly stack: string;
  readonly address: string;
  readonly role: string;
  readonly kind: HitKind;
  /** Why: the attributes forcing a replacement, or Terraform's reason. */
  readonly reason?: string;
  /** Terraform stopped the plan on the resource's `lifecycle.prevent_destroy`. */
  readonly refused?: boolean;
}

export interface ChangedResource {
  readonly address: string;
  readonly reason?: string;
}

export interface StackSummary {
  readonly stack: string;
  /** "failed": init, plan or show did not complete; the counts are then 0 and unknown. */
  readonly status: "planned" | "failed";
  readonly add: number;
  readonly change: number;
  readonly destroy: number;
  readonly replace: number;
  readonly replaced: readonly ChangedResource[];
  readonly destroyed: readonly ChangedResource[];
  readonly protectedHits: readonly ProtectedHit[];
  /** For a failed stack: the step and the first error line. */
  readonly failure?: { readonly step: string; readonly message: string };
}

const isReplace = (a: readonly PlanAction[]) =>
  a.length === 2 && a.includes("delete") && a.includes("create");

function describeReplace(rc: ResourceChange): string | undefined {
  const paths = (rc.change.replace_paths ?? []).map((p) => p.join("."));
  if (paths.length > 0) return `${paths.join(", ")} ${paths.length === 1 ? "forces" : "force"} replacement`;
  switch (rc.action_reason) {
    case "replace_because_tainted":
      return "tainted";
    case "replace_by_request":
      return "replacement requested (-replace)";
    case "replace_by_triggers":
      return "replace_triggered_by";
    default:
      return undefined;
  }
}

function describeDelete(rc: ResourceChange): string | undefined {
  if (rc.deposed) return `deposed object ${rc.deposed}`;
  switch (rc.action_reason) {
    case "delete_because_no_resource_config":
      return "removed from the configuration";
    case "delete_because_no_module":
      return "its module was removed";
    case "delete_because_wrong_repetition":
    case "delete_because_count_index":
    case "delete_because_each_key":
      return "no longer in count / for_each";
    case "delete_because_no_move_target":
      return "moved to an address that does not exist";
    default:
      return undefined;
  }
}

/** Counts and lists the changes of one stack's plan (`terraform show -json`). */
export function summarizePlan(stack: string, plan: PlanJson, catalog?: Catalog): StackSummary {
  let add = 0;
  let change = 0;
  let destroy = 0;
  let replace = 0;
  const replaced: ChangedResource[] = [];
  const destroyed: ChangedResource[] = [];
  const protectedHits: ProtectedHit[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode !== "managed") continue;
    const actions = rc.change.actions;
    let kind: HitKind | undefined;
    let reason: string | undefined;
    if (isReplace(actions)) {
      replace++;
      kind = "replace";
      reason = describeReplace(rc);
      replaced.push({ address: rc.address, reason });
    } else if (actions.length === 1 && actions[0] === "create") {
      add++;
    } else if (actions.length === 1 && actions[0] === "update") {
      change++;
    } else if (actions.length === 1 && actions[0] === "delete") {
      destroy++;
      kind = "destroy";
      reason = describeDelete(rc);
      destroyed.push({ address: rc.address, reason });
    }
    if (kind) {
      const role = protectedRole(rc.type, rc.address, catalog);
      if (role) protectedHits.push({ stack, address: rc.address, role, kind, reason });
    }
  }
  return { stack, status: "planned", add, change, destroy, replace, replaced, destroyed, protectedHits };
}

const PREVENT_DESTROY = /Resource\s+(\S+)\s+has\s+lifecycle\.prevent_destroy\s+set/g;

/**
 * Summary of a stack whose init, plan or show failed. A plan refused because of
 * `lifecycle.prevent_destroy` yields a protected hit per refused resource: a
 * "replace" when the resource is still configured (or the plan text says
 * "must be replaced"), a "destroy" otherwise.
 */
export function summarizeFailure(stack: string, step: string, output: string, catalog?: Catalog): StackSummary {
  const protectedHits: ProtectedHit[] = [];
  const seen = new Set<string>();
  for (const m of output.matchAll(PREVENT_DESTROY)) {
    const address = m[1];
    if (seen.has(address)) continue;
    seen.add(address);
    const type = address.includes(".") ? address.slice(0, address.indexOf(".")) : address;
    const replaced =
      output.includes(`# ${address} must be replaced`) ||
      (!output.includes(`# ${address} will be destroyed`) && (catalog?.has(address) ?? false));
    protectedHits.push({
      stack,
      address,
      // A resource with prevent_destroy is protected even when its role is unknown.
      role: protectedRole(type, address, catalog) ?? "prevent_destroy",
      kind: replaced ? "replace" : "destroy",
      reason: "refused by lifecycle.prevent_destroy, Terraform stopped the plan",
      refused: true,
    });
  }
  const errorLine = output.split("\n").find((l) => /^(│\s*)?Error: /.test(l.trim()));
  const message = (errorLine ?? output.trim().split("\n").pop() ?? "failed").replace(/^│\s*/, "").trim();
  return {
    stack,
    status: "failed",
    add: 0,
    change: 0,
    destroy: 0,
    replace: 0,
    replaced: [],
    destroyed: [],
    protectedHits,
    failure: { step, message },
  };
}

/**
 * The loud line for one protected hit; always starts with
 * `⚠️ DESTROY of protected resource <address> (<role>)`.
 */
export function warningLine(hit: ProtectedHit): string {
  const how =
    hit.kind === "replace"
      ? `replaced (destroyed, then created empty)${hit.reason && !hit.refused ? `: ${hit.reason}` : ""}`
      : `destroyed${hit.reason && !hit.refused ? `: ${hit.reason}` : ""}`;
  const refused = hit.refused ? "; refused by lifecycle.prevent_destroy, Terraform stopped the plan" : "";
  return `⚠️ DESTROY of protected resource ${hit.address} (${hit.role}) in ${hit.stack}: ${how}${refused}`;
}

export interface SummaryOptions {
  /** "offline" or "real". */
  readonly mode: "offline" | "real";
  readonly allowDestroy: boolean;
  /** Extra lines under the heading (Terraform version, provider source…). */
  readonly notes?: readonly string[];
}

/** Every protected hit of every stack. */
export const allHits = (summaries: readonly StackSummary[]) => summaries.flatMap((s) => s.protectedHits);

const code = (s: string) => `\`${s}\``;

/** `plan/summary.md`: the table, the warnings, replaced and destroyed resources, failures. */
export function renderSummary(summaries: readonly StackSummary[], opts: SummaryOptions): string {
  const lines: string[] = [];
  lines.push(`## Terraform plan (${opts.mode})`, "");
  if (opts.mode === "offline") {
    lines.push(
      "Offline: mock credentials, a local backend and no refresh; with no recorded state every resource shows as a create. " +
        "This is the shape of the stacks, not a diff against AWS.",
      "",
    );
  }
  for (const n of opts.notes ?? []) lines.push(n);
  if (opts.notes?.length) lines.push("");

  lines.push("| stack | add | change | destroy | replace | result |", "| --- | ---: | ---: | ---: | ---: | --- |");
  for (const s of summaries) {
    if (s.status === "failed") {
      lines.push(`| ${code(s.stack)} | – | – | – | – | ❌ ${s.failure?.step ?? "plan"} failed |`);
      continue;
    }
    const result = s.protectedHits.length > 0 ? "⚠️ protected resource destroyed" : s.add + s.change + s.destroy + s.replace === 0 ? "no changes" : "ok";
    lines.push(`| ${code(s.stack)} | ${s.add} | ${s.change} | ${s.destroy} | ${s.replace} | ${result} |`);
  }
  lines.push("", "_replace = destroy, then create; Terraform's own `Plan:` line counts each one in both add and destroy._");

  const hits = allHits(summaries);
  if (hits.length > 0) {
    lines.push("");
    for (const h of hits) lines.push(`**${warningLine(h)}**`, "");
    if (hits.some((h) => !h.refused)) {
      lines.push(
        opts.allowDestroy
          ? "`--allow-destroy` was given: the plan command does not fail on these."
          : "The plan command exits non-zero. If this is intended, say so in the review and re-run with `--allow-destroy` (docs/operations.md).",
      );
    }
    if (hits.some((h) => h.refused)) {
      lines.push(
        "Terraform refused the plan: the resource has `lifecycle.prevent_destroy`. Only a reviewed code change that lifts it lets the plan through; `--allow-destroy` does not.",
      );
    }
  }

  const section = (title: string, pick: (s: StackSummary) => readonly ChangedResource[]) => {
    const rows = summaries.flatMap((s) => pick(s).map((r) => `- ${code(s.stack)}: ${code(r.address)}${r.reason ? ` (${r.reason})` : ""}`));
    if (rows.length > 0) lines.push("", `### ${title}`, "", ...rows);
  };
  section("Replaced", (s) => s.replaced);
  section("Destroyed", (s) => s.destroyed);

  const failed = summaries.filter((s) => s.status === "failed");
  if (failed.length > 0) {
    lines.push("", "### Failed", "");
    for (const s of failed) lines.push(`- ${code(s.stack)} (${s.failure?.step}): ${s.failure?.message}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Exit status of `npm run plan`: 2 when a protected resource would be destroyed
 * or replaced (unless `allowDestroy`; a refusal by `prevent_destroy` is a failed
 * plan either way), 1 when a stack failed, else 0.
 */
export function exitStatus(summaries: readonly StackSummary[], allowDestroy: boolean): number {
  const hits = allHits(summaries);
  if (hits.some((h) => h.refused)) return 2;
  if (hits.length > 0 && !allowDestroy) return 2;
  if (summaries.some((s) => s.status === "failed")) return 1;
  return 0;
}

/** GitHub's limit on the body of an issue or pull request comment, in characters. */
export const GITHUB_COMMENT_LIMIT = 65536;
/** First line of the plan comment; the workflow finds the comment to update by it. */
export const COMMENT_MARKER = "<!-- fanout-pipeline:plan-summary -->";

export interface StackPlanText {
  readonly stack: string;
  /** The human plan (`plan/<stack>.txt`). */
  readonly text: string;
}

/** Drops the per-resource refresh chatter of a real plan; keeps the diff. */
export function planTextForComment(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/: (Refreshing state\.\.\.|Reading\.\.\.|Read complete after)/.test(l))
    .join("\n")
    .trim();
}

/** Keeps the head and the tail (the `Plan:` line) of `text` within `budget` characters. */
export function trimMiddle(text: string, budget: number, note: (dropped: number) => string): string {
  if (text.length <= budget) return text;
  // The note's length depends on the number it prints; reserve room for the widest.
  const noteLen = note(text.length).length + 2;
  if (budget <= noteLen) return note(text.length).slice(0, Math.max(0, budget));
  const tailLen = Math.min(600, Math.floor((budget - noteLen) / 4));
  const headLen = budget - noteLen - tailLen;
  const dropped = text.length - headLen - tailLen;
  return `${text.slice(0, headLen)}\n${note(dropped)}\n${text.slice(text.length - tailLen)}`;
}

function fenceFor(text: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  return "`".repeat(longest + 1);
}

/**
 * The pull request comment: the marker, the summary, then each stack's plan in a
 * collapsed block. Plans are trimmed (head and tail kept) so the whole body fits
 * in `limit` characters; small plans are kept whole and the rest share the room.
 */
export function renderComment(
  summaryMd: string,
  plans: readonly StackPlanText[],
  opts: { limit?: number; footer?: string } = {},
): string {
  const limit = opts.limit ?? GITHUB_COMMENT_LIMIT;
  const footer = opts.footer ? `\n${opts.footer}\n` : "";
  let head = `${COMMENT_MARKER}\n${summaryMd.trim()}\n`;
  const texts = plans.map((p) => planTextForComment(p.text));
  const wrap = (stack: string, body: string) => {
    const fence = fenceFor(body);
    return `\n<details><summary>Plan of <code>${stack}</code></summary>\n\n${fence}text\n${body}\n${fence}\n</details>\n`;
  };
  const overhead = plans.reduce((n, p, i) => n + wrap(p.stack, "").length + (fenceFor(texts[i]).length - 3) * 2, 0);
  if (head.length + overhead + footer.length > limit) {
    // Pathological: the summary alone is too long. Cut it; the artifact has everything.
    const cut = `\n… summary trimmed; the full plan/summary.md is in the workflow artifact\n`;
    head = head.slice(0, Math.max(0, limit - overhead - footer.length - cut.length)) + cut;
  }
  let room = Math.max(0, limit - head.length - overhead - footer.length);
  // Water-filling: plans smaller than an equal share keep everything.
  const budgets = new Array<number>(texts.length).fill(0);
  const order = texts.map((_, i) => i).sort((a, b) => texts[a].length - texts[b].length);
  order.forEach((i, k) => {
    const share = Math.floor(room / (order.length - k));
    budgets[i] = Math.min(texts[i].length, share);
    room -= budgets[i];
  });
  const note = (stack: string) => (dropped: number) =>
    `… ${dropped} characters of the ${stack} plan trimmed to fit a GitHub comment; the whole plan is plan/${stack}.txt in the workflow artifact …`;
  const blocks = plans.map((p, i) => wrap(p.stack, trimMiddle(texts[i], budgets[i], note(p.stack))));
  return `${head}${blocks.join("")}${footer}`;
}
