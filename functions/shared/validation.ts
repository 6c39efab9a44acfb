/**
 * zod in the functions is the `zod/mini` build, imported as a namespace in each
 * module (`import * as z from "zod/mini"`; never re-exported, or the bundler keeps
 * all of it): it tree-shakes to about 30 KB, where classic `zod` adds about 440 KB.
 * Importing this module switches on the English messages, once.
 */
import { config } from "zod/mini";
import type { $ZodIssue } from "zod/v4/core";
import { en } from "zod/locales";

config(en());

/** `path: message; path: message` for logs, errors and rejected records. */
export function describeIssues(issues: readonly $ZodIssue[], root = "(input)"): string {
  return issues.map((i) => `${i.path.length ? i.path.join(".") : root}: ${i.message}`).join("; ");
}
