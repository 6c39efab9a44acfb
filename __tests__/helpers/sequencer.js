/**
 * Jest's order, with the suites marked `@slow` in their first doc comment first.
 *
 * Jest starts the suites it timed before first; on a fresh clone it has no
 * timings and goes by file size, so a minute-long suite (real Terraform, the
 * whole local pipeline) could start last and end the run alone. Marked suites
 * start at once, each on its own worker, and the short ones fill the other.
 */
"use strict";
const fs = require("fs");
const Sequencer = require("@jest/test-sequencer").default;

/** A `@slow` tag on its own line of the file's first `/** … *\/` comment. */
function isSlow(file) {
  const head = fs.readFileSync(file, "utf8").slice(0, 4096);
  const doc = head.match(/\/\*\*[\s\S]*?\*\//);
  return doc !== null && /^\s*\*\s*@slow\b/m.test(doc[0]);
}

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const ordered = super.sort(tests);
    const slow = ordered.filter((t) => isSlow(t.path));
    return [...slow, ...ordered.filter((t) => !slow.includes(t))];
  }
}

module.exports = SlowFirstSequencer;
