import { Lazy, Token } from "cdktf";
import { KEYS } from "../contract";
import { denyInsecureTransport, policyDocument, type PolicyStatement } from "./iam";
import { Construct } from "constructs";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import {
  S3BucketLifecycleConfiguration,
  S3BucketLifecycleConfigurationRule,
} from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";

/** One expiration rule: current objects under `prefix` expire `days` after creation. */
export interface ExpireObjectsRule {
  /** Key prefix the rule applies to, e.g. `jobs/`; non-empty (a whole-bucket expiry is refused). */
  readonly prefix: string;
  /** Days after creation, 1..36500. */
  readonly days: number;
}

export interface SecureBucketProps {
  /**
   * Bucket name, checked against the S3 naming rules: 3..63 characters of
   * lowercase letters, digits, `.` and `-`, starting and ending with a letter or
   * digit, no `..`, not an IP address, no reserved prefix or suffix.
   */
  readonly bucketName: string;
  /**
   * Let `terraform destroy` delete a bucket that still holds objects.
   * @default false
   */
  readonly forceDestroy?: boolean;
  /**
   * Set Terraform's `lifecycle { prevent_destroy = true }` on the bucket, so a
   * plan that would delete it fails.
   * @default false
   */
  readonly preventDestroy?: boolean;
  /**
   * KMS key for default encryption (`aws:kms`, with an S3 Bucket Key). KMS keys
   * and requests are billed, so this is opt-in.
   * @default undefined (SSE-S3, `AES256`)
   */
  readonly kmsKeyArn?: string;
  /**
   * Days after which noncurrent object versions are deleted, 1..36500; the same
   * rule removes delete markers left with no versions behind them.
   * @default undefined (noncurrent versions are kept forever)
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Expiration rules for current objects, one per prefix (distinct prefixes).
   * @default [] (nothing expires)
   */
  readonly expireObjectsAfterDays?: readonly ExpireObjectsRule[];
  /**
   * Days after which incomplete multipart uploads anywhere in the bucket are
   * aborted (their parts are billed until then), 1..36500.
   * @default 1
   */
  readonly abortIncompleteMultipartUploadDays?: number;
  /**
   * Principals (IAM ARN patterns) that may use the bucket at all: the policy
   * denies everyone else. Include the identity that applies Terraform, or it
   * locks itself out. At least one when given.
   * @default undefined (IAM decides)
   */
  readonly allowOnlyPrincipals?: readonly string[];
}

const MAX_LIFECYCLE_DAYS = 36500;
const RESERVED_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/**
 * Checks `name` against the S3 general-purpose bucket naming rules; throws an
 * error that names the rule and the value. Tokens are skipped.
 */
export function validateBucketName(name: string, field = "bucketName"): void {
  if (Token.isUnresolved(name)) return;
  const fail = (rule: string): never => {
    throw new Error(`bucket name: ${field} ${rule} (given "${name}")`);
  };
  if (name.length < 3 || name.length > 63) fail(`must be 3..63 characters long (it is ${name.length})`);
  if (!/^[a-z0-9.-]+$/.test(name)) fail("may contain only lowercase letters, digits, '.' and '-'");
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) fail("must begin and end with a letter or digit");
  if (name.includes("..")) fail("must not contain two adjacent periods");
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) fail("must not be formatted as an IP address");
  for (const p of RESERVED_PREFIXES) if (name.startsWith(p)) fail(`must not start with the reserved prefix "${p}"`);
  for (const s of RESERVED_SUFFIXES) if (name.endsWith(s)) fail(`must not end with the reserved suffix "${s}"`);
}

function checkDays(field: string, value: number | undefined): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIFECYCLE_DAYS) {
    throw new Error(`bucket lifecycle: ${field} must be an integer 1..${MAX_LIFECYCLE_DAYS} (given ${value})`);
  }
}

/**
 * An S3 bucket with the settings every bucket of this project needs: versioning,
 * default encryption, all four public access blocks, BucketOwnerEnforced (ACLs
 * off), a policy that denies any request not made over TLS, and lifecycle rules
 * from the props (incomplete multipart uploads are always aborted).
 */
export class SecureBucket extends Construct {
  /** The bucket resource (for `dependsOn` and attributes not exposed below). */
  public readonly bucket: S3Bucket;
  /** Bucket ARN, `arn:aws:s3:::<name>`. */
  public readonly bucketArn: string;
  /** Bucket name. */
  public readonly bucketName: string;
  /** Bucket ID (the name, as Terraform knows it). */
  public readonly bucketId: string;
  private readonly statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    validateBucketName(props.bucketName);
    checkDays("noncurrentVersionExpirationDays", props.noncurrentVersionExpirationDays);
    checkDays("abortIncompleteMultipartUploadDays", props.abortIncompleteMultipartUploadDays);
    const expire = props.expireObjectsAfterDays ?? [];
    const prefixes = new Set<string>();
    expire.forEach((rule, i) => {
      if (!Token.isUnresolved(rule.prefix)) {
        if (rule.prefix.length === 0) {
          throw new Error(
            `bucket lifecycle: expireObjectsAfterDays[${i}].prefix must not be empty (an expiry of the whole bucket is refused)`,
          );
        }
        if (prefixes.has(rule.prefix)) {
          throw new Error(`bucket lifecycle: expireObjectsAfterDays prefixes must be distinct ("${rule.prefix}" appears twice)`);
        }
        prefixes.add(rule.prefix);
      }
      checkDays(`expireObjectsAfterDays[${i}].days`, rule.days);
    });

    this.bucket = new S3Bucket(this, "bucket", {
      bucket: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      lifecycle: props.preventDestroy ? { preventDestroy: true } : undefined,
    });
    const bucket = this.bucket;

    const versioning = new S3BucketVersioningA(this, "versioning", {
      bucket: bucket.id,
      versioningConfiguration: { status: "Enabled" },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      bucket: bucket.id,
      rule: [
        props.kmsKeyArn === undefined
          ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }
          : {
              applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: props.kmsKeyArn },
              bucketKeyEnabled: true,
            },
      ],
    });
    const publicAccessBlock = new S3BucketPublicAccessBlock(this, "public-access-block", {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", {
      bucket: bucket.id,
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
    const everything = [bucket.arn, `${bucket.arn}/*`];
    this.statements.push(denyInsecureTransport("s3:*", everything));
    if (props.allowOnlyPrincipals !== undefined) {
      if (props.allowOnlyPrincipals.length === 0) throw new Error("bucket policy: allowOnlyPrincipals must name at least one principal");
      this.statements.push({
        Sid: "DenyAllButThesePrincipals",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: everything,
        Condition: { ArnNotLike: { "aws:PrincipalArn": [...props.allowOnlyPrincipals] } },
      });
    }
    new S3BucketPolicy(this, "policy", {
      bucket: bucket.id,
      // Lazy: constructs created after the bucket add their statements (addPolicyStatements).
      policy: Lazy.stringValue({ produce: () => policyDocument(this.statements) }),
      // PutBucketPolicy and PutPublicAccessBlock on the same bucket race (409 OperationAborted).
      dependsOn: [publicAccessBlock],
    });

    // Provider 5.x: every rule needs a `filter` block; `filter {}` means the whole bucket.
    const rules: S3BucketLifecycleConfigurationRule[] = [
      {
        id: "abort-incomplete-multipart-uploads",
        status: "Enabled",
        filter: [{}],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: props.abortIncompleteMultipartUploadDays ?? 1 }],
      },
    ];
    if (props.noncurrentVersionExpirationDays !== undefined) {
      rules.push({
        id: "expire-noncurrent-versions",
        status: "Enabled",
        filter: [{}],
        noncurrentVersionExpiration: [{ noncurrentDays: props.noncurrentVersionExpirationDays }],
        expiration: [{ expiredObjectDeleteMarker: true }],
      });
    }
    expire.forEach((rule, i) => {
      rules.push({
        id: `expire-${ruleIdFor(rule.prefix, i)}`,
        status: "Enabled",
        filter: [{ prefix: rule.prefix }],
        expiration: [{ days: rule.days }],
      });
    });
    new S3BucketLifecycleConfiguration(this, "lifecycle", {
      bucket: bucket.id,
      rule: rules,
      // Lifecycle rules on a versioned bucket need versioning in place first.
      dependsOn: [versioning],
    });

    this.bucketArn = bucket.arn;
    this.bucketName = bucket.bucket;
    this.bucketId = bucket.id;
  }

  /** Adds statements to the bucket policy (after the TLS-only deny). */
  addPolicyStatements(...statements: PolicyStatement[]): void {
    this.statements.push(...statements);
  }

  /**
   * Denies `roleArns` every request that does not come through `vpcEndpointId`:
   * their credentials are useless outside their VPC.
   */
  requireEndpointFor(sid: string, roleArns: readonly string[], vpcEndpointId: string): void {
    this.addPolicyStatements({
      Sid: sid,
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [this.bucketArn, `${this.bucketArn}/*`],
      Condition: { ArnEquals: { "aws:PrincipalArn": [...roleArns] }, StringNotEquals: { "aws:SourceVpce": vpcEndpointId } },
    });
  }
}

function ruleIdFor(prefix: string, index: number): string {
  if (Token.isUnresolved(prefix)) return `rule-${index}`;
  const slug = prefix.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return slug.length > 0 ? slug.slice(0, 200) : `rule-${index}`;
}

export interface WorkBucketProps {
  /** Bucket name (S3 naming rules, see `SecureBucketProps.bucketName`). */
  readonly bucketName: string;
  /** Days after which job data (`jobs/`) and rejected messages (`rejected/`) expire, 1..3650. */
  readonly expireJobsAfterDays: number;
  /**
   * Let `terraform destroy` delete the bucket with objects in it. Note the bucket
   * also has `prevent_destroy`, which must be lifted first.
   * @default false
   */
  readonly forceDestroy?: boolean;
}

/**
 * The pipeline's work bucket: a `SecureBucket` where job state lives (manifest,
 * raw objects, chunks, results, status under `jobs/`; rejected messages under
 * `rejected/`). Job data expires after `expireJobsAfterDays`, noncurrent versions
 * after 7 days, incomplete multipart uploads after 1 day; `prevent_destroy` on.
 */
export class WorkBucket extends SecureBucket {
  constructor(scope: Construct, id: string, props: WorkBucketProps) {
    super(scope, id, WorkBucket.secureBucketProps(props));
  }

  private static secureBucketProps(props: WorkBucketProps): SecureBucketProps {
    const days = props.expireJobsAfterDays;
    if (!Token.isUnresolved(days) && (!Number.isInteger(days) || days < 1 || days > 3650)) {
      throw new Error(`work bucket: expireJobsAfterDays must be an integer 1..3650 (given ${days})`);
    }
    return {
      bucketName: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      preventDestroy: true,
      abortIncompleteMultipartUploadDays: 1,
      noncurrentVersionExpirationDays: 7,
      expireObjectsAfterDays: [
        // The functions' key layout (KEYS): job data under jobs/, rejected messages under rejected/.
        { prefix: KEYS.prefixes.jobs, days },
        { prefix: KEYS.prefixes.rejected, days },
      ],
    };
  }
}
