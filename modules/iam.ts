/** Small typed helpers for IAM policy documents (no data sources: plan stays offline). */

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: "Allow" | "Deny";
  readonly Action: string | string[];
  /** Required in identity and resource policies; absent only in trust policies. */
  readonly Resource?: string | string[];
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

/** A policy document as JSON; tokens inside the strings are resolved by cdktf. */
export function policyDocument(statements: readonly PolicyStatement[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

/** Trust policy letting one AWS service assume a role, on the conditions given (e.g. `aws:SourceArn`). */
export function assumeRolePolicy(service: string, condition?: PolicyStatement["Condition"]): string {
  return policyDocument([{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole", ...(condition ? { Condition: condition } : {}) }]);
}

/**
 * Allows `action` on the objects of a bucket whose keys match `keyGlobs`. The
 * globs come from the contract's `KEYS` (`KEYS.raw("*", "*")` is `jobs/*\/raw/*`),
 * so a change to the key layout is one edit, seen by the code and the grants alike.
 */
export function objectGrant(sid: string, action: string | string[], bucketArn: string, keyGlobs: readonly string[]): PolicyStatement {
  if (keyGlobs.length === 0) throw new Error(`object grant ${sid}: give at least one key glob`);
  return { Sid: sid, Effect: "Allow", Action: action, Resource: keyGlobs.map((glob) => `${bucketArn}/${glob}`) };
}

/**
 * Allows listing a bucket under the given key prefixes only: a missing key then
 * answers 404 (NoSuchKey) instead of 403, and nothing outside them is listed.
 */
export function listPrefixGrant(sid: string, bucketArn: string, prefixes: readonly string[]): PolicyStatement {
  if (prefixes.length === 0) throw new Error(`list grant ${sid}: give at least one prefix`);
  return { Sid: sid, Effect: "Allow", Action: "s3:ListBucket", Resource: bucketArn, Condition: { StringLike: { "s3:prefix": prefixes.map((p) => `${p}*`) } } };
}

/** The statement every resource policy here carries: any request not made over TLS is denied. */
export function denyInsecureTransport(action: string, resource: string | string[]): PolicyStatement {
  return { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: action, Resource: resource, Condition: { Bool: { "aws:SecureTransport": "false" } } };
}
