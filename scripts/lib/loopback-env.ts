/**
 * The AWS environment of a process that talks to the loopback stand-ins
 * (s3rver, the Step Functions endpoint) instead of AWS: endpoints, a region,
 * dummy credentials, and every other credential source switched off so nothing
 * on the machine (a profile, instance metadata) can leak into a test or a run.
 */
export interface LoopbackEndpoints {
  /** S3-compatible server, e.g. http://127.0.0.1:4568 (AWS_ENDPOINT_URL_S3). */
  readonly s3: string;
  /** Step Functions endpoint (AWS_ENDPOINT_URL_SFN), when the process needs one. */
  readonly sfn?: string;
  /** @default "us-east-1" */
  readonly region?: string;
}

export function loopbackAwsEnv(endpoints: LoopbackEndpoints): Record<string, string> {
  const region = endpoints.region ?? "us-east-1";
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent/aws-config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/aws-credentials",
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    ...(endpoints.sfn ? { AWS_ENDPOINT_URL_SFN: endpoints.sfn } : {}),
  };
}
