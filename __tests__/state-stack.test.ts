import { Testing } from "cdktf";
import { projectConfig } from "../modules/config/environments";
import { STATE_STACK_KEY, StateStack } from "../stacks/state-stack";
import type { TfJson } from "./helpers/synth";

const synth = (backend: "local" | "s3"): TfJson => {
  const app = Testing.app();
  const stack = new StateStack(app, "state", { config: projectConfig, backend });
  return JSON.parse(Testing.synth(stack));
};

describe("state stack", () => {
  test("the state bucket denies every principal that does not run Terraform", () => {
    const out = synth("s3");
    const [policy] = Object.values(out.resource.aws_s3_bucket_policy) as TfJson[];
    const deny = (JSON.parse(policy.policy).Statement as TfJson[]).find((st) => st.Sid === "DenyAllButThesePrincipals");
    expect(deny?.Condition).toEqual({ ArnNotLike: { "aws:PrincipalArn": [...projectConfig.state.terraformPrincipals] } });
  });

  test("bootstraps with a local state file outside cdktf.out", () => {
    const out = synth("local");
    expect(out.terraform.backend).toEqual({ local: { path: "../../../terraform.state.tfstate" } });
  });

  test("after migration keeps its own state in the bucket it creates, encrypted and locked", () => {
    const out = synth("s3");
    expect(out.terraform.backend).toEqual({
      s3: { bucket: projectConfig.state.bucketName, key: STATE_STACK_KEY, region: projectConfig.state.region, encrypt: true, use_lockfile: true },
    });
  });

  test("holds only the state bucket, protected from destroy", () => {
    const out = synth("local");
    const buckets = Object.values(out.resource.aws_s3_bucket) as TfJson[];
    expect(buckets).toEqual([expect.objectContaining({ bucket: projectConfig.state.bucketName, lifecycle: { prevent_destroy: true } })]);
  });
});
