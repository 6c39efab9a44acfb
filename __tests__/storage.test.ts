import "./helpers/cdktf-matchers";
import { TerraformOutput } from "cdktf";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { SecureBucket, SecureBucketProps, WorkBucket, WorkBucketProps, validateBucketName } from "../modules/storage";
import { KEYS } from "../contract";
import { synthInStack as synth, type Resources } from "./helpers/synth";


function synthSecure(props: Partial<SecureBucketProps> = {}): { out: string; res: Resources } {
  const out = synth((scope) => new SecureBucket(scope, "b", { bucketName: "fanout-test-bucket", ...props }));
  return { out, res: JSON.parse(out).resource };
}

function synthWork(props: Partial<WorkBucketProps> = {}): { out: string; res: Resources } {
  const out = synth(
    (scope) => new WorkBucket(scope, "w", { bucketName: "fanout-test-work", expireJobsAfterDays: 14, ...props }),
  );
  return { out, res: JSON.parse(out).resource };
}

/** The one resource of `type`, with its key. */
function only(res: Resources, type: string): [string, Record<string, any>] {
  const entries = Object.entries(res[type] ?? {});
  if (entries.length !== 1) throw new Error(`expected one ${type}, found ${entries.length}`);
  return entries[0];
}

const bucketRef = (res: Resources, attr = "id") => `\${aws_s3_bucket.${only(res, "aws_s3_bucket")[0]}.${attr}}`;

describe("SecureBucket", () => {
  test("names the bucket and neither force-destroys nor prevents destroy by default", () => {
    const { res } = synthSecure();
    const [, bucket] = only(res, "aws_s3_bucket");
    expect(bucket).toEqual({ bucket: "fanout-test-bucket", force_destroy: false });
  });

  test("versioning is enabled", () => {
    const { out, res } = synthSecure();
    expect(out).toHaveResourceWithProperties(S3BucketVersioningA, {
      bucket: bucketRef(res),
      versioning_configuration: { status: "Enabled" },
    });
  });

  test("encrypts with SSE-S3 (AES256) by default", () => {
    const { out, res } = synthSecure();
    expect(out).toHaveResourceWithProperties(S3BucketServerSideEncryptionConfigurationA, {
      bucket: bucketRef(res),
      rule: [{ apply_server_side_encryption_by_default: { sse_algorithm: "AES256" } }],
    });
  });

  test("encrypts with the given KMS key and an S3 Bucket Key when kmsKeyArn is set", () => {
    const key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const { res } = synthSecure({ kmsKeyArn: key });
    expect(only(res, "aws_s3_bucket_server_side_encryption_configuration")[1].rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: "aws:kms", kms_master_key_id: key }, bucket_key_enabled: true },
    ]);
  });

  test("blocks every kind of public access", () => {
    const { out, res } = synthSecure();
    expect(out).toHaveResourceWithProperties(S3BucketPublicAccessBlock, {
      bucket: bucketRef(res),
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
  });

  test("turns ACLs off (BucketOwnerEnforced)", () => {
    const { out, res } = synthSecure();
    expect(out).toHaveResourceWithProperties(S3BucketOwnershipControls, {
      bucket: bucketRef(res),
      rule: { object_ownership: "BucketOwnerEnforced" },
    });
  });

  test("bucket denies non-TLS requests to the bucket and its objects", () => {
    const { res } = synthSecure();
    const [, policy] = only(res, "aws_s3_bucket_policy");
    expect(policy.bucket).toBe(bucketRef(res));
    expect(JSON.parse(policy.policy)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [bucketRef(res, "arn"), `${bucketRef(res, "arn")}/*`],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ],
    });
  });

  test("the bucket policy waits for the public access block", () => {
    const { res } = synthSecure();
    const [pabKey] = only(res, "aws_s3_bucket_public_access_block");
    expect(only(res, "aws_s3_bucket_policy")[1].depends_on).toEqual([`aws_s3_bucket_public_access_block.${pabKey}`]);
  });

  test("by default the only lifecycle rule aborts incomplete multipart uploads after 1 day, bucket-wide", () => {
    const { res } = synthSecure();
    const [, lifecycle] = only(res, "aws_s3_bucket_lifecycle_configuration");
    expect(lifecycle.bucket).toBe(bucketRef(res));
    expect(lifecycle.rule).toEqual([
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: [{}],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ]);
  });

  test("lifecycle rules wait for versioning", () => {
    const { res } = synthSecure();
    const [versioningKey] = only(res, "aws_s3_bucket_versioning");
    expect(only(res, "aws_s3_bucket_lifecycle_configuration")[1].depends_on).toEqual([
      `aws_s3_bucket_versioning.${versioningKey}`,
    ]);
  });

  test("builds noncurrent-version and per-prefix expiration rules from the props, each with a filter", () => {
    const { res } = synthSecure({
      abortIncompleteMultipartUploadDays: 3,
      noncurrentVersionExpirationDays: 30,
      expireObjectsAfterDays: [
        { prefix: "tmp/", days: 2 },
        { prefix: "logs/app/", days: 90 },
      ],
    });
    const rules = only(res, "aws_s3_bucket_lifecycle_configuration")[1].rule;
    expect(rules).toEqual([
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: [{}],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 3 }],
      },
      {
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: 30 }],
        expiration: [{ expired_object_delete_marker: true }],
      },
      { id: "expire-tmp", status: "Enabled", filter: [{ prefix: "tmp/" }], expiration: [{ days: 2 }] },
      { id: "expire-logs-app", status: "Enabled", filter: [{ prefix: "logs/app/" }], expiration: [{ days: 90 }] },
    ]);
    for (const rule of rules) expect(rule.filter).toHaveLength(1);
  });

  test("preventDestroy and forceDestroy reach the bucket", () => {
    const { res } = synthSecure({ preventDestroy: true, forceDestroy: true });
    expect(only(res, "aws_s3_bucket")[1]).toMatchObject({
      force_destroy: true,
      lifecycle: { prevent_destroy: true },
    });
  });

  test("works as the Terraform state bucket: prevent_destroy and noncurrent versions kept 90 days", () => {
    const { res } = synthSecure({ bucketName: "fanout-tfstate-123456789012", preventDestroy: true, noncurrentVersionExpirationDays: 90 });
    expect(only(res, "aws_s3_bucket")[1]).toEqual({
      bucket: "fanout-tfstate-123456789012",
      force_destroy: false,
      lifecycle: { prevent_destroy: true },
    });
    const rules = only(res, "aws_s3_bucket_lifecycle_configuration")[1].rule;
    expect(rules.map((r: any) => r.id)).toEqual(["abort-incomplete-multipart-uploads", "expire-noncurrent-versions"]);
    expect(rules[1].noncurrent_version_expiration).toEqual([{ noncurrent_days: 90 }]);
  });

  test("exposes the bucket, its ARN, name and id", () => {
    let b!: SecureBucket;
    const out = synth((scope) => {
      b = new SecureBucket(scope, "b", { bucketName: "fanout-test-bucket" });
      new TerraformOutput(scope, "o", { value: { arn: b.bucketArn, name: b.bucketName, id: b.bucketId } });
    });
    const tf = JSON.parse(out);
    const key = only(tf.resource, "aws_s3_bucket")[0];
    expect(b.bucket).toBeInstanceOf(S3Bucket);
    expect(tf.output.o.value).toEqual({
      arn: `\${aws_s3_bucket.${key}.arn}`,
      name: `\${aws_s3_bucket.${key}.bucket}`,
      id: `\${aws_s3_bucket.${key}.id}`,
    });
  });

  describe("refuses an invalid bucket name", () => {
    test.each([
      ["ab", /bucket name: bucketName must be 3\.\.63 characters long \(it is 2\) \(given "ab"\)/],
      ["a".repeat(64), /bucketName must be 3\.\.63 characters long \(it is 64\)/],
      ["Fanout-Work", /bucketName may contain only lowercase letters, digits, '\.' and '-' \(given "Fanout-Work"\)/],
      ["fanout_work", /may contain only lowercase letters, digits, '\.' and '-' \(given "fanout_work"\)/],
      ["-fanout", /must begin and end with a letter or digit \(given "-fanout"\)/],
      ["fanout.", /must begin and end with a letter or digit \(given "fanout\."\)/],
      ["fanout..work", /must not contain two adjacent periods \(given "fanout\.\.work"\)/],
      ["192.168.5.4", /must not be formatted as an IP address \(given "192\.168\.5\.4"\)/],
      ["xn--fanout", /must not start with the reserved prefix "xn--" \(given "xn--fanout"\)/],
      ["sthree-fanout", /reserved prefix "sthree-"/],
      ["fanout-s3alias", /must not end with the reserved suffix "-s3alias" \(given "fanout-s3alias"\)/],
      ["fanout--ol-s3", /reserved suffix "--ol-s3"/],
    ])("%j", (name, message) => {
      expect(() => synthSecure({ bucketName: name })).toThrow(message);
    });
  });

  test.each(["abc", "fanout-work-dev", "my.bucket.name", "a".repeat(63), "123bucket"])("accepts the bucket name %j", (name) => {
    expect(() => validateBucketName(name)).not.toThrow();
  });

  test.each([
    [{ noncurrentVersionExpirationDays: 0 }, /bucket lifecycle: noncurrentVersionExpirationDays must be an integer 1\.\.36500 \(given 0\)/],
    [{ abortIncompleteMultipartUploadDays: 1.5 }, /bucket lifecycle: abortIncompleteMultipartUploadDays must be an integer 1\.\.36500 \(given 1\.5\)/],
    [{ expireObjectsAfterDays: [{ prefix: "tmp/", days: -1 }] }, /bucket lifecycle: expireObjectsAfterDays\[0\]\.days must be an integer 1\.\.36500 \(given -1\)/],
    [{ expireObjectsAfterDays: [{ prefix: "", days: 5 }] }, /bucket lifecycle: expireObjectsAfterDays\[0\]\.prefix must not be empty/],
    [
      { expireObjectsAfterDays: [{ prefix: "tmp/", days: 5 }, { prefix: "tmp/", days: 6 }] },
      /bucket lifecycle: expireObjectsAfterDays prefixes must be distinct \("tmp\/" appears twice\)/,
    ],
  ] as const)("refuses lifecycle props %j", (props, message) => {
    expect(() => synthSecure(props as Partial<SecureBucketProps>)).toThrow(message);
  });
});

describe("WorkBucket", () => {
  test("is a secure bucket with prevent_destroy", () => {
    const { res } = synthWork();
    expect(only(res, "aws_s3_bucket")[1]).toEqual({
      bucket: "fanout-test-work",
      force_destroy: false,
      lifecycle: { prevent_destroy: true },
    });
    for (const type of [
      "aws_s3_bucket_versioning",
      "aws_s3_bucket_server_side_encryption_configuration",
      "aws_s3_bucket_public_access_block",
      "aws_s3_bucket_ownership_controls",
      "aws_s3_bucket_policy",
    ]) {
      expect(only(res, type)[1].bucket).toBe(bucketRef(res));
    }
  });

  test("aborts multipart uploads after 1 day, expires noncurrent versions after 7, and jobs/ and rejected/ after expireJobsAfterDays", () => {
    const { res } = synthWork({ expireJobsAfterDays: 21 });
    expect(only(res, "aws_s3_bucket_lifecycle_configuration")[1].rule).toEqual([
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: [{}],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
      {
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: 7 }],
        expiration: [{ expired_object_delete_marker: true }],
      },
      { id: "expire-jobs", status: "Enabled", filter: [{ prefix: "jobs/" }], expiration: [{ days: 21 }] },
      { id: "expire-rejected", status: "Enabled", filter: [{ prefix: "rejected/" }], expiration: [{ days: 21 }] },
    ]);
    // Those prefixes hold every key the functions write, so nothing they write outlives its job.
    const written = [KEYS.manifest("j"), KEYS.raw("j", 0), KEYS.chunk("j", 0, 0), KEYS.result("j", 0), KEYS.failure("j", 0), `${KEYS.mapResults("j")}/manifest.json`, KEYS.status("j"), KEYS.rejected("m")];
    const expiring = ["jobs/", "rejected/"];
    for (const key of written) expect({ key, expires: expiring.some((p) => key.startsWith(p)) }).toEqual({ key, expires: true });
  });

  test("forceDestroy reaches the bucket", () => {
    expect(only(synthWork({ forceDestroy: true }).res, "aws_s3_bucket")[1].force_destroy).toBe(true);
  });

  test.each([0, 3651, 2.5])("refuses expireJobsAfterDays = %p", (days) => {
    expect(() => synthWork({ expireJobsAfterDays: days })).toThrow(
      new RegExp(`work bucket: expireJobsAfterDays must be an integer 1\\.\\.3650 \\(given ${String(days).replace(".", "\\.")}\\)`),
    );
  });

  test("refuses an invalid bucket name", () => {
    expect(() => synthWork({ bucketName: "Work_Bucket" })).toThrow(/bucket name: bucketName .*\(given "Work_Bucket"\)/);
  });
});

describe("SecureBucket access", () => {
  const statementsOf = (out: string): Record<string, unknown>[] => {
    const [policy] = Object.values(JSON.parse(out).resource.aws_s3_bucket_policy) as { policy: string }[];
    return JSON.parse(policy.policy).Statement;
  };

  test("allowOnlyPrincipals denies every request from anyone else, and refuses an empty list", () => {
    const { out } = synthSecure({ allowOnlyPrincipals: ["arn:aws:iam::123456789012:role/deploy"] });
    expect(statementsOf(out)).toContainEqual(
      expect.objectContaining({ Sid: "DenyAllButThesePrincipals", Effect: "Deny", Action: "s3:*", Condition: { ArnNotLike: { "aws:PrincipalArn": ["arn:aws:iam::123456789012:role/deploy"] } } }),
    );
    expect(() => synthSecure({ allowOnlyPrincipals: [] })).toThrow(/allowOnlyPrincipals must name at least one principal/);
  });

  test("requireEndpointFor denies those roles any request that does not come through the endpoint (added after the bucket)", () => {
    const out = synth((scope) => {
      const b = new SecureBucket(scope, "b", { bucketName: "my-bucket" });
      b.requireEndpointFor("OnlyThroughTheEndpoint", ["arn:aws:iam::123456789012:role/fetcher"], "vpce-0123");
    });
    const deny = statementsOf(out).find((st) => st.Sid === "OnlyThroughTheEndpoint");
    expect(deny).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Condition: { ArnEquals: { "aws:PrincipalArn": ["arn:aws:iam::123456789012:role/fetcher"] }, StringNotEquals: { "aws:SourceVpce": "vpce-0123" } },
    });
    expect(statementsOf(out)[0]).toMatchObject({ Sid: "DenyInsecureTransport" });
  });
});
