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
