import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaEventSourceMapping } from "@cdktf/provider-aws/lib/lambda-event-source-mapping";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { ENV, METRICS } from "../contract";
import { bundleFunction, type FunctionName } from "./bundle";
import { budgetVariables, type FunctionBudget } from "./config/budget";
import { assumeRolePolicy, policyDocument, type PolicyStatement } from "./iam";
import { initError } from "./function-environment";
import { assertRetentionDays } from "./retention";

export interface PipelineFunctionProps {
  /** Lambda function name. 1..64 characters of [A-Za-z0-9_-]. */
  readonly functionName: string;
  /** Which `functions/<name>/handler.ts` to bundle and deploy. */
  readonly source: FunctionName;
  /** This function's part of the concurrency budget (already validated by the stack); it becomes its bounds' environment variables (`budgetVariables`). */
  readonly budget: FunctionBudget;
  /**
   * Extra environment variables (WORK_BUCKET and the like). The budget's variables
   * are added by the construct. `FETCH_ALLOW_PRIVATE` is refused: it is for tests only.
   * @default {}
   */
  readonly environment?: Readonly<Record<string, string>>;
  /** CloudWatch Logs retention of `/aws/lambda/<name>`; a value CloudWatch accepts. */
  readonly logRetentionDays: number;
  /** Run in these subnets with these security groups. @default no VPC */
  readonly vpc?: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
  /** The least-privilege permissions the code needs, beyond logs, X-Ray and VPC networking. */
  readonly statements: readonly PolicyStatement[];
}

/**
 * One Lambda function of the pipeline: the esbuild bundle of its handler,
 * Node.js 22 on arm64, reserved concurrency and socket bounds from the budget,
 * its own log group with retention, X-Ray tracing and a least-privilege role.
 */
export class PipelineFunction extends Construct {
  readonly functionName: string;
  readonly functionArn: string;
  readonly roleName: string;
  readonly roleArn: string;
  readonly logGroupName: string;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.functionName)) {
      throw new Error(`functionName ("${props.functionName}") must be 1..64 characters of [A-Za-z0-9_-]`);
    }
    assertRetentionDays("logRetentionDays", props.logRetentionDays);
    const extra = props.environment ?? {};
    if (ENV.fetchAllowPrivate in extra) {
      throw new Error(`environment must not set ${ENV.fetchAllowPrivate}: it exempts origins from the fetcher's private-address guard and from the fetch port rule (fetcher and fanout), and is for local tests only`);
    }
    if (props.vpc && (props.vpc.subnetIds.length === 0 || props.vpc.securityGroupIds.length === 0)) {
      throw new Error(`vpc needs at least one subnet and one security group (got ${props.vpc.subnetIds.length} subnets, ${props.vpc.securityGroupIds.length} security groups)`);
    }

    const b = props.budget;
    const variables: Record<string, string> = {
      ...extra,
      ...budgetVariables(b),
      POWERTOOLS_SERVICE_NAME: props.functionName,
      POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
      NODE_OPTIONS: "--enable-source-maps",
    };
    // Synth fails where the function's init would, with the same message.
    const refused = initError(props.source, variables);
    if (refused !== undefined) throw new Error(`function "${props.functionName}" would fail its init: ${refused}`);

    const name = props.functionName;
    const logGroup = new CloudwatchLogGroup(this, "logs", {
      name: `/aws/lambda/${name}`,
      retentionInDays: props.logRetentionDays,
    });

    const role = new IamRole(this, "role", {
      name: `${name}-role`,
      assumeRolePolicy: assumeRolePolicy("lambda.amazonaws.com"),
    });
    const statements: PolicyStatement[] = [
      { Sid: "Logs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroup.arn}:*` },
      // X-Ray has no resource-level permissions: "*" is the only value AWS accepts.
      { Sid: "Tracing", Effect: "Allow", Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], Resource: "*" },
      ...props.statements,
    ];
    if (props.vpc) {
      // Lambda's ENI management; AWS documents these with Resource "*" (AWSLambdaVPCAccessExecutionRole).
      statements.push({
        Sid: "VpcNetworking",
        Effect: "Allow",
        Action: [
          "ec2:CreateNetworkInterface",
          "ec2:DescribeNetworkInterfaces",
          "ec2:DescribeSubnets",
          "ec2:DeleteNetworkInterface",
          "ec2:AssignPrivateIpAddresses",
          "ec2:UnassignPrivateIpAddresses",
        ],
        Resource: "*",
      });
    }
    const policy = new IamRolePolicy(this, "policy", {
      name: `${name}-policy`,
      role: role.name,
      policy: policyDocument(statements),
    });

    const bundle = bundleFunction(props.source);
    const asset = new TerraformAsset(this, "bundle", { path: bundle.zipPath, type: AssetType.FILE });
    const fn = new LambdaFunction(this, "function", {
      functionName: name,
      description: `fanout pipeline: ${props.source}`,
      role: role.arn,
      runtime: "nodejs22.x",
      architectures: ["arm64"],
      handler: "index.handler",
      filename: asset.path,
      sourceCodeHash: bundle.zipSha256,
      memorySize: b.memoryMb,
      timeout: b.timeoutSeconds,
      reservedConcurrentExecutions: b.reservedConcurrency,
      tracingConfig: { mode: "Active" },
      loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
      environment: { variables },
      vpcConfig: props.vpc
        ? { subnetIds: [...props.vpc.subnetIds], securityGroupIds: [...props.vpc.securityGroupIds] }
        : undefined,
      dependsOn: [logGroup, policy],
    });

    this.functionName = fn.functionName;
    this.functionArn = fn.arn;
    this.roleName = role.name;
    this.roleArn = role.arn;
    this.logGroupName = logGroup.name;
  }

  /**
   * Consume a queue through an event source mapping: at most
   * `maximumConcurrency` invocations at once (never above reserved concurrency:
   * the budget checks it), partial batch responses. The role needs the queue's
   * `consumeStatement` among its statements.
   */
  consumeQueue(id: string, queueArn: string, options: { batchSize: number; maximumConcurrency: number; maximumBatchingWindowSeconds?: number }): void {
    new LambdaEventSourceMapping(this, id, {
      eventSourceArn: queueArn,
      functionName: this.functionArn,
      batchSize: options.batchSize,
      maximumBatchingWindowInSeconds: options.maximumBatchingWindowSeconds ?? 0,
      functionResponseTypes: ["ReportBatchItemFailures"],
      scalingConfig: { maximumConcurrency: options.maximumConcurrency },
    });
  }
}
