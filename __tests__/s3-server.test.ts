/**
 * The loopback S3 server answers conditional writes as S3 does (s3rver alone
 * ignores If-None-Match): a second `If-None-Match: *` PUT of a key is refused
 * with 412 and changes nothing, and of many racing for a new key exactly one wins.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { BUCKET, getBytes } from "./helpers/function-integration";
import { loopbackS3Client } from "../scripts/lib/loopback-s3";

let server: S3Server;
let s3: S3Client;

beforeAll(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
  s3 = loopbackS3Client(server.endpoint);
});
afterAll(async () => {
  s3?.destroy();
  await server?.close();
});

const put = (key: string, body: string, conditional = true) =>
  s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...(conditional ? { IfNoneMatch: "*" } : {}) }));

describe("loopback S3 server: conditional writes", () => {
  test("a conditional PUT of a new key succeeds; a second one answers 412 PreconditionFailed and does not overwrite", async () => {
    await put("jobs/a/manifest.json", "first");

    const second = put("jobs/a/manifest.json", "second");

    await expect(second).rejects.toMatchObject({ name: "PreconditionFailed", $metadata: { httpStatusCode: 412 } });
    expect((await getBytes(s3, "jobs/a/manifest.json"))?.toString()).toBe("first");
  });

  test("an unconditional PUT still overwrites, as on S3", async () => {
    await put("plain/key", "one");
    await put("plain/key", "two", false);

    expect((await getBytes(s3, "plain/key"))?.toString()).toBe("two");
  });

  test("a key with characters that need encoding is checked under its real name", async () => {
    const key = "jobs/ä b+c/manifest.json";
    await put(key, "first");

    await expect(put(key, "second")).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect((await getBytes(s3, key))?.toString()).toBe("first");
  });

  test("of 8 concurrent conditional PUTs of one new key exactly one wins, and the object is the winner's", async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => `writer ${i} ${"x".repeat(10_000)}`);

    const results = await Promise.allSettled(bodies.map((body) => put("race/manifest.json", body)));

    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ $metadata: { httpStatusCode: 412 } });
    }
    expect((await getBytes(s3, "race/manifest.json"))?.toString()).toBe(bodies[won[0]]);
  });

  test("the connection stays usable after a 412 (the refused body is drained)", async () => {
    await put("drain/key", "first");
    await expect(put("drain/key", "y".repeat(200_000))).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });

    await put("drain/other", "fine");
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "drain/other" }));
    expect(await out.Body?.transformToString()).toBe("fine");
  });

  test("a conditional multipart upload of an existing key is refused at CompleteMultipartUpload", async () => {
    await put("multi/key", "first");
    const upload = new Upload({
      client: s3,
      params: { Bucket: BUCKET, Key: "multi/key", Body: Buffer.alloc(6 * 1024 * 1024, 1), IfNoneMatch: "*" },
      partSize: 5 * 1024 * 1024,
    });

    await expect(upload.done()).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect((await getBytes(s3, "multi/key"))?.toString()).toBe("first");
  });
});
