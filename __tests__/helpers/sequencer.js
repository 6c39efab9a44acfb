/**
 * Jest's order, with the suites marked `@slow` in their first doc comment first,
 * the longest of them first.
 *
 * Jest starts the suites it timed before first; on a fresh clone it has no
 * timings and goes by file size, so a minute-long suite (real Terraform, the
 * whole local pipeline) could start last and end the run alone. Marked suites
 * start at once, and the short ones fill the workers after them. The tag may
 * say how long the suite takes alone (`@slow 30 s`): the two longest then start
 * together at the beginning, one on each worker, instead of one of them
 * waiting behind a shorter slow suite. A tag without seconds counts as 0.
 */
"use strict";
const fs = require("fs");
const Sequencer = require("@jest/test-sequencer").default;

/** The seconds of a `@slow` tag on its own line of the file's first `/** … *\/` comment (0 without a number), or undefined. */
function slowSeconds(file) {
  const head = fs.readFileSync(file, "utf8").slice(0, 4096);
  const doc = head.match(/\/\*\*[\s\S]*?\*\//);
  const tag = doc && doc[0].match(/^\s*\*\s*@slow\b(?:\s+(\d+(?:\.\d+)?)\s*s\b)?/m);
  return tag ? Number(tag[1] ?? 0) : undefined;
}

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    const ordered = super.sort(tests);
    const seconds = new Map(ordered.map((t) => [t, slowSeconds(t.path)]));
    // Array.prototype.sort is stable: equal estimates keep jest's order.
    const slow = ordered.filter((t) => seconds.get(t) !== undefined).sort((a, b) => seconds.get(b) - seconds.get(a));
    return [...slow, ...ordered.filter((t) => seconds.get(t) === undefined)];
  }
}

module.exports = SlowFirstSequencer;
