import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import type { ProjectConfig } from "../modules/config/environments";
import { SecureBucket } from "../modules/storage";

/** Where the state stack's key lives once its state is migrated into its own bucket. */
export const STATE_STACK_KEY = "state/terraform.tfstate";

export interface StateStackProps {
  readonly config: ProjectConfig;
  /**
   * Backend of this stack: "local" for the one-time bootstrap (state file at the
   * project root), "s3" once that state has been migrated into the bucket
   * (README: "Bootstrap"). @default "local"
   */
  readonly backend?: "local" | "s3";
}

/**
 * The Terraform state bucket: versioned, encrypted, public access blocked,
 * TLS-only, reachable only by the principals that run Terraform, old versions
 * expire, and `prevent_destroy`.
 */
export class StateStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: StateStackProps) {
    super(scope, id);
    const { project, state } = props.config;
    new AwsProvider(this, "aws", {
      region: state.region,
      defaultTags: [{ tags: { project, environment: "shared", "managed-by": "cdktf" } }],
    });
    if ((props.backend ?? "local") === "s3") {
      new S3Backend(this, { bucket: state.bucketName, key: STATE_STACK_KEY, region: state.region, encrypt: true });
      this.addOverride("terraform.backend.s3.use_lockfile", true);
    } else {
      // Relative to cdktf.out/stacks/state: the file lands at the project root, outside cdktf.out.
      new LocalBackend(this, { path: "../../../terraform.state.tfstate" });
    }
    const bucket = new SecureBucket(this, "state-bucket", {
      bucketName: state.bucketName,
      preventDestroy: true,
      noncurrentVersionExpirationDays: 90,
      // Only the identities that run Terraform may read or write the state.
      allowOnlyPrincipals: state.terraformPrincipals,
    });
    new TerraformOutput(this, "state_bucket", { value: bucket.bucketName });
  }
}
