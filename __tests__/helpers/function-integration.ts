/**
 * Shared pieces of the function integration tests: a private copy of a bundle
 * (so a rebuild by another test worker cannot swap the file under a running
 * child), the child's environment (loopback endpoints, dummy credentials, no
 * access to the developer's AWS config) and a parent-side S3 client for
 * arranging and checking objects.
 */
import * as path from "path";
import { GetObjectCommand, ListObjectsCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { bundleFunction } from "../../modules/bundle";
import { loopbackAwsEnv } from "../../scripts/lib/loopback-env";

export const BUCKET = "work-bucket";
export const MAX_SOCKETS = 16;
/** The bound the issue sets: peak open fds ≤ MAX_SOCKETS + 40. */
export const FD_LIMIT = MAX_SOCKETS + 40;

/** The bundle's index.js (built if missing; bundles are written atomically, so a concurrent rebuild is safe). */
export function bundlePath(name: string): string {
  return path.join(bundleFunction(name).dir, "index.js");
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
