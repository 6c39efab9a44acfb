/**
 * Runs once before the suite: bundles the functions (tests run the bundles) and,
 * when TF_PROVIDER_MIRROR is unset, finds a filesystem mirror holding the pinned
 * AWS provider so the offline Terraform tests run offline (workers inherit it).
 */
import { bundleAll } from "../../modules/bundle";
import { ensureProviderMirror, findTerraform } from "../../scripts/lib/terraform";

export default function globalSetup(): void {
  bundleAll();
  if (findTerraform()) console.log(`\n[setup] ${ensureProviderMirror()}`);
}
