/**
 * The bundled fanout in a child process under `ulimit -n 1024`, with its real
 * S3 and SFN clients talking to a loopback S3 server and a loopback endpoint
 * that speaks the Step Functions JSON protocol; both answer as AWS does (412 on
 * a second `If-None-Match: *` write, StartExecution idempotent by name and input
 * while running). Every record of every batch must end up accounted for: an
 * execution, a rejected/ object, or a batch item failure.
 *
 * @slow 6 s alone here (starts first, longest first: __tests__/helpers/sequencer.js)
 */
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { startLambdaChild, type LambdaChild } from "../scripts/lib/lambda-child";
import { startS3Server, type S3Server } from "../scripts/lib/s3-server";
import { startSfnEndpoint, type SfnEndpoint } from "../scripts/lib/sfn-endpoint";
import { BUCKET, fdLimit, childEnv, getBytes, getJson, listKeys, bundlePath } from "./helpers/function-integration";
import { loopbackS3Client } from "../scripts/lib/loopback-s3";
import { jobMessage, sqsEvent, sqsRecord } from "./helpers/lambda-events";

/** Peak open fds allowed: the fanout's deployed MAX_SOCKETS + 40. */
const FD_LIMIT = fdLimit("fanout");

const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:pipeline";

let s3server: S3Server;
let sfn: SfnEndpoint;
let s3: S3Client;
let child: LambdaChild;

type BatchResult = { batchItemFailures: { itemIdentifier: string }[] };

beforeAll(async () => {
  [s3server, sfn] = await Promise.all([startS3Server({ buckets: [BUCKET] }), startSfnEndpoint()]);
  s3 = loopbackS3Client(s3server.endpoint);
  child = await startLambdaChild({
    bundle: bundlePath("fanout"),
    functionName: "fanout",
    env: childEnv(
      "fanout",
      { s3: s3server.endpoint, sfn: sfn.endpoint },
      { STATE_MACHINE_ARN, MAX_ITEMS_PER_JOB: "5", MAX_URL_LENGTH: "2048", ALLOW_HTTP: "false" },
    ),
  });
});

afterAll(async () => {
  await child?.close();
  s3?.destroy();
  await Promise.all([s3server?.close(), sfn?.close()]);
});

describe("fanout bundle over loopback S3 and Step Functions under ulimit -n 1024", () => {
  test("starts valid jobs once and stores every bad message in rejected/ with its error", async () => {
    // GIVEN a batch mixing valid, duplicate and invalid messages
    const good = sqsRecord(jobMessage("job-good", 2));
    const sameJobAgain = sqsRecord(jobMessage("job-good", 2));
    const noJobId = sqsRecord(jobMessage(undefined, 1));
    const bad = {
      malformedJson: sqsRecord('{"items": [ {"url": '),
      wrongTypes: sqsRecord({ jobId: 42, items: "https://example.com/" }),
      emptyItems: sqsRecord({ jobId: "empty", items: [] }),
      tooManyItems: sqsRecord(jobMessage("too-many", 6)),
      badJobId: sqsRecord(jobMessage("../../etc", 1)),
      fileUrl: sqsRecord({ jobId: "file", items: [{ url: "file:///etc/passwd" }] }),
      ftpUrl: sqsRecord({ jobId: "ftp", items: [{ url: "ftp://example.com/x" }] }),
      gopherUrl: sqsRecord({ jobId: "gopher", items: [{ url: "gopher://example.com/1" }] }),
      httpUrl: sqsRecord({ jobId: "http", items: [{ url: "http://example.com/x" }] }),
    };

    // WHEN the fanout handles it
    const out = await child.invoke<BatchResult>(sqsEvent(good, sameJobAgain, noJobId, ...Object.values(bad)));

    // THEN nothing is handed back, valid jobs have a manifest and exactly one execution, whose input points at it…
    expect(out).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect([...sfn.executions.keys()].sort()).toEqual(["job-good", `msg-${noJobId.messageId}`].sort());
    expect(sfn.executions.get("job-good")?.input).toEqual({ jobId: "job-good", bucket: BUCKET, manifestKey: "jobs/job-good/manifest.json", itemCount: 2 });
    expect(await getJson(s3, "jobs/job-good/manifest.json")).toEqual([
      { index: 0, url: "https://example.com/file-0.txt" },
      { index: 1, url: "https://example.com/file-1.txt" },
    ]);
    // …the same job twice in one batch made one execution (the second start was answered idempotently)…
    expect(sfn.duplicateStarts()).toBe(1);
    // …and each bad message is in rejected/ with its raw body and the reason
    const reasons: Record<keyof typeof bad, RegExp> = {
      malformedJson: /not valid JSON/,
      wrongTypes: /jobId: .*expected string.*items: .*expected array/,
      emptyItems: /items: Too small/,
      tooManyItems: /items: Too big/,
      badJobId: /jobId: must match/,
      fileUrl: /scheme "file:" is not allowed/,
      ftpUrl: /scheme "ftp:" is not allowed/,
      gopherUrl: /scheme "gopher:" is not allowed/,
      httpUrl: /scheme "http:" is not allowed/,
    };
    for (const [name, record] of Object.entries(bad)) {
      const rejected = await getJson(s3, `rejected/${record.messageId}.json`);
      expect({ name, rejected }).toMatchObject({
        name,
        rejected: { messageId: record.messageId, body: record.body, error: expect.stringMatching(reasons[name as keyof typeof bad]) },
      });
    }
    expect(await listKeys(s3, "rejected/")).toHaveLength(Object.keys(bad).length);
    // …and the rejected ones left no manifest behind
    expect((await listKeys(s3, "jobs/")).map((o) => o.key).sort()).toEqual(["jobs/job-good/manifest.json", `jobs/msg-${noJobId.messageId}/manifest.json`].sort());
  });

  test("writes the manifest once: a second conditional PUT is refused (412) and the manifest keeps its first content and message id", async () => {
    const first = await getBytes(s3, "jobs/job-good/manifest.json");
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "jobs/job-good/manifest.json" }));

    const second = s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "jobs/job-good/manifest.json", Body: "[]", IfNoneMatch: "*" }));

    await expect(second).rejects.toMatchObject({ name: "PreconditionFailed", $metadata: { httpStatusCode: 412 } });
    expect((await getBytes(s3, "jobs/job-good/manifest.json"))?.equals(first as Buffer)).toBe(true);
    expect(head.Metadata).toEqual({ "message-id": expect.stringMatching(/^00000000-0000-4000-8000-/) });
  });

  test("a redelivery with the same items while the execution runs starts nothing new (same execution, no failure)", async () => {
    const calls = sfn.calls();
    const duplicates = sfn.duplicateStarts();

    const out = await child.invoke<BatchResult>(sqsEvent(sqsRecord(jobMessage("job-good", 2))));

    expect(out).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(sfn.calls()).toBe(calls + 1);
    expect(sfn.duplicateStarts()).toBe(duplicates + 1);
    expect([...sfn.executions.keys()].filter((n) => n === "job-good")).toHaveLength(1);
    expect(child.output()).not.toMatch(/"level":"ERROR"/);
  });

  test("a redelivery after the execution closed is a duplicate (ExecutionAlreadyExists): acknowledged, one execution", async () => {
    sfn.closeExecution("job-good");
    const calls = sfn.calls();
    const duplicates = sfn.duplicateStarts();

    const out = await child.invoke<BatchResult>(sqsEvent(sqsRecord(jobMessage("job-good", 2))));

    // The endpoint answered 400 ExecutionAlreadyExists (not an idempotent 200), and the fanout counted it as done
    expect(out).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(sfn.calls()).toBe(calls + 1);
    expect(sfn.duplicateStarts()).toBe(duplicates);
    expect([...sfn.executions.keys()].filter((n) => n === "job-good")).toHaveLength(1);
  });

  test("rejects a message that reuses a jobId with different items, naming the jobId, and keeps the first manifest", async () => {
    const before = await getBytes(s3, "jobs/job-good/manifest.json");
    const calls = sfn.calls();
    const reused = sqsRecord(jobMessage("job-good", 3, "https://example.com/other"));

    const out = await child.invoke<BatchResult>(sqsEvent(reused));

    expect(out).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(await getJson(s3, `rejected/${reused.messageId}.json`)).toMatchObject({
      messageId: reused.messageId,
      error: 'jobId "job-good" already names a job with different items (jobs/job-good/manifest.json)',
    });
    expect(sfn.calls()).toBe(calls);
    expect((await getBytes(s3, "jobs/job-good/manifest.json"))?.equals(before as Buffer)).toBe(true);
  });

  test.each([
    ["throttled", { status: 400, type: "ThrottlingException" }],
    ["answered 500", { status: 500, type: "InternalFailure" }],
  ])("hands back only the record whose StartExecution was %s, then succeeds on redelivery", async (_answer, error) => {
    // GIVEN Step Functions failing every attempt (the SDK tries 3 times)
    const jobId = `transient-${error.status}`;
    const transient = sqsRecord(jobMessage(jobId, 1));
    const invalid = sqsRecord("not json");
    sfn.failNext(3, error);

    // WHEN the batch is handled
    const out = await child.invoke<BatchResult>(sqsEvent(transient, invalid));

    // THEN only that record is reported for a retry; the invalid one is rejected and acknowledged
    expect(out).toEqual({ ok: true, result: { batchItemFailures: [{ itemIdentifier: transient.messageId }] } });
    expect(await getJson(s3, `rejected/${invalid.messageId}.json`)).toMatchObject({ messageId: invalid.messageId, body: "not json", error: expect.any(String) });
    expect(sfn.executions.has(jobId)).toBe(false);

    // AND the redelivery starts the execution once
    const retry = await child.invoke<BatchResult>(sqsEvent(transient));
    expect(retry).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(sfn.executions.has(jobId)).toBe(true);
  });

  test("handles a batch of 300 records with bounded concurrency and open fds within MAX_SOCKETS + 40", async () => {
    const records = Array.from({ length: 300 }, (_, i) => sqsRecord(jobMessage(`bulk-${i}`, 3)));
    await child.resetFds();

    const started = Date.now();
    const out = await child.invoke<BatchResult>(sqsEvent(...records));
    const elapsed = Date.now() - started;
    const fds = await child.fds();

    expect(out).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect([...sfn.executions.keys()].filter((n) => n.startsWith("bulk-"))).toHaveLength(300);
    const manifests = (await listKeys(s3, "jobs/bulk-")).filter((o) => o.key.endsWith("/manifest.json"));
    expect(manifests).toHaveLength(300);
    console.log(`[fanout] 600 operations in ${elapsed} ms; open fds peak ${fds.peak} (limit ${FD_LIMIT}), ${fds.samples} samples`);
    expect(fds.peak).toBeLessThanOrEqual(FD_LIMIT);
    expect(child.exited()).toBeUndefined();
  });
});
