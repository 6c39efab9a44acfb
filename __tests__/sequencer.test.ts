/**
 * The test order (__tests__/helpers/sequencer.js): suites tagged `@slow` in
 * their first doc comment run first, the longest (by the seconds on the tag)
 * first; the rest keep jest's own order (by size when there are no timings, as
 * on a fresh clone).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const SlowFirstSequencer = require("./helpers/sequencer.js") as new () => { sort(tests: FakeTest[]): FakeTest[] };

interface FakeTest {
  path: string;
  context: { config: { cache: boolean }; hasteFS: { getSize(p: string): number } };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sequencer-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function suite(name: string, text: string): FakeTest {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  // No timings (cache off): jest orders by file size, as on a fresh clone.
  return { path: file, context: { config: { cache: false }, hasteFS: { getSize: (p) => fs.statSync(p).size } } };
}

test("puts the @slow suites first, then jest's order by size; a @slow outside the first doc comment does not count", () => {
  const tests = [
    suite("small.test.ts", "/** A small suite. */\ntest('x', () => {});\n"),
    suite("big.test.ts", `/** A big suite. */\n${"// filler\n".repeat(300)}`),
    suite("slow.test.ts", "/**\n * Real Terraform.\n *\n * @slow (starts first)\n */\ntest('x', () => {});\n"),
    suite("late-tag.test.ts", "/** Not tagged. */\n/**\n * @slow\n */\ntest('x', () => {});\n"),
    suite("slow-big.test.ts", `/**\n * @slow\n */\n${"// filler\n".repeat(100)}`),
  ];
  const order = new SlowFirstSequencer().sort(tests).map((t) => path.basename(t.path));
  expect(order).toEqual(["slow-big.test.ts", "slow.test.ts", "big.test.ts", "late-tag.test.ts", "small.test.ts"]);
});

test("starts the @slow suites by the seconds on their tags, longest first; equal or missing seconds keep jest's order", () => {
  const tests = [
    suite("small-slow.test.ts", "/**\n * @slow 5 s alone\n */\ntest('x', () => {});\n"),
    suite("big-untimed.test.ts", `/**\n * @slow\n */\n${"// filler\n".repeat(300)}`),
    suite("longest.test.ts", "/**\n * Real Terraform.\n *\n * @slow 30 s alone (starts first)\n */\ntest('x', () => {});\n"),
    suite("mid-big.test.ts", `/**\n * @slow 12 s\n */\n${"// filler\n".repeat(200)}`),
    suite("mid-small.test.ts", "/**\n * @slow 12 s\n */\ntest('x', () => {});\n"),
    suite("plain.test.ts", "/** Not slow. */\ntest('x', () => {});\n"),
    // A number that is not a duration in seconds does not count as one.
    suite("not-seconds.test.ts", `/**\n * @slow 99 messages\n */\n${"// filler\n".repeat(50)}`),
  ];
  const order = new SlowFirstSequencer().sort(tests).map((t) => path.basename(t.path));
  expect(order).toEqual(["longest.test.ts", "mid-big.test.ts", "mid-small.test.ts", "small-slow.test.ts", "big-untimed.test.ts", "not-seconds.test.ts", "plain.test.ts"]);
});
