/**
 * A certificate for one benchmark run: real S3 is HTTPS, and the handshake is
 * what a client per operation pays on every call. `openssl` makes a self-signed
 * RSA-2048 certificate for 127.0.0.1 (the key type S3's own certificates use);
 * the clients trust it through NODE_EXTRA_CA_CERTS, so nothing in the client
 * code changes between the TLS cells and the plain-HTTP control.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface RunCertificate {
  readonly keyFile: string;
  readonly certFile: string;
}

/** Writes key.pem and cert.pem into `dir` (valid for 2 days, subjectAltName IP:127.0.0.1). */
export function makeCertificate(dir: string): RunCertificate {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2"];
  args.push("-keyout", keyFile, "-out", certFile, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost");
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === "ENOENT" ? "openssl is not installed (Debian: apt-get install openssl)" : String(e.stderr ?? e.message).trim();
    throw new Error(`bench: cannot make the run's TLS certificate with openssl: ${why}`);
  }
  return { keyFile, certFile };
}
