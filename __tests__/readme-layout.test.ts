/**
 * The README's layout table against the tree, and the docs against the
 * repository's own boundary: every path the table names exists, every source
 * file is under a path the table names, and every relative link in the docs
 * resolves to a file of the repository (a clone has nothing beside it).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.join(__dirname, "..");
/** Root files every Node/cdktf project has; the table is about the project's own code. */
const ROOT_CONFIG = new Set(["README.md", "package.json", "package-lock.json", "tsconfig.json", "jest.config.js", "cdktf.json", ".gitignore"]);
/** Outside a git checkout (an unpacked archive): what .gitignore lists, and git's own folder. */
const NOT_SOURCE = new Set([".git", "node_modules", "dist", "cdktf.out", "plan", "coverage", ".terraform"]);

/** The files git would commit (tracked, or new and not ignored); a walk of the tree where there is no git. */
function sourceFiles(): string[] {
  let files: string[];
  try {
    files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    files = walk("");
  }
  return files.filter((f) => !ROOT_CONFIG.has(f) && fs.existsSync(path.join(ROOT, f)));
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (NOT_SOURCE.has(entry.name) || entry.name.startsWith("cdktf.outdir.")) continue;
    if (entry.isDirectory()) out.push(...walk(rel));
    else out.push(rel);
  }
  return out;
}

/** `a/{b,c}/d` → `a/b/d`, `a/c/d`. */
function expand(p: string): string[] {
  const m = /\{([^}]*)\}/.exec(p);
  if (!m) return [p];
  return m[1].split(",").flatMap((alt) => expand(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
}

/** The backticked paths of the layout table's first column. */
function layoutPaths(readme: string): string[] {
  const start = readme.indexOf("| path | what |");
  if (start < 0) throw new Error("README has no layout table (| path | what |)");
  const rows = readme.slice(start).split("\n").slice(2);
  const paths: string[] = [];
  for (const row of rows) {
    if (!row.startsWith("|")) break;
    const first = row.split("|")[1];
    for (const m of first.matchAll(/`([^`]+)`/g)) paths.push(...expand(m[1]));
  }
  return paths;
}

const covers = (entry: string, file: string) => (entry.endsWith("/") ? file.startsWith(entry) : file === entry);

describe("README layout table", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const paths = layoutPaths(readme);

  it("names only paths that exist", () => {
    expect(paths.length).toBeGreaterThan(10);
    expect(paths.filter((p) => !fs.existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it("covers every source file: each is a row or under a folder row", () => {
    const uncovered = sourceFiles().filter((f) => !paths.some((p) => covers(p, f)));
    expect(uncovered).toEqual([]);
  });

  it("a file the table does not name is reported (the check itself)", () => {
    expect(["bench/", "modules/iam.ts"].some((p) => covers(p, "modules/unnamed.ts"))).toBe(false);
    expect(covers("modules/workflow/", "modules/workflow/asl.ts")).toBe(true);
    expect(expand("functions/{fanout,fetcher}/")).toEqual(["functions/fanout/", "functions/fetcher/"]);
  });
});

describe("docs stay inside the repository", () => {
  const docs = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)].filter((f) => f.endsWith(".md"));

  it.each(docs)("%s: every relative link resolves to a file of the repository", (doc) => {
    const text = fs.readFileSync(path.join(ROOT, doc), "utf8");
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split("#")[0];
      if (!target || /^[a-z]+:/i.test(target)) continue; // same-page anchor, or a URL
      const resolved = path.resolve(ROOT, path.dirname(doc), target);
      if (!resolved.startsWith(ROOT + path.sep) || !fs.existsSync(resolved)) broken.push(m[1]);
    }
    expect(broken).toEqual([]);
  });
});
