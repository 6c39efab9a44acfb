/**
 * Runs in every test file, after jest installs source-map-support.
 *
 * cdktf records where each token was made: a whole stack trace captured on a
 * plain object (`captureStackTrace` in cdktf/lib/tokens/private/stack-trace.js),
 * thousands per synth, printed only when a token cannot be resolved. Under jest
 * every one of those traces went through source-map-support frame by frame,
 * reading and parsing the inline source maps of cdktf's own files: about 6 CPU
 * seconds of a run. A trace captured on anything that is not an Error keeps
 * V8's own format; errors (of any realm) are still source-mapped, so a failure
 * points at the TypeScript line.
 */
"use strict";
const mapped = Error.prepareStackTrace;
if (typeof mapped === "function") {
  Error.prepareStackTrace = function prepareStackTrace(target, frames) {
    if (Object.prototype.toString.call(target) === "[object Error]") return mapped(target, frames);
    return [String(target), ...frames.map((frame) => `    at ${frame}`)].join("\n");
  };
}
