/**
 * Shared pieces of the function integration tests: a private copy of a bundle
 * (so a rebuild by another test worker cannot swap the file under a running
 * child), the child's environment (loopback endpoints, dummy credentials, no
 * access to the developer's AWS config) and a parent-side S3 client for
 * arranging and checking objects.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { bundleDir, bundleFunction } from "../../modules/bundle";
import { loopbackAwsEnv } from "../../scripts/lib/loopback-env";

export const BUCKET = "work-bucket";
export const MAX_SOCKETS = 16;
/** The bound the issue sets: peak open fds ≤ MAX_SOCKETS + 40. */
export const FD_LIMIT = MAX_SOCKETS + 40;

const copies: string[] = [];

/** Copies dist/functions/<name>/ into a temp folder (building it first if missing); returns the index.js path. */
export function privateBundle(name: string): string {
  const source = path.join(bundleDir(name), "index.js");
  for (let attempt = 0; attempt < 20; attempt++) {
    if (!fs.existsSync(source)) bundleFunction(name);
    try {
      const code = fs.readFileSync(source, "utf8");
      if (!code.includes("//# sourceMappingURL=")) throw new Error("bundle is being written");
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bundle-${name}-`));
      copies.push(dir);
      fs.writeFileSync(path.join(dir, "index.js"), code);
      const map = `${source}.map`;
      if (fs.existsSync(map)) fs.copyFileSync(map, path.join(dir, "index.js.map"));
      return path.join(dir, "index.js");
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100); // another worker is rebuilding: wait
    }
  }
  throw new Error(`could not read the bundle of ${name} at ${source}`);
}

export function removeBundleCopies(): void {
  for (const dir of copies.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Environment of a child running a bundle against loopback servers. */
export function childEnv(endpoints: { s3: string; sfn?: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...loopbackAwsEnv(endpoints),
    POWERTOOLS_LOG_LEVEL: "WARN",
    WORK_BUCKET: BUCKET,
    MAX_SOCKETS: String(MAX_SOCKETS),
    TASK_CONCURRENCY: String(MAX_SOCKETS),
    ...extra,
  };
}

/** The test's own client for the loopback S3 server. */
export function testS3(endpoint: string): S3Client {
  return new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
}

export async function putText(s3: S3Client, key: string, body: string | Buffer, contentType = "text/plain"): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentType: contentType }));
}

export async function getBytes(s3: S3Client, key: string): Promise<Buffer | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  } catch (error) {
    if ((error as Error).name === "NoSuchKey") return undefined;
    throw error;
  }
}

export async function getJson<T = Record<string, unknown>>(s3: S3Client, key: string): Promise<T | undefined> {
  const bytes = await getBytes(s3, key);
  return bytes && (JSON.parse(bytes.toString("utf8")) as T);
}

/**
 * Every key (and size) under a prefix. ListObjects (v1, marker paging): s3rver
 * builds v2 continuation tokens with a cipher OpenSSL 3 refuses, so v2 fails
 * past 1,000 keys.
 */
export async function listKeys(s3: S3Client, prefix: string): Promise<{ key: string; size: number }[]> {
  const keys: { key: string; size: number }[] = [];
  let marker: string | undefined;
  do {
    const page = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: prefix, Marker: marker }));
    for (const o of page.Contents ?? []) keys.push({ key: o.Key as string, size: o.Size ?? 0 });
    marker = page.IsTruncated ? keys[keys.length - 1]?.key : undefined;
  } while (marker);
  return keys;
}
