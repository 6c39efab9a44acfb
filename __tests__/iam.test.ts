/** The IAM statement builders every construct and stack shares (the synthesized policies are in policy.test.ts). */
import { KEYS } from "../contract";
import { denyInsecureTransport, listPrefixGrant, objectGrant } from "../modules/iam";

const BUCKET = "arn:aws:s3:::work";

test("an object grant covers exactly the objects matching the contract's key globs", () => {
  expect(objectGrant("ReadRaw", "s3:GetObject", BUCKET, [KEYS.raw("*", "*"), KEYS.manifest("*")])).toEqual({
    Sid: "ReadRaw",
    Effect: "Allow",
    Action: "s3:GetObject",
    Resource: [`${BUCKET}/jobs/*/raw/*`, `${BUCKET}/${KEYS.manifest("*")}`],
  });
});

test("a grant without a key glob or prefix is refused, naming the statement", () => {
  expect(() => objectGrant("WriteNothing", "s3:PutObject", BUCKET, [])).toThrow("object grant WriteNothing: give at least one key glob");
  expect(() => listPrefixGrant("ListNothing", BUCKET, [])).toThrow("list grant ListNothing: give at least one prefix");
});

test("a list grant is limited to its prefixes", () => {
  expect(listPrefixGrant("ListJobs", BUCKET, [KEYS.prefixes.jobs])).toEqual({
    Sid: "ListJobs",
    Effect: "Allow",
    Action: "s3:ListBucket",
    Resource: BUCKET,
    Condition: { StringLike: { "s3:prefix": [`${KEYS.prefixes.jobs}*`] } },
  });
});

test("the TLS-only statement denies everyone any request not made over TLS", () => {
  expect(denyInsecureTransport("sqs:*", "arn:aws:sqs:eu-west-1:123456789012:q")).toEqual({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "sqs:*",
    Resource: "arn:aws:sqs:eu-west-1:123456789012:q",
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  });
});
