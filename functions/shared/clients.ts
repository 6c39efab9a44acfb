/**
 * The only place SDK clients are constructed (a test greps for it). One S3 client
 * and one SFN client per execution environment, created on first use and reused
 * by every invocation after that.
 *
 * Each client gets a NodeHttpHandler with http.Agent/https.Agent *instances*
 * (keepAlive, maxSockets from MAX_SOCKETS). Option objects are not enough: for
 * bodies >= 2 MiB S3 sends `Expect: 100-continue`, and the handler then builds a
 * fresh unpooled agent per request unless it was handed an instance — that is
 * one new socket per large PUT, the EMFILE pattern.
 *
 * Endpoints: the SDK reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_SFN itself,
 * so the same bundle talks to an S3-compatible server on 127.0.0.1.
 */
import * as http from "http";
import * as https from "https";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { loadRuntimeConfig, type RuntimeConfig } from "./config";

type ClientConfig = Pick<RuntimeConfig, "maxSockets" | "sdkConnectTimeoutMs" | "sdkRequestTimeoutMs">;

/** A request handler with its own pooled agent pair. */
export function createRequestHandler(config: ClientConfig): NodeHttpHandler {
  const agentOptions = { keepAlive: true, maxSockets: config.maxSockets };
  return new NodeHttpHandler({
    httpAgent: new http.Agent(agentOptions),
    httpsAgent: new https.Agent(agentOptions),
    connectionTimeout: config.sdkConnectTimeoutMs,
    // Socket idle timeout: a server that stops sending fails the request, which
    // the standard retry strategy then retries.
    socketTimeout: config.sdkRequestTimeoutMs,
  });
}

let s3: S3Client | undefined;
let sfn: SFNClient | undefined;

/** The S3 client of this execution environment (same instance on every call). */
export function s3Client(): S3Client {
  if (!s3) {
    const config = loadRuntimeConfig();
    s3 = new S3Client({
      requestHandler: createRequestHandler(config),
      retryMode: "standard",
      forcePathStyle: config.s3ForcePathStyle,
    });
  }
  return s3;
}

/** The Step Functions client of this execution environment (same instance on every call). */
export function sfnClient(): SFNClient {
  if (!sfn) {
    sfn = new SFNClient({ requestHandler: createRequestHandler(loadRuntimeConfig()), retryMode: "standard" });
  }
  return sfn;
}
