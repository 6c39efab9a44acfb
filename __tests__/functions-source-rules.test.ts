/**
 * Rules over the function sources (docs/design.md, runtime rules): SDK
 * clients are constructed only in functions/shared/clients.ts, and its factories
 * are called only at a handler's module scope (parsed with the TypeScript
 * compiler, not grepped), never per invocation; no Promise.all fans out over anything — bounded
 * work goes through functions/shared/bounded.ts — and task tokens are answered
 * only by the one work-queue consumer (functions/shared/task-worker.ts).
 */
import * as fs from "fs";
import * as path from "path";
import { parseSync } from "@swc/core";

const ROOT = path.join(__dirname, "..", "functions");
/** swc's node types that open a function body (a call inside one runs per invocation, not once per environment). */
const FUNCTION_LIKE = new Set([
  "FunctionDeclaration",
  "FunctionExpression",
  "ArrowFunctionExpression",
  "ClassMethod",
  "PrivateMethod",
  "Constructor",
  "MethodProperty",
  "GetterProperty",
  "SetterProperty",
]);

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

const files = sources(ROOT).map((file) => ({ file: path.relative(ROOT, file), code: fs.readFileSync(file, "utf8") }));

/** `file:line: text` of every line matching `pattern`. */
function hits(pattern: RegExp, except: string[] = []): string[] {
  return files
    .filter(({ file }) => !except.includes(file))
    .flatMap(({ file, code }) =>
      code.split("\n").flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
}

describe("function source rules", () => {
  test("finds the three handlers and the shared runtime", () => {
    const names = files.map((f) => f.file);
    expect(names).toEqual(expect.arrayContaining(["fanout/handler.ts", "fetcher/handler.ts", "processor/handler.ts", "shared/clients.ts"]));
  });

  test("constructs S3 and SFN clients only in shared/clients.ts", () => {
    expect(hits(/new\s+(S3Client|SFNClient)\s*\(/, [path.join("shared", "clients.ts")])).toEqual([]);
    expect(hits(/new\s+(S3Client|SFNClient)\s*\(/)).toHaveLength(2);
  });

  test("calls the client and agent factories only at a handler's module scope, never inside a function (one set per execution environment)", () => {
    const factories = new Set(["s3Client", "sfnClient", "createFetchAgents"]);
    const calls: { file: string; name: string; moduleScope: boolean }[] = [];
    for (const { file, code } of files) {
      // The module's syntax tree (swc's parser, which the tests' transform already uses).
      const visit = (node: unknown, insideFunction: boolean): void => {
        if (Array.isArray(node)) return node.forEach((child) => visit(child, insideFunction));
        if (node === null || typeof node !== "object") return;
        const n = node as { type?: string; callee?: { type?: string; value?: string } };
        if (n.type === "CallExpression" && n.callee?.type === "Identifier" && factories.has(n.callee.value ?? "")) {
          calls.push({ file, name: n.callee.value as string, moduleScope: !insideFunction });
        }
        const inside = insideFunction || FUNCTION_LIKE.has(n.type ?? "");
        for (const [key, child] of Object.entries(node)) if (key !== "span") visit(child, inside);
      };
      visit(parseSync(code, { syntax: "typescript" }), false);
    }
    // Each handler builds its clients once; nothing else calls the factories.
    expect(calls.filter((c) => c.moduleScope === false)).toEqual([]);
    expect([...new Set(calls.map((c) => c.file))].sort()).toEqual(["fanout/handler.ts", "fetcher/handler.ts", "processor/handler.ts"]);
    expect(calls.filter((c) => c.name === "createFetchAgents").map((c) => c.file)).toEqual(["fetcher/handler.ts"]);
  });

  test("builds http(s).Agent instances only in shared/clients.ts and the fetcher's agent factory", () => {
    expect(hits(/new\s+(https?\.)?Agent\s*\(/, [path.join("shared", "clients.ts"), path.join("fetcher", "fetch.ts")])).toEqual([]);
  });

  test("uses no Promise.all / allSettled / any anywhere (fan-out goes through the bounded helper)", () => {
    expect(hits(/Promise\.(all|allSettled|any)\s*\(/)).toEqual([]);
  });

  test("the fetcher does not use the global fetch (it needs its own agents and guarded lookup)", () => {
    expect(hits(/(^|[^.\w])fetch\s*\(/)).toEqual([]);
  });

  test("answers task tokens (SendTask*) only in shared/task-worker.ts", () => {
    expect(hits(/SendTask(Success|Failure|Heartbeat)Command/, [path.join("shared", "task-worker.ts")])).toEqual([]);
    expect(hits(/new SendTask(Success|Failure|Heartbeat)Command/)).toHaveLength(3);
  });

  test("the fetcher and processor handlers consume their work queues through handleTaskBatch", () => {
    for (const name of ["fetcher/handler.ts", "processor/handler.ts"]) {
      const code = files.find((f) => f.file === name)?.code ?? "";
      expect({ name, usesWorker: /handleTaskBatch\(event, deps,/.test(code) }).toEqual({ name, usesWorker: true });
    }
  });
});
