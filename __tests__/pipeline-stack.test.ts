import { taskTiming } from "../modules/config/budget";
import { projectConfig, type EnvironmentConfig } from "../modules/config/environments";
import { buildApp } from "../stacks/app";
import { devWith, resources, synthProject, type SynthResult, type TfJson } from "./helpers/synth";

/** Asset hashes and code hashes change with every handler edit: mask them so snapshots catch infrastructure drift only. */
function maskAssetHashes(stack: TfJson): TfJson {
  const text = JSON.stringify(stack)
    .replace(/(assets\/[^/"]+\/)[0-9A-Fa-f]{32}\//g, "$1<asset-hash>/")
    .replace(/"source_code_hash":"[^"]+"/g, '"source_code_hash":"<code-hash>"');
  return JSON.parse(text);
}

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth.cleanup());

describe.each(["pipeline-dev", "pipeline-prod"])("%s stack", (name) => {
  const env = projectConfig.environments.find((e) => `pipeline-${e.name}` === name)!;
  const stack = () => synth.stacks[name];

  test("matches its snapshot (asset hashes masked)", () => {
    expect(maskAssetHashes(stack())).toMatchSnapshot();
  });

  test("has two VPCs and at least one NAT gateway (one per AZ when configured so)", () => {
    expect(resources(stack(), "aws_vpc")).toHaveLength(2);
    const nats = resources(stack(), "aws_nat_gateway");
    expect(nats.length).toBe(env.network.nat === "perAz" ? env.availabilityZones.length : 1);
  });

  test("feeds the fanout from the queue with the budget's maximum concurrency and partial batch responses", () => {
    const [[, mapping]] = resources(stack(), "aws_lambda_event_source_mapping");
    expect(mapping.scaling_config).toEqual({ maximum_concurrency: env.budget.queue.maximumConcurrency });
    expect(mapping.function_response_types).toEqual(["ReportBatchItemFailures"]);
    expect(mapping.batch_size).toBe(env.budget.queue.batchSize);
    const queueId = mapping.event_source_arn.match(/^\$\{aws_sqs_queue\.([^.]+)\.arn\}$/)[1];
    expect(stack().resource.aws_sqs_queue[queueId].name).toBe(`fanout-pipeline-${env.name}-ingest`);
    const fnId = mapping.function_name.match(/^\$\{aws_lambda_function\.([^.]+)\.arn\}$/)[1];
    expect(stack().resource.aws_lambda_function[fnId].function_name).toBe(`fanout-pipeline-${env.name}-fanout`);
  });

  test("runs three functions with the budget's reserved concurrency, fetcher in the egress VPC and processor in the isolated VPC", () => {
    const fns = Object.fromEntries(resources(stack(), "aws_lambda_function").map(([, f]) => [f.function_name.split("-").pop(), f]));
    expect(Object.keys(fns).sort()).toEqual(["fanout", "fetcher", "processor"]);
    for (const key of ["fanout", "fetcher", "processor"] as const) {
      expect(fns[key].reserved_concurrent_executions).toBe(env.budget[key].reservedConcurrency);
      expect(fns[key].environment.variables.MAX_SOCKETS).toBe(String(env.budget[key].maxSockets));
      expect(fns[key].environment.variables.TASK_CONCURRENCY).toBe(String(env.budget[key].taskConcurrency));
    }
    expect(fns.fanout.vpc_config).toBeUndefined();
    // Subnets of the fetcher are the egress VPC's private subnets (routed to NAT), the processor's the isolated VPC's.
    const subnets = Object.fromEntries(resources(stack(), "aws_subnet").map(([id, s]) => [id, s]));
    const subnetOf = (ref: string) => subnets[ref.match(/aws_subnet\.([^.]+)\.id/)![1]];
    const vpcs = Object.fromEntries(resources(stack(), "aws_vpc").map(([id, v]) => [id, v.cidr_block]));
    const vpcCidrOf = (ref: string) => vpcs[ref.match(/aws_vpc\.([^.]+)\.id/)![1]];
    for (const ref of fns.fetcher.vpc_config.subnet_ids) {
      const s = subnetOf(ref);
      expect(vpcCidrOf(s.vpc_id)).toBe(env.network.egressVpcCidr);
      expect(s.map_public_ip_on_launch ?? false).toBe(false);
    }
    expect(fns.fetcher.vpc_config.subnet_ids).toHaveLength(env.availabilityZones.length);
    for (const ref of fns.processor.vpc_config.subnet_ids) {
      expect(vpcCidrOf(subnetOf(ref).vpc_id)).toBe(env.network.isolatedVpcCidr);
    }
  });

  test("has a STANDARD state machine, a work bucket, an ingest queue and a work queue per worker, each with a DLQ, and their alarms", () => {
    const [[, sm]] = resources(stack(), "aws_sfn_state_machine");
    expect(sm.type).toBe("STANDARD");
    const buckets = resources(stack(), "aws_s3_bucket").map(([, b]) => b.bucket);
    expect(buckets).toEqual([env.workBucketName]);
    const queues = resources(stack(), "aws_sqs_queue").map(([, q]) => q.name).sort();
    const p = `fanout-pipeline-${env.name}`;
    expect(queues).toEqual([`${p}-fetch`, `${p}-fetch-dlq`, `${p}-ingest`, `${p}-ingest-dlq`, `${p}-process`, `${p}-process-dlq`]);
    // 2 per queue (DLQ depth, oldest message), 3 per function, 3 for the state machine.
    const queueNameOf = Object.fromEntries(resources(stack(), "aws_sqs_queue").map(([id, q]) => [`\${aws_sqs_queue.${id}.name}`, q.name]));
    const alarmed = resources(stack(), "aws_cloudwatch_metric_alarm").map(([, a]) => {
      const dimension = Object.values(a.dimensions)[0] as string;
      return `${a.metric_name}:${queueNameOf[dimension] ?? dimension}`;
    });
    expect(alarmed).toHaveLength(3 * 2 + 3 * 3 + 3);
    for (const q of ["ingest", "fetch", "process"]) {
      expect(alarmed).toContain(`ApproximateAgeOfOldestMessage:${p}-${q}`);
      expect(alarmed).toContain(`ApproximateNumberOfMessagesVisible:${p}-${q}-dlq`);
    }
  });

  test("each worker consumes its work queue one task per invocation, within its reserved concurrency, and knows its heartbeat and last receive", () => {
    const fns = Object.fromEntries(resources(stack(), "aws_lambda_function").map(([id, f]) => [f.function_name.split("-").pop(), { id, f }]));
    const queues = Object.fromEntries(resources(stack(), "aws_sqs_queue").map(([id, q]) => [id, q]));
    for (const [fn, queueName] of [["fetcher", "fetch"], ["processor", "process"]] as const) {
      const [[, mapping]] = resources(stack(), "aws_lambda_event_source_mapping").filter(([, m]) => m.function_name === `\${aws_lambda_function.${fns[fn].id}.arn}`);
      const queue = queues[/aws_sqs_queue\.([^.]+)\.arn/.exec(mapping.event_source_arn)![1]];
      expect(queue.name).toBe(`fanout-pipeline-${env.name}-${queueName}`);
      expect(mapping.batch_size).toBe(1);
      expect(mapping.scaling_config.maximum_concurrency).toBe(env.budget[fn].queue.maximumConcurrency);
      expect(queue.visibility_timeout_seconds).toBe(env.budget[fn].queue.visibilityTimeoutSeconds);
      expect(JSON.parse(queue.redrive_policy).maxReceiveCount).toBe(env.budget[fn].queue.maxReceiveCount);
      expect(fns[fn].f.environment.variables).toMatchObject({
        TASK_HEARTBEAT_SECONDS: String(taskTiming(env.budget, fn).heartbeatSeconds),
        WORK_QUEUE_MAX_RECEIVE_COUNT: String(env.budget[fn].queue.maxReceiveCount),
      });
    }
  });

  test("keeps its state in the state bucket, one key per stack, encrypted and locked with use_lockfile", () => {
    expect(stack().terraform.backend.s3).toEqual({
      bucket: projectConfig.state.bucketName,
      key: `pipeline-${env.name}/terraform.tfstate`,
      region: projectConfig.state.region,
      encrypt: true,
      use_lockfile: true,
    });
    expect(stack().terraform.backend.s3.bucket).not.toBe(env.workBucketName);
  });

  test("tags every resource through the provider's default tags", () => {
    expect(stack().provider.aws[0].default_tags[0].tags).toEqual({
      project: "fanout-pipeline",
      environment: env.name,
      "managed-by": "cdktf",
    });
  });
});

describe("environment validation at synth", () => {
  test.each([
    ["processor.chunkLines", (e: EnvironmentConfig) => ({ ...e, processor: { ...e.processor, chunkLines: 5_000_000 } }), "processor", 'CHUNK_LINES environment variable must be an integer between 1 and 1000000 (got "5000000")'],
    ["processor.chunkBytes", (e: EnvironmentConfig) => ({ ...e, processor: { ...e.processor, chunkBytes: 100 * 1024 ** 2 } }), "processor", 'CHUNK_BYTES environment variable must be an integer between 1 and 67108864 (got "104857600")'],
    ["fetch.maxRedirects", (e: EnvironmentConfig) => ({ ...e, fetch: { ...e.fetch, maxRedirects: 21 } }), "fetcher", 'FETCH_MAX_REDIRECTS environment variable must be an integer between 0 and 20 (got "21")'],
  ] as const)("refuses %s that the function would refuse at init, with the init's message", (_field, patch, fn, message) => {
    expect(() => buildApp({ ...projectConfig, environments: [devWith(patch)] })).toThrow(`function "fanout-pipeline-dev-${fn}" would fail its init: ${message}`);
  });

  test("refuses an account that is not 12 digits, naming the environment", () => {
    const bad = devWith((e) => ({ ...e, account: "1234" }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(/environment "dev": account must be a 12-digit AWS account id \(got "1234"\)/);
  });

  test("refuses two environments whose reserved concurrency overflows their shared account (rule 3), naming both", () => {
    const big = (e: ReturnType<typeof devWith>, name: string, bucket: string) => ({
      ...e,
      name,
      workBucketName: bucket,
      budget: { ...e.budget, fetcher: { ...e.budget.fetcher, reservedConcurrency: 420 }, processor: { ...e.budget.processor, reservedConcurrency: 420 } },
    });
    const a = big(devWith((e) => e), "dev", "bucket-a-example");
    const b = big(devWith((e) => e), "qa", "bucket-b-example");
    expect(() => buildApp({ ...projectConfig, environments: [a, b] })).toThrow(
      /budget rule 3: environments dev, qa share account 123456789012 in eu-west-1: their reserved concurrency \(dev 845 \+ qa 845 = 1690\) must be <= accountConcurrency - 100 \(900\)/,
    );
  });

  test("refuses a state bucket no one may use, and a principal that is not an IAM ARN", () => {
    expect(() => buildApp({ ...projectConfig, state: { ...projectConfig.state, terraformPrincipals: [] } })).toThrow(/state\.terraformPrincipals must name at least one role or user/);
    expect(() => buildApp({ ...projectConfig, state: { ...projectConfig.state, terraformPrincipals: ["admin"] } })).toThrow(/state\.terraformPrincipals: "admin" is not an IAM role or user ARN/);
  });

  test("refuses a work queue mapping above its worker's reserved concurrency (rule 8), naming the environment", () => {
    const bad = devWith((e) => ({ ...e, budget: { ...e.budget, fetcher: { ...e.budget.fetcher, queue: { ...e.budget.fetcher.queue, maximumConcurrency: 25 } } } }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(
      /environment "dev": concurrency budget refused:\n\s+budget rule 8: fetcher\.queue\.maximumConcurrency \(25\) must be an integer between 2 and fetcher\.reservedConcurrency \(20\)/,
    );
  });

  test("refuses more items per job than one SQS message can carry at the longest URL", () => {
    const bad = devWith((e) => ({ ...e, maxItemsPerJob: 600 }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(/budget rule range: a message of maxItemsPerJob \(600\) items with URLs of maxUrlLength \(2048\)/);
  });

  test("refuses an environment whose budget breaks a rule, naming the environment and the rule", () => {
    const bad = devWith((e) => ({ ...e, budget: { ...e.budget, fanout: { ...e.budget.fanout, reservedConcurrency: 4 } } }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(
      /environment "dev": concurrency budget refused:\n\s+budget rule 2: fanout\.reservedConcurrency \(4\) must be >= queue\.maximumConcurrency \(5\)/,
    );
  });

  test("refuses a work bucket that is the state bucket", () => {
    const bad = devWith((e) => ({ ...e, workBucketName: projectConfig.state.bucketName }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(/bucket "fanout-pipeline-tfstate-example" is used twice/);
  });

  test("refuses a single availability zone", () => {
    const bad = devWith((e) => ({ ...e, availabilityZones: ["eu-west-1a"] }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(/environment "dev": availabilityZones needs at least 2 zones \(got 1\)/);
  });

  test("refuses an availability zone outside the region", () => {
    const bad = devWith((e) => ({ ...e, availabilityZones: ["eu-west-1a", "us-east-1b"] }));
    expect(() => buildApp({ ...projectConfig, environments: [bad] })).toThrow(/availability zone "us-east-1b" is not in region eu-west-1/);
  });

  test("refuses two environments with one name", () => {
    const dev = devWith((e) => e);
    expect(() => buildApp({ ...projectConfig, environments: [dev, { ...dev, workBucketName: "other-bucket-name" }] })).toThrow(
      /environment name "dev" is used twice/,
    );
  });
});
