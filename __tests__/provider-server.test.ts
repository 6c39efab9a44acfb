/**
 * The one provider process a stack's plan and show share: where it is found,
 * how its reattach line is read, and what happens when it cannot serve. The
 * stand-ins here are real processes (shell scripts); the real provider serving
 * a real plan is in plan-command.test.ts.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installedProvider, parseReattachLine, startProviderServer, terraformPlatform } from "../scripts/lib/provider-server";
import { AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION } from "../scripts/lib/terraform";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-server-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const reattach = (addr: string) => JSON.stringify({ [AWS_PROVIDER_ADDRESS]: { Protocol: "grpc", ProtocolVersion: 5, Pid: 1, Test: true, Addr: { Network: "unix", String: addr } } });

/** An executable script standing as the provider binary. */
function script(body: string): string {
  const file = path.join(dir, "terraform-provider-aws_v5.100.0_x5");
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

describe("terraformPlatform", () => {
  test.each([
    ["linux", "x64", "linux_amd64"],
    ["linux", "arm64", "linux_arm64"],
    ["darwin", "arm64", "darwin_arm64"],
    ["win32", "x64", "windows_amd64"],
  ] as const)("names %s/%s as Terraform does: %s", (platform, arch, name) => {
    expect(terraformPlatform(platform, arch)).toBe(name);
  });
});

describe("installedProvider", () => {
  test("finds the binary init installed for this platform, and nothing in a folder without one", () => {
    expect(installedProvider(dir)).toBeUndefined();
    const pkg = path.join(dir, ".terraform", "providers", AWS_PROVIDER_ADDRESS, AWS_PROVIDER_VERSION, "linux_amd64");
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, "LICENSE.txt"), "");
    expect(installedProvider(dir, "linux_amd64")).toBeUndefined();
    fs.writeFileSync(path.join(pkg, `terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5`), "");
    expect(installedProvider(dir, "linux_amd64")).toBe(path.join(pkg, `terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5`));
    expect(installedProvider(dir, "darwin_arm64")).toBeUndefined();
  });
});

describe("parseReattachLine", () => {
  test("takes the value of the line the provider prints, and refuses one without the AWS provider's address", () => {
    const value = reattach("/tmp/plugin123");
    expect(parseReattachLine(`Provider started. To attach Terraform CLI, set ...:\n\n\tTF_REATTACH_PROVIDERS='${value}'\n`)).toBe(value);
    expect(parseReattachLine("Provider started.\n")).toBeUndefined();
    expect(parseReattachLine(`TF_REATTACH_PROVIDERS='{"registry.terraform.io/hashicorp/random":{"Addr":{"String":"/tmp/p"}}}'`)).toBeUndefined();
    expect(parseReattachLine("TF_REATTACH_PROVIDERS='{not json'")).toBeUndefined();
  });
});

describe("startProviderServer", () => {
  test("resolves once the process prints where it serves, passes -debug and quiets the SDK's logs; close ends the process", async () => {
    const seen = path.join(dir, "seen");
    const value = reattach("/tmp/plugin-test");
    const line = path.join(dir, "line");
    fs.writeFileSync(line, `Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n\tTF_REATTACH_PROVIDERS='${value}'\n`);
    const bin = script(`echo "$$ $1 $TF_LOG_SDK_PROTO" > ${seen}\ncat ${line}\nexec sleep 60`);
    const server = await startProviderServer(bin, { PATH: process.env.PATH });
    expect(server.reattach).toBe(value);
    const [pid, ...args] = fs.readFileSync(seen, "utf8").trim().split(" ");
    expect(args).toEqual(["-debug", "off"]);
    expect(() => process.kill(Number(pid), 0)).not.toThrow();
    await server.close();
    expect(() => process.kill(Number(pid), 0)).toThrow();
    await server.close(); // a second close is harmless
  });

  test("rejects with the process's own output when it exits before serving", async () => {
    const bin = script('echo "Error: this provider cannot serve here" >&2\nexit 3');
    await expect(startProviderServer(bin, { PATH: process.env.PATH })).rejects.toThrow(/-debug exited \(3\) before serving:\nError: this provider cannot serve here/);
  });

  test("rejects, and ends the process, when it prints no reattach line in time", async () => {
    const pidFile = path.join(dir, "pid");
    const bin = script(`echo $$ > ${pidFile}\nexec sleep 60`);
    await expect(startProviderServer(bin, { PATH: process.env.PATH }, 300)).rejects.toThrow(/printed no TF_REATTACH_PROVIDERS line in 300 ms/);
    // Rejected only once the process has exited: nothing of it is left.
    expect(() => process.kill(Number(fs.readFileSync(pidFile, "utf8")), 0)).toThrow();
  });

  test("rejects a binary that cannot be started", async () => {
    await expect(startProviderServer(path.join(dir, "missing"), {})).rejects.toThrow(/could not start: spawn .*missing ENOENT/);
  });
});
