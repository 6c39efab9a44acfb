import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { SfnStateMachine } from "@cdktf/provider-aws/lib/sfn-state-machine";
import { Token } from "cdktf";
import { Construct } from "constructs";
import { KEYS } from "../../functions/shared/contract";
import { assumeRolePolicy, policyDocument } from "../iam";
import { assertRetentionDays } from "../retention";
import type { StateMachineDefinition } from "./asl";
import { buildDefinition, type DefinitionProps } from "./definition";

export interface WorkflowProps extends DefinitionProps {
  /** ARN of the work bucket: the state machine may write a job's status.json there when Finalize fails. */
  readonly workBucketArn: string;
  /** State machine name. 1..80 characters of [A-Za-z0-9_-]. */
  readonly name: string;
  /** Retention of the state machine's log group; a value CloudWatch accepts. */
  readonly logRetentionDays: number;
  /**
   * Execution log level. ERROR keeps failures without the payloads of every step.
   * @default "ERROR"
   */
  readonly logLevel?: "ALL" | "ERROR" | "FATAL";
}

/**
 * The STANDARD state machine (execution names dedupe job starts), its role
 * (invoke the two task functions only), CloudWatch logging and X-Ray tracing.
 */
export class Workflow extends Construct {
  readonly stateMachineArn: string;
  readonly stateMachineName: string;
  /** The definition as built (with ARN tokens), for tests and the local runner. */
  readonly definition: StateMachineDefinition;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(props.name)) {
      throw new Error(`name ("${props.name}") must be 1..80 characters of [A-Za-z0-9_-]`);
    }
    assertRetentionDays("logRetentionDays", props.logRetentionDays);
    if (!Token.isUnresolved(props.mapMaxConcurrency) && !(props.mapMaxConcurrency >= 1 && props.mapMaxConcurrency <= 40)) {
      throw new Error(`mapMaxConcurrency (${props.mapMaxConcurrency}) must be between 1 and 40: 0 means unlimited`);
    }

    this.definition = buildDefinition(props);

    const logGroup = new CloudwatchLogGroup(this, "logs", {
      name: `/aws/vendedlogs/states/${props.name}`,
      retentionInDays: props.logRetentionDays,
    });
    const role = new IamRole(this, "role", {
      name: `${props.name}-sfn`,
      assumeRolePolicy: assumeRolePolicy("states.amazonaws.com"),
    });
    const policy = new IamRolePolicy(this, "policy", {
      name: `${props.name}-sfn-policy`,
      role: role.name,
      policy: policyDocument([
        {
          Sid: "InvokeTaskFunctions",
          Effect: "Allow",
          Action: "lambda:InvokeFunction",
          Resource: [props.fetcherArn, `${props.fetcherArn}:*`, props.processorArn, `${props.processorArn}:*`],
        },
        {
          Sid: "RecordFinalizeFailure",
          Effect: "Allow",
          Action: "s3:PutObject",
          Resource: `${props.workBucketArn}/${KEYS.status("*")}`,
        },
        {
          // CloudWatch Logs delivery for Step Functions supports no resource-level permissions.
          Sid: "LogDelivery",
          Effect: "Allow",
          Action: [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
          ],
          Resource: "*",
        },
        {
          // X-Ray has no resource-level permissions.
          Sid: "Tracing",
          Effect: "Allow",
          Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"],
          Resource: "*",
        },
      ]),
    });

    const machine = new SfnStateMachine(this, "state-machine", {
      name: props.name,
      type: "STANDARD",
      roleArn: role.arn,
      definition: JSON.stringify(this.definition),
      loggingConfiguration: {
        logDestination: `${logGroup.arn}:*`,
        includeExecutionData: true,
        level: props.logLevel ?? "ERROR",
      },
      tracingConfiguration: { enabled: true },
      dependsOn: [policy],
    });
    this.stateMachineArn = machine.arn;
    this.stateMachineName = machine.name;
  }
}
