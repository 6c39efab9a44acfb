/**
 * The GitHub Actions workflows: valid for @action-validator/cli, third-party
 * actions pinned by commit, least permissions, no long-lived keys, and the PR
 * comment script run against a mocked GitHub API.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
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

/** The jobs of a workflow as name -> text, split on the two-space indentation under `jobs:`. */
function jobs(text: string): Record<string, string> {
  const body = text.slice(text.search(/^jobs:\s*$/m));
  const out: Record<string, string> = {};
  const parts = body.split(/^ {2}(?=[A-Za-z0-9_-]+:\s*$)/m).slice(1);
  for (const p of parts) out[p.slice(0, p.indexOf(":"))] = p;
  return out;
}

/** The block scalar after `key: |`, dedented. */
function blockScalar(text: string, key: string): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^\\s*${key}: \\|\\s*$`).test(l));
  if (start < 0) throw new Error(`no "${key}: |" block`);
  const indentOf = (l: string) => l.length - l.trimStart().length;
  const keyIndent = indentOf(lines[start]);
  const body: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() !== "" && indentOf(l) <= keyIndent) break;
    body.push(l);
  }
  const indent = Math.min(...body.filter((l) => l.trim()).map(indentOf));
  return body.map((l) => l.slice(indent)).join("\n");
}

test("there are the pr and deploy workflows", () => {
  expect(files).toEqual(["deploy.yml", "pr.yml"]);
});

describe.each(files)("%s", (file) => {
  const text = read(file);

  test("passes @action-validator/cli", () => {
    const r = validate(path.join(workflowDir, file));
    if (r.status !== 0) throw new Error(`action-validator ${file} failed:\n${r.stdout}${r.stderr}`);
  });

  test("pins every action by a full commit SHA, with the version in a comment", () => {
    const uses = [...text.matchAll(/^\s*(?:- )?uses:\s*(\S+)(.*)$/gm)];
    expect(uses.length).toBeGreaterThan(0);
    for (const [, ref, rest] of uses) {
      expect(ref).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
      expect(rest).toMatch(/^\s+# v\d+\.\d+\.\d+$/);
    }
  });

  test("grants nothing at the top and declares least permissions per job", () => {
    expect(text).toMatch(/^permissions: \{\}$/m);
    expect(text).not.toMatch(/write-all|read-all/);
    for (const [name, job] of Object.entries(jobs(text))) {
      expect({ name, permissions: /^ {4}permissions:$/m.test(job) }).toEqual({ name, permissions: true });
      // The OIDC token only where AWS credentials are configured, and the reverse.
      expect({ name, idToken: /id-token: write/.test(job) }).toEqual({ name, idToken: /configure-aws-credentials@/.test(job) });
      // Writing to pull requests only where the comment is posted.
      expect({ name, prWrite: /pull-requests: write/.test(job) }).toEqual({ name, prWrite: /github-script@/.test(job) });
      expect(job).not.toMatch(/contents: write/);
    }
  });

  test("takes AWS credentials from OIDC role assumption only: role ARN from variables, no keys", () => {
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|secrets\.AWS_/i);
    for (const m of text.matchAll(/role-to-assume:\s*(.+)$/gm)) expect(m[1]).toMatch(/^\$\{\{ vars\.AWS_[A-Z_]+_ROLE_ARN \}\}$/);
  });

  test("installs the Terraform version the project is tested with, without the output wrapper", () => {
    expect(text).toContain(`TERRAFORM_VERSION: "${TERRAFORM_VERSION}"`);
    const setups = text.split("hashicorp/setup-terraform@").slice(1);
    for (const s of setups) expect(s.slice(0, 300)).toMatch(/terraform_wrapper: false/);
  });

  test("checks out without persisting the token", () => {
    const checkouts = text.split("actions/checkout@").slice(1);
    for (const c of checkouts) expect(c.slice(0, 200)).toMatch(/persist-credentials: false/);
  });
});

describe("pr.yml", () => {
  const text = read("pr.yml");
  const j = jobs(text);

  test("runs on pull requests: npm ci, npm test, npm run synth, then the plan of every stack", () => {
    expect(text).toMatch(/^on:\n {2}pull_request:/m);
    expect(Object.keys(j)).toEqual(["test", "plan", "comment"]);
    const steps = [...j.test.matchAll(/^\s+- run: (.+)$/gm)].map((m) => m[1]);
    expect(steps).toEqual(["npm ci", "npm test", "npm run synth"]);
    expect(j.plan).toMatch(/needs: test/);
    expect(j.plan).toMatch(/npm run plan -- "\$mode"/);
    expect(j.plan).toMatch(/mode=--real/);
  });

  test("cancels an older run of the same pull request", () => {
    expect(text).toMatch(/concurrency:\n {2}group: pr-\$\{\{ github\.event\.pull_request\.number \}\}\n {2}cancel-in-progress: true/);
  });

  test("never deploys", () => {
    expect(text).not.toMatch(/--auto-approve|cdktf deploy|terraform apply/);
  });

  describe("the comment script", () => {
    const script = blockScalar(j.comment, "script");
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
  const j = jobs(text);

  test("runs on pushes to main only", () => {
    expect(text).toMatch(/^on:\n {2}push:\n {4}branches: \[main\]\n\n/m);
  });

  test("deploys dev first, then each environment behind its GitHub environment, one stack per job", () => {
    const names = Object.keys(j);
    expect(names[0]).toBe("dev");
    expect(names).toContain("prod");
    expect(j.dev).not.toMatch(/^ {4}needs:/m);
    expect(j.prod).toMatch(/^ {4}needs: \w+$/m);
    for (const [env, job] of Object.entries(j)) {
      // The job is named after the environment; prod's required reviewers live on the GitHub environment.
      expect(job).toMatch(new RegExp(`^ {4}environment: ${env}$`, "m"));
      const deploys = [...job.matchAll(/cdktf deploy (.+)$/gm)].map((m) => m[1]);
      expect(deploys).toEqual([`pipeline-${env} --auto-approve`]);
      // The plan gate runs first and fails the job on a protected destroy.
      expect(job.indexOf(`npm run plan -- --real --stack pipeline-${env}`)).toBeGreaterThan(0);
      expect(job.indexOf("npm run plan")).toBeLessThan(job.indexOf("cdktf deploy"));
    }
  });

  test("never cancels a deploy in progress", () => {
    expect(text).toMatch(/concurrency:\n {2}group: deploy-\$\{\{ github\.ref \}\}\n {2}cancel-in-progress: false/);
  });

  test("--auto-approve appears only here, on cdktf deploy", () => {
    const lines = text.split("\n").filter((l) => l.includes("--auto-approve") && !l.trim().startsWith("#"));
    expect(lines.every((l) => /cdktf deploy pipeline-\w+ --auto-approve$/.test(l))).toBe(true);
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
