/**
 * The GitHub Actions workflows: valid for @action-validator/cli, third-party
 * actions pinned by commit, least permissions, no long-lived keys, and the PR
 * comment script run against a mocked GitHub API.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isScalar, parseDocument, type Document } from "yaml";
import { COMMENT_MARKER, GITHUB_COMMENT_LIMIT } from "../scripts/lib/plan-summary";
import { TERRAFORM_VERSION } from "../scripts/lib/terraform";

const root = path.resolve(__dirname, "..");
const workflowDir = path.join(root, ".github", "workflows");
const files = fs.readdirSync(workflowDir).filter((f) => /\.ya?ml$/.test(f)).sort();
const read = (f: string) => fs.readFileSync(path.join(workflowDir, f), "utf8");

const validatorCli = (() => {
  const pkgFile = require.resolve("@action-validator/cli/package.json");
  const bin = (JSON.parse(fs.readFileSync(pkgFile, "utf8")) as { bin: Record<string, string> }).bin["action-validator"];
  return path.join(path.dirname(pkgFile), bin);
})();
/** `action-validator <file>` (the npm CLI takes one file per run). */
const validate = (file: string) => spawnSync(process.execPath, [validatorCli, file], { encoding: "utf8" });

interface Step {
  readonly name?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, unknown>;
}
interface Job {
  readonly needs?: string | string[];
  readonly environment?: string;
  readonly permissions?: Record<string, string>;
  readonly steps: Step[];
}
interface Workflow {
  readonly on: Record<string, unknown>;
  readonly permissions?: unknown;
  readonly concurrency?: { group: string; "cancel-in-progress": boolean };
  readonly env?: Record<string, string>;
  readonly jobs: Record<string, Job>;
}

/** A workflow parsed as YAML (refusing a file with YAML errors), with its document for comments. */
function parse(file: string): { wf: Workflow; doc: Document } {
  const doc = parseDocument(read(file));
  if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
  return { wf: doc.toJS() as Workflow, doc };
}

const steps = (wf: Workflow) => Object.values(wf.jobs).flatMap((j) => j.steps);
const usesOf = (job: Job, action: string) => job.steps.filter((s) => s.uses?.startsWith(`${action}@`));
const runs = (job: Job) => job.steps.flatMap((s) => (s.run === undefined ? [] : [s.run.trim()]));

test("there are the pr and deploy workflows", () => {
  expect(files).toEqual(["deploy.yml", "pr.yml"]);
});

describe.each(files)("%s", (file) => {
  const text = read(file);
  const { wf, doc } = parse(file);

  test("passes @action-validator/cli", () => {
    const r = validate(path.join(workflowDir, file));
    if (r.status !== 0) throw new Error(`action-validator ${file} failed:\n${r.stdout}${r.stderr}`);
  });

  test("pins every action by a full commit SHA, with the version in a comment", () => {
    const pinned = Object.entries(wf.jobs).flatMap(([name, job]) =>
      job.steps.flatMap((_step, i) => {
        const node = doc.getIn(["jobs", name, "steps", i, "uses"], true);
        return isScalar(node) ? [{ uses: String(node.value), comment: node.comment ?? "" }] : [];
      }),
    );
    expect(pinned.length).toBe(steps(wf).filter((s) => s.uses).length);
    expect(pinned.length).toBeGreaterThan(0);
    for (const { uses, comment } of pinned) {
      expect(uses).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
      expect({ uses, comment: comment.trim() }).toEqual({ uses, comment: expect.stringMatching(/^v\d+\.\d+\.\d+$/) });
    }
  });

  test("grants nothing at the top and declares least permissions per job", () => {
    expect(wf.permissions).toEqual({});
    expect(text).not.toMatch(/write-all|read-all/);
    for (const [name, job] of Object.entries(wf.jobs)) {
      expect({ name, permissions: typeof job.permissions }).toEqual({ name, permissions: "object" });
      const p = job.permissions ?? {};
      // The OIDC token only where AWS credentials are configured, and the reverse.
      expect({ name, idToken: p["id-token"] === "write" }).toEqual({ name, idToken: usesOf(job, "aws-actions/configure-aws-credentials").length > 0 });
      // Writing to pull requests only where the comment is posted.
      expect({ name, prWrite: p["pull-requests"] === "write" }).toEqual({ name, prWrite: usesOf(job, "actions/github-script").length > 0 });
      expect({ name, contents: p.contents ?? "none" }).not.toEqual({ name, contents: "write" });
    }
  });

  test("takes AWS credentials from OIDC role assumption only: role ARN from variables, no keys", () => {
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|secrets\.AWS_/i);
    const aws = Object.values(wf.jobs).flatMap((j) => usesOf(j, "aws-actions/configure-aws-credentials"));
    for (const step of aws) {
      expect(Object.keys(step.with ?? {}).filter((k) => /key|secret|token/i.test(k))).toEqual([]);
      expect(step.with?.["role-to-assume"]).toMatch(/^\$\{\{ vars\.AWS_[A-Z_]+_ROLE_ARN \}\}$/);
    }
  });

  test("installs the Terraform version the project is tested with, without the output wrapper", () => {
    expect(wf.env?.TERRAFORM_VERSION).toBe(TERRAFORM_VERSION);
    const setups = Object.values(wf.jobs).flatMap((j) => usesOf(j, "hashicorp/setup-terraform"));
    expect(setups.length).toBeGreaterThan(0);
    for (const s of setups) expect(s.with).toMatchObject({ terraform_version: "${{ env.TERRAFORM_VERSION }}", terraform_wrapper: false });
  });

  test("checks out without persisting the token", () => {
    const checkouts = Object.values(wf.jobs).flatMap((j) => usesOf(j, "actions/checkout"));
    expect(checkouts.length).toBeGreaterThan(0);
    for (const c of checkouts) expect(c.with?.["persist-credentials"]).toBe(false);
  });
});

describe("pr.yml", () => {
  const text = read("pr.yml");
  const { wf } = parse("pr.yml");
  const j = wf.jobs;

  test("runs on pull requests: npm ci, npm test, npm run synth, then the plan of every stack", () => {
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    expect(Object.keys(j)).toEqual(["test", "plan", "comment"]);
    expect(runs(j.test)).toEqual(["npm ci", "npm test", "npm run synth"]);
    expect(j.plan.needs).toBe("test");
    const plan = runs(j.plan).find((r) => r.includes("npm run plan"));
    expect(plan).toMatch(/npm run plan -- "\$mode"/);
    expect(plan).toMatch(/mode=--real/);
  });

  test("cancels an older run of the same pull request", () => {
    expect(wf.concurrency).toEqual({ group: "pr-${{ github.event.pull_request.number }}", "cancel-in-progress": true });
  });

  test("never deploys", () => {
    expect(text).not.toMatch(/--auto-approve|cdktf deploy|terraform apply/);
  });

  describe("the comment script", () => {
    const script = String(usesOf(j.comment, "actions/github-script")[0]?.with?.script ?? "");
    const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (
      ...args: unknown[]
    ) => Promise<void>;
    const run = async (planComment: string | undefined, existing: { id: number; body: string; user: { type: string } }[]) => {
      const calls: { method: string; params: Record<string, unknown> }[] = [];
      const fakeFs = {
        readFileSync: (p: string) => {
          if (p === "plan/comment.md" && planComment !== undefined) return planComment;
          throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
        },
      };
      const record = (method: string) => async (params: Record<string, unknown>) => {
        calls.push({ method, params });
        return { data: { id: 99 } };
      };
      const github = {
        paginate: async (_fn: unknown, params: Record<string, unknown>) => {
          calls.push({ method: "listComments", params });
          return existing;
        },
        rest: { issues: { listComments: {}, updateComment: record("updateComment"), createComment: record("createComment") } },
      };
      const context = {
        serverUrl: "https://github.com",
        runId: 7,
        repo: { owner: "acme", repo: "fanout-pipeline" },
        payload: { pull_request: { number: 12 } },
      };
      const core = { info: () => undefined };
      const requireFake = (m: string) => {
        if (m !== "fs") throw new Error(`unexpected require(${m})`);
        return fakeFs;
      };
      await new AsyncFunction("require", "github", "context", "core", script)(requireFake, github, context, core);
      return calls;
    };

    test("uses the same marker as plan/comment.md", () => {
      expect(script).toContain(`const marker = "${COMMENT_MARKER}";`);
      expect(script).toContain(`const limit = ${GITHUB_COMMENT_LIMIT};`);
    });

    test("creates the comment when the pull request has none", async () => {
      const body = `${COMMENT_MARKER}\n## Terraform plan (real)\n`;
      const calls = await run(body, [{ id: 1, body: "LGTM", user: { type: "User" } }]);
      expect(calls.map((c) => c.method)).toEqual(["listComments", "createComment"]);
      expect(calls[1].params).toEqual({ owner: "acme", repo: "fanout-pipeline", issue_number: 12, body });
    });

    test("updates its own earlier comment in place", async () => {
      const calls = await run(`${COMMENT_MARKER}\nnew`, [
        { id: 1, body: `${COMMENT_MARKER}\nquoted by a human`, user: { type: "User" } },
        { id: 5, body: `${COMMENT_MARKER}\nold`, user: { type: "Bot" } },
      ]);
      expect(calls.map((c) => c.method)).toEqual(["listComments", "updateComment"]);
      expect(calls[1].params).toMatchObject({ comment_id: 5, body: `${COMMENT_MARKER}\nnew` });
    });

    test("still comments, with a link to the run, when no plan was produced, and stays under the size limit", async () => {
      let calls = await run(undefined, []);
      expect(calls[1].params.body).toMatch(/No plan was produced: see \[the workflow run\]\(https:\/\/github\.com\/acme\/fanout-pipeline\/actions\/runs\/7\)/);
      calls = await run(`${COMMENT_MARKER}\n${"x".repeat(100_000)}`, []);
      expect((calls[1].params.body as string).length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    });
  });
});

describe("deploy.yml", () => {
  const text = read("deploy.yml");
  const { wf } = parse("deploy.yml");
  const j = wf.jobs;

  test("runs on pushes to main only", () => {
    expect(wf.on).toEqual({ push: { branches: ["main"] } });
  });

  test("deploys dev first, then each environment behind its GitHub environment, one stack per job", () => {
    const names = Object.keys(j);
    expect(names[0]).toBe("dev");
    expect(names).toContain("prod");
    expect(j.dev.needs).toBeUndefined();
    expect(names).toContain(j.prod.needs);
    for (const [env, job] of Object.entries(j)) {
      // The job is named after the environment; prod's required reviewers live on the GitHub environment.
      expect(job.environment).toBe(env);
      const commands = runs(job);
      expect(commands.filter((r) => r.includes("cdktf deploy"))).toEqual([`npx cdktf deploy pipeline-${env} --auto-approve`]);
      // The plan gate runs first and fails the job on a protected destroy.
      const gate = commands.indexOf(`npm run plan -- --real --stack pipeline-${env}`);
      expect(gate).toBeGreaterThanOrEqual(0);
      expect(gate).toBeLessThan(commands.findIndex((r) => r.includes("cdktf deploy")));
    }
  });

  test("never cancels a deploy in progress", () => {
    expect(wf.concurrency).toEqual({ group: "deploy-${{ github.ref }}", "cancel-in-progress": false });
  });

  test("--auto-approve appears only here, on cdktf deploy", () => {
    const approving = steps(wf).flatMap((s) => (s.run?.includes("--auto-approve") ? [s.run.trim()] : []));
    expect(approving.length).toBe(Object.keys(j).length);
    expect(approving.every((r) => /^npx cdktf deploy pipeline-\w+ --auto-approve$/.test(r))).toBe(true);
    expect(text.split("\n").filter((l) => l.includes("--auto-approve") && !l.trim().startsWith("#")).length).toBe(approving.length);
  });
});

test("action-validator rejects a broken workflow (the check above is not vacuous)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanout-wf-"));
  try {
    const broken = path.join(dir, "broken.yml");
    fs.writeFileSync(broken, "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz:\n      - run: echo\n");
    expect(validate(broken).status).not.toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
