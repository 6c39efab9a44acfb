/**
 * The one S3 client for the loopback S3 server (scripts/lib/s3-server.ts), and
 * its pager: what the tests, the benchmarks and the local runner use to arrange
 * and read objects themselves (the functions build their own, from
 * AWS_ENDPOINT_URL_S3: scripts/lib/loopback-env.ts).
 */
import { ListObjectsCommand, S3Client } from "@aws-sdk/client-s3";

/** Path-style (s3rver has no virtual hosts), the server's dummy keys, nothing read from the machine's AWS configuration. */
export function loopbackS3Client(endpoint: string, region = "us-east-1"): S3Client {
  return new S3Client({ region, endpoint, forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
}

/**
 * Every key (and its size) under a prefix, in key order. ListObjects v1 with
 * markers: s3rver builds v2 continuation tokens with a cipher OpenSSL 3
 * refuses, so ListObjectsV2 fails past 1,000 keys.
 */
export async function listAllKeys(s3: S3Client, bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
  const keys: { key: string; size: number }[] = [];
  let marker: string | undefined;
  do {
    const page = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }));
    for (const o of page.Contents ?? []) keys.push({ key: o.Key as string, size: o.Size ?? 0 });
    marker = page.IsTruncated ? keys[keys.length - 1]?.key : undefined;
  } while (marker);
  return keys;
}
