/**
 * Security rules checked over the whole synthesized JSON of every stack:
 * whatever construct adds a resource, these hold.
 */
import { ENV } from "../contract";
import { projectConfig } from "../modules/config/environments";
import { allResources, resources, synthProject, type SynthResult, type TfJson } from "./helpers/synth";

let synth: SynthResult;
beforeAll(() => {
  synth = synthProject();
});
afterAll(() => synth.cleanup());

const stackNames = ["state", "pipeline-dev", "pipeline-prod"];
const pipelines = ["pipeline-dev", "pipeline-prod"];

/** The logical id a `${type.id.attr}` reference points at. */
const refId = (ref: string, type: string): string => {
  const m = String(ref).match(new RegExp(`\\$\\{${type}\\.([^.}]+)\\.`));
  if (!m) throw new Error(`${ref} is not a reference to a ${type}`);
  return m[1];
};

/** Every IAM policy document in a stack (role policies, bucket/queue/topic policies), parsed. */
function policies(stack: TfJson): { where: string; doc: TfJson }[] {
  const out: { where: string; doc: TfJson }[] = [];
  for (const [type, id, cfg] of allResources(stack)) {
    for (const attr of ["policy", "assume_role_policy"]) {
      if (typeof cfg[attr] === "string" && cfg[attr].trim().startsWith("{")) {
        out.push({ where: `${type}.${id}.${attr}`, doc: JSON.parse(cfg[attr]) });
      }
    }
  }
  return out;
}
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Actions AWS offers no resource-level permission for; only these may use Resource "*". */
const STAR_RESOURCE_ALLOWED = new Set([
  "xray:PutTraceSegments",
  "xray:PutTelemetryRecords",
  "xray:GetSamplingRules",
  "xray:GetSamplingTargets",
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
  "logs:CreateLogDelivery",
  "logs:GetLogDelivery",
  "logs:UpdateLogDelivery",
  "logs:DeleteLogDelivery",
  "logs:ListLogDeliveries",
  "logs:PutResourcePolicy",
  "logs:DescribeResourcePolicies",
  "logs:DescribeLogGroups",
  // Task-token answers: IAM accepts only "*" (the isolated VPC's endpoint policy scopes them by principal).
  "states:SendTaskSuccess",
  "states:SendTaskFailure",
  "states:SendTaskHeartbeat",
]);

/**
 * A KMS key policy's `Resource: "*"` means the key itself, and AWS's default
 * statement gives the account's root `kms:*` so IAM can manage the key: the one
 * statement where a wildcard is the rule. Checked separately below.
 */
const isKeyAdministration = (where: string, st: TfJson) =>
  where.startsWith("aws_kms_key.") && st.Sid === "AccountAdministersTheKey" && /^arn:aws:iam::\d{12}:root$/.test(st.Principal?.AWS);

describe.each(stackNames)("%s: IAM", (name) => {
  test("no policy allows Action \"*\" or a service wildcard like \"s3:*\" (but a key's root administration)", () => {
    for (const { where, doc } of policies(synth.stacks[name])) {
      for (const st of asList(doc.Statement) as TfJson[]) {
        if (st.Effect !== "Allow" || isKeyAdministration(where, st)) continue;
        for (const action of asList(st.Action) as string[]) {
          expect({ where, action, star: action === "*" || action.endsWith(":*") }).toEqual({ where, action, star: false });
        }
      }
    }
  });

  test("Resource \"*\" appears only with actions that have no narrower resource (a key policy's \"*\" is the key)", () => {
    for (const { where, doc } of policies(synth.stacks[name])) {
      if (where.startsWith("aws_kms_key.")) continue;
      for (const st of asList(doc.Statement) as TfJson[]) {
        if (st.Effect !== "Allow" || !asList(st.Resource).includes("*")) continue;
        for (const action of asList(st.Action) as string[]) {
          expect({ where, action, allowed: STAR_RESOURCE_ALLOWED.has(action) }).toEqual({ where, action, allowed: true });
        }
      }
    }
  });
});

describe.each(stackNames)("%s: S3", (name) => {
  const stack = () => synth.stacks[name];

  test("every bucket blocks public access, is encrypted, versioned and owner-enforced", () => {
    const buckets = resources(stack(), "aws_s3_bucket");
    expect(buckets.length).toBeGreaterThan(0);
    for (const [id] of buckets) {
      const on = (type: string) => resources(stack(), type).filter(([, c]) => refId(c.bucket, "aws_s3_bucket") === id);
      const [[, pab]] = on("aws_s3_bucket_public_access_block");
      expect(pab).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
      const [[, sse]] = on("aws_s3_bucket_server_side_encryption_configuration");
      expect(["AES256", "aws:kms"]).toContain(sse.rule[0].apply_server_side_encryption_by_default.sse_algorithm);
      const [[, ver]] = on("aws_s3_bucket_versioning");
      expect(ver.versioning_configuration.status).toBe("Enabled");
      const [[, own]] = on("aws_s3_bucket_ownership_controls");
      expect(own.rule.object_ownership).toBe("BucketOwnerEnforced");
      expect(on("aws_s3_bucket_lifecycle_configuration")).toHaveLength(1);
    }
  });

  test("every bucket policy denies requests not made over TLS, on the bucket and its objects", () => {
    for (const [id] of resources(stack(), "aws_s3_bucket")) {
      const [[, pol]] = resources(stack(), "aws_s3_bucket_policy").filter(([, c]) => refId(c.bucket, "aws_s3_bucket") === id);
      const deny = (JSON.parse(pol.policy).Statement as TfJson[]).find(
        (s) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false",
      );
      expect(deny).toBeDefined();
      expect(asList(deny!.Action)).toContain("s3:*");
      expect(asList(deny!.Resource)).toEqual(expect.arrayContaining([`\${aws_s3_bucket.${id}.arn}`, `\${aws_s3_bucket.${id}.arn}/*`]));
    }
  });
});

describe("state bucket", () => {
  test("is protected from destroy and expires old versions", () => {
    const [[id, bucket]] = resources(synth.stacks.state, "aws_s3_bucket");
    expect(bucket.bucket).toBe(projectConfig.state.bucketName);
    expect(bucket.lifecycle).toEqual({ prevent_destroy: true });
    const [[, lc]] = resources(synth.stacks.state, "aws_s3_bucket_lifecycle_configuration");
    expect(refId(lc.bucket, "aws_s3_bucket")).toBe(id);
    expect(JSON.stringify(lc.rule)).toMatch(/noncurrent_version_expiration/);
  });

  test("is not the work bucket of any environment, and holds no pipeline resource", () => {
    for (const p of pipelines) {
      const work = resources(synth.stacks[p], "aws_s3_bucket").map(([, b]) => b.bucket);
      expect(work).not.toContain(projectConfig.state.bucketName);
      expect(synth.stacks[p].terraform.backend.s3.bucket).toBe(projectConfig.state.bucketName);
    }
    expect(Object.keys(synth.stacks.state.resource).filter((t) => !t.startsWith("aws_s3_bucket"))).toEqual([]);
  });
});

describe.each(pipelines)("%s: queues, network, functions", (name) => {
  const stack = () => synth.stacks[name];

  test("every queue (ingest and each work queue) is encrypted and TLS-only, and redrives to a DLQ of its own that accepts only it", () => {
    const queues = resources(stack(), "aws_sqs_queue");
    const byName = Object.fromEntries(queues.map(([id, q]) => [q.name as string, id]));
    const sources = queues.filter(([, q]) => !q.name.endsWith("-dlq"));
    expect(sources.map(([, q]) => q.name.split("-").pop()).sort()).toEqual(["fetch", "ingest", "process"]);
    for (const [id, q] of queues) {
      expect(q.sqs_managed_sse_enabled).toBe(true);
      const [[, pol]] = resources(stack(), "aws_sqs_queue_policy").filter(([, p]) => refId(p.queue_url, "aws_sqs_queue") === id);
      expect(pol.policy).toMatch(/"aws:SecureTransport":"false"/);
    }
    const allows = resources(stack(), "aws_sqs_queue_redrive_allow_policy");
    for (const [id, q] of sources) {
      const dlqId = byName[`${q.name}-dlq`];
      expect(dlqId).toBeDefined();
      const redrive = JSON.parse(q.redrive_policy);
      expect(redrive.deadLetterTargetArn).toBe(`\${aws_sqs_queue.${dlqId}.arn}`);
      expect(redrive.maxReceiveCount).toBeGreaterThan(0);
      const [[, allow]] = allows.filter(([, a]) => refId(a.queue_url, "aws_sqs_queue") === dlqId);
      expect(JSON.parse(allow.redrive_allow_policy)).toEqual({ redrivePermission: "byQueue", sourceQueueArns: [`\${aws_sqs_queue.${id}.arn}`] });
    }
  });

  test("every queue is consumed through a mapping whose maximum concurrency stays within its function's reserved concurrency", () => {
    const fns = Object.fromEntries(resources(stack(), "aws_lambda_function"));
    const mappings = resources(stack(), "aws_lambda_event_source_mapping");
    expect(mappings).toHaveLength(3);
    for (const [, m] of mappings) {
      const fn = fns[refId(m.function_name, "aws_lambda_function")];
      expect(m.scaling_config.maximum_concurrency).toBeGreaterThanOrEqual(2);
      expect(m.scaling_config.maximum_concurrency).toBeLessThanOrEqual(fn.reserved_concurrent_executions);
      expect(m.function_response_types).toEqual(["ReportBatchItemFailures"]);
    }
  });

  test("no function's security group has ingress; the one ingress rule admits the processor to the Step Functions endpoint on 443", () => {
    expect(resources(stack(), "aws_security_group_rule").filter(([, r]) => r.type === "ingress")).toEqual([]);
    for (const type of ["aws_security_group", "aws_default_security_group"]) {
      for (const [, sg] of resources(stack(), type)) expect(sg.ingress ?? []).toEqual([]);
    }
    const groups = Object.fromEntries(resources(stack(), "aws_security_group").map(([id, g]) => [id, g.name as string]));
    const ingress = resources(stack(), "aws_vpc_security_group_ingress_rule");
    expect(ingress).toHaveLength(1);
    const [[, rule]] = ingress;
    expect(groups[refId(rule.security_group_id, "aws_security_group")]).toMatch(/-sfn-endpoint$/);
    expect(groups[refId(rule.referenced_security_group_id, "aws_security_group")]).toMatch(/-processor$/);
    expect(rule).toMatchObject({ ip_protocol: "tcp", from_port: 443, to_port: 443 });
    expect(rule.cidr_ipv4).toBeUndefined();
  });

  test("the isolated VPC reaches Step Functions through a private interface endpoint whose policy allows only the processor's task-token calls", () => {
    const isolated = resources(stack(), "aws_vpc").find(([, v]) => v.tags?.Name?.includes("isolated"))!;
    const [[endpointId, endpoint]] = resources(stack(), "aws_vpc_endpoint").filter(([, e]) => String(e.service_name).endsWith(".states"));
    expect(endpoint).toMatchObject({ vpc_endpoint_type: "Interface", private_dns_enabled: true, vpc_id: `\${aws_vpc.${isolated[0]}.id}` });
    const [[, policy]] = resources(stack(), "aws_vpc_endpoint_policy").filter(([, p]) => refId(p.vpc_endpoint_id, "aws_vpc_endpoint") === endpointId);
    const statements = JSON.parse(policy.policy).Statement as TfJson[];
    expect(statements).toHaveLength(1);
    expect([...asList(statements[0].Action)].sort()).toEqual(["states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"]);
    expect(statements[0].Effect).toBe("Allow");
    const processorRole = resources(stack(), "aws_iam_role").find(([, r]) => String(r.name).endsWith("-processor-role"))!;
    expect(statements[0].Principal).toEqual({ AWS: [`\${aws_iam_role.${processorRole[0]}.arn}`] });
  });

  test("the isolated VPC has no internet gateway, no NAT and no route out", () => {
    const isolated = resources(stack(), "aws_vpc").find(([, v]) => v.tags?.Name?.includes("isolated"))!;
    const vpcRef = `\${aws_vpc.${isolated[0]}.id}`;
    expect(resources(stack(), "aws_internet_gateway").filter(([, g]) => g.vpc_id === vpcRef)).toEqual([]);
    const isolatedSubnets = resources(stack(), "aws_subnet").filter(([, s]) => s.vpc_id === vpcRef).map(([id]) => id);
    expect(isolatedSubnets.length).toBeGreaterThanOrEqual(2);
    for (const [, nat] of resources(stack(), "aws_nat_gateway")) {
      expect(isolatedSubnets).not.toContain(refId(nat.subnet_id, "aws_subnet"));
    }
    const tables = resources(stack(), "aws_route_table").filter(([, t]) => t.vpc_id === vpcRef).map(([id]) => id);
    expect(tables.length).toBeGreaterThan(0);
    for (const [, t] of resources(stack(), "aws_route_table").filter(([, t]) => t.vpc_id === vpcRef)) {
      expect(t.route ?? []).toEqual([]);
    }
    const routesOut = resources(stack(), "aws_route").filter(([, r]) => tables.includes(refId(r.route_table_id, "aws_route_table")));
    expect(routesOut).toEqual([]);
  });

  test("every function has a log group with retention, reserved concurrency, tracing, Node.js 22 on arm64", () => {
    const groups = Object.fromEntries(resources(stack(), "aws_cloudwatch_log_group").map(([id, g]) => [id, g]));
    const fns = resources(stack(), "aws_lambda_function");
    expect(fns).toHaveLength(3);
    for (const [, fn] of fns) {
      expect(fn.reserved_concurrent_executions).toBeGreaterThan(0);
      expect(fn.runtime).toBe("nodejs22.x");
      expect(fn.architectures).toEqual(["arm64"]);
      expect(fn.tracing_config).toEqual({ mode: "Active" });
      const group = groups[refId(fn.logging_config.log_group, "aws_cloudwatch_log_group")];
      expect(group.name).toBe(`/aws/lambda/${fn.function_name}`);
      expect(group.retention_in_days).toBeGreaterThan(0);
    }
  });

  test("no function's environment disables the fetcher's private-address guard", () => {
    for (const [, fn] of resources(stack(), "aws_lambda_function")) {
      expect(Object.keys(fn.environment.variables)).not.toContain(ENV.fetchAllowPrivate);
    }
    expect(JSON.stringify(stack())).not.toContain(ENV.fetchAllowPrivate);
  });

  test("function roles reach S3 only under the key prefixes their code uses", () => {
    for (const { where, doc } of policies(stack())) {
      if (!where.startsWith("aws_iam_role_policy.")) continue;
      for (const st of asList(doc.Statement) as TfJson[]) {
        for (const action of asList(st.Action) as string[]) {
          if (!action.startsWith("s3:") || action === "s3:ListBucket") continue;
          for (const r of asList(st.Resource) as string[]) expect(r).toMatch(/\.arn\}\/(jobs\/\*\/|rejected\/\*)/);
        }
      }
    }
  });
});

describe.each(pipelines)("%s: hardening", (name) => {
  const stack = () => synth.stacks[name];
  const roleNamed = (suffix: string) => resources(stack(), "aws_iam_role").find(([, r]) => String(r.name).endsWith(suffix))!;

  test("every SNS topic is encrypted with a rotated customer managed key, and only our alarms may publish", () => {
    const keys = Object.fromEntries(resources(stack(), "aws_kms_key"));
    const topics = resources(stack(), "aws_sns_topic");
    expect(topics.length).toBeGreaterThan(0);
    for (const [id, topic] of topics) {
      const key = keys[refId(topic.kms_master_key_id, "aws_kms_key")];
      expect(key.enable_key_rotation).toBe(true);
      const [[, pol]] = resources(stack(), "aws_sns_topic_policy").filter(([, p]) => refId(p.arn, "aws_sns_topic") === id);
      for (const st of (JSON.parse(pol.policy).Statement as TfJson[]).filter((s) => s.Effect === "Allow")) {
        expect(st.Condition?.StringEquals?.["aws:SourceAccount"]).toMatch(/^\d{12}$/);
        expect(st.Condition?.ArnLike?.["aws:SourceArn"]).toMatch(/^arn:aws:cloudwatch:[a-z0-9-]+:\d{12}:alarm:fanout-pipeline-[a-z0-9]+-\*$/);
      }
    }
  });

  test("every role a service other than Lambda assumes is bound to our account (aws:SourceAccount), Step Functions' to our state machine too", () => {
    for (const [id, role] of resources(stack(), "aws_iam_role")) {
      for (const st of JSON.parse(role.assume_role_policy).Statement as TfJson[]) {
        const service = st.Principal?.Service;
        // Lambda execution roles are assumed by the Lambda service for the function itself: AWS documents no source condition for them.
        if (service === "lambda.amazonaws.com") continue;
        expect({ id, service, account: st.Condition?.StringEquals?.["aws:SourceAccount"] }).toEqual({ id, service, account: expect.anything() });
        if (service === "states.amazonaws.com") {
          for (const arn of asList(st.Condition.ArnLike["aws:SourceArn"]) as string[]) expect(arn).toMatch(/:(stateMachine|mapRun):fanout-pipeline-[a-z0-9]+(\/\*)?$/);
        }
      }
    }
  });

  test("both S3 gateway endpoints have a policy that names the work bucket only, and the actions its VPC's function uses", () => {
    const [[bucketId]] = resources(stack(), "aws_s3_bucket");
    const gateways = resources(stack(), "aws_vpc_endpoint").filter(([, e]) => e.vpc_endpoint_type === "Gateway");
    expect(gateways).toHaveLength(2);
    const policies = resources(stack(), "aws_vpc_endpoint_policy");
    const actionsOf = (endpointName: string) => {
      const [gatewayId] = gateways.find(([, e]) => String(e.tags?.Name).endsWith(endpointName))!;
      const [[, pol]] = policies.filter(([, p]) => refId(p.vpc_endpoint_id, "aws_vpc_endpoint") === gatewayId);
      const statements = JSON.parse(pol.policy).Statement as TfJson[];
      for (const st of statements) {
        expect(st.Effect).toBe("Allow");
        for (const r of asList(st.Resource) as string[]) expect(r).toMatch(new RegExp(`^\\$\\{aws_s3_bucket\\.${bucketId}\\.arn\\}(/jobs/.+)?$`));
      }
      return statements.flatMap((st) => asList(st.Action) as string[]).sort();
    };
    expect(actionsOf("-egress-s3")).toEqual(["s3:AbortMultipartUpload", "s3:PutObject"]);
    expect(actionsOf("-isolated-s3")).toEqual(["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
  });

  test("the work bucket refuses the fetcher's and the processor's credentials unless the request comes through their VPC's endpoint", () => {
    const [[, pol]] = resources(stack(), "aws_s3_bucket_policy");
    const statements = JSON.parse(pol.policy).Statement as TfJson[];
    const endpointOf = (suffix: string) => `\${aws_vpc_endpoint.${resources(stack(), "aws_vpc_endpoint").find(([, e]) => String(e.tags?.Name).endsWith(suffix))![0]}.id}`;
    for (const [role, endpoint] of [["-fetcher-role", "-egress-s3"], ["-processor-role", "-isolated-s3"]]) {
      const roleArn = `\${aws_iam_role.${roleNamed(role)[0]}.arn}`;
      const deny = statements.find((st) => st.Effect === "Deny" && asList(st.Condition?.ArnEquals?.["aws:PrincipalArn"]).includes(roleArn));
      expect(deny).toMatchObject({ Action: "s3:*", Condition: { StringNotEquals: { "aws:SourceVpce": endpointOf(endpoint) } } });
    }
  });

  test("the state machine logs no execution data (URLs and their query strings stay out of CloudWatch Logs)", () => {
    for (const [, sm] of resources(stack(), "aws_sfn_state_machine")) expect(sm.logging_configuration.include_execution_data).toBe(false);
  });

  test("the fetcher's subnets sit behind a network ACL that drops private, loopback, link-local and CGNAT destinations", () => {
    const [[, fetcher]] = resources(stack(), "aws_lambda_function").filter(([, f]) => f.function_name.endsWith("-fetcher"));
    const [[aclId, acl]] = resources(stack(), "aws_network_acl");
    expect([...acl.subnet_ids].sort()).toEqual([...fetcher.vpc_config.subnet_ids].sort());
    const egress = resources(stack(), "aws_network_acl_rule")
      .filter(([, r]) => refId(r.network_acl_id, "aws_network_acl") === aclId && r.egress)
      .map(([, r]) => r)
      .sort((a, b) => a.rule_number - b.rule_number);
    const allowAll = egress.findIndex((r) => r.cidr_block === "0.0.0.0/0");
    for (const cidr of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10"]) {
      const i = egress.findIndex((r) => r.cidr_block === cidr);
      expect({ cidr, action: egress[i]?.rule_action, beforeAllowAll: i < allowAll }).toEqual({ cidr, action: "deny", beforeAllowAll: true });
    }
  });
});

describe("state bucket access", () => {
  test("denies every principal but those that run Terraform", () => {
    const [[, pol]] = resources(synth.stacks.state, "aws_s3_bucket_policy");
    const deny = (JSON.parse(pol.policy).Statement as TfJson[]).find((st) => st.Condition?.ArnNotLike);
    expect(deny).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Condition: { ArnNotLike: { "aws:PrincipalArn": [...projectConfig.state.terraformPrincipals] } } });
  });
});
