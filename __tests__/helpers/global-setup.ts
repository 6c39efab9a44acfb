/**
 * Runs once before the suite: bundles the functions (tests run the bundles) and,
 * when TF_PROVIDER_MIRROR is unset, looks for a filesystem mirror holding the
 * pinned AWS provider so the offline Terraform tests can run. The mirror is found
 * by searching, never by a fixed path; set TF_PROVIDER_MIRROR to choose one.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { bundleAll } from "../../modules/bundle";
import { AWS_PROVIDER_VERSION, MIRROR_ENV, findTerraform } from "../../scripts/lib/terraform";

function discoverMirror(): string | undefined {
  try {
    const out = execFileSync(
      "find",
      ["/", "-maxdepth", "8", "-type", "d", "-path", `*/registry.terraform.io/hashicorp/aws/${AWS_PROVIDER_VERSION}`, "-not", "-path", "/proc/*"],
      { encoding: "utf8", timeout: 15_000, stdio: ["ignore", "pipe", "ignore"] },
    );
    const hit = out.split("\n").find(Boolean);
    return hit ? path.resolve(hit, "..", "..", "..", "..") : undefined;
  } catch (e) {
    // find exits non-zero on unreadable folders but still prints what it found.
    const out = String((e as { stdout?: string }).stdout ?? "");
    const hit = out.split("\n").find(Boolean);
    return hit ? path.resolve(hit, "..", "..", "..", "..") : undefined;
  }
}

export default function globalSetup(): void {
  bundleAll();
  if (!process.env[MIRROR_ENV] && findTerraform()) {
    const mirror = discoverMirror();
    if (mirror) {
      process.env[MIRROR_ENV] = mirror;
      console.log(`\n[setup] ${MIRROR_ENV} unset; using the provider mirror found at ${mirror}`);
    } else {
      console.warn(`\n[setup] no provider mirror found and ${MIRROR_ENV} unset: Terraform will use the public registry`);
    }
  }
}
