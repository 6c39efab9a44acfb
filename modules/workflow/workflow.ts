import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { SfnStateMachine } from "@cdktf/provider-aws/lib/sfn-state-machine";
import { Fn, Token } from "cdktf";
import { Construct } from "constructs";
import { KEYS } from "../../contract";
import { BudgetError, DISTRIBUTED_MAP_MAX_CONCURRENCY } from "../config/budget";
import { assumeRolePolicy, objectGrant, policyDocument } from "../iam";
import { assertRetentionDays } from "../retention";
import type { StateMachineDefinition } from "./asl";
import { buildDefinition, type DefinitionProps, type TaskQueue } from "./definition";
import { workflowLimitViolations } from "./limits";

/** A work queue as the workflow needs it: where to send, and what IAM names. */
export interface WorkflowQueue extends TaskQueue {
  readonly queueArn: string;
}

export interface WorkflowProps extends DefinitionProps {
  readonly fetchQueue: WorkflowQueue;
  readonly processQueue: WorkflowQueue;
  /**
   * ARN of the work bucket: the state machine reads a job's manifest there (the
   * Map's item reader), writes the map run's results, failed items' outcomes and,
   * when Finalize fails, status.json.
   */
  readonly workBucketArn: string;
  /** Items a job may have, and the longest URL: the payload rule (10) is checked at these. */
  readonly maxItemsPerJob: number;
  readonly maxUrlLength: number;
  /** State machine name. 1..80 characters of [A-Za-z0-9_-]. */
  readonly name: string;
  /** Account (12 digits) and region of the state machine: its role trusts only it (confused-deputy conditions). */
  readonly account: string;
  readonly region: string;
  /**
   * Write each state's input and output into the log group. They carry URLs,
   * query strings and all: off unless an environment asks for it.
   * @default false
   */
  readonly logExecutionData?: boolean;
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
 * (send to the two work queues, run its own Distributed Map children, the S3
 * keys it reads and writes), CloudWatch logging and X-Ray tracing. Refuses, at
 * synth, a definition that could pass Step Functions' payload or history limit.
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
    if (!Token.isUnresolved(props.mapMaxConcurrency) && !(props.mapMaxConcurrency >= 1 && props.mapMaxConcurrency <= DISTRIBUTED_MAP_MAX_CONCURRENCY)) {
      throw new Error(`mapMaxConcurrency (${props.mapMaxConcurrency}) must be between 1 and ${DISTRIBUTED_MAP_MAX_CONCURRENCY}: 0 means unlimited`);
    }

    this.definition = buildDefinition(props);
    const violations = workflowLimitViolations({ definition: this.definition, maxItemsPerJob: props.maxItemsPerJob, maxUrlLength: props.maxUrlLength });
    if (violations.length > 0) throw new BudgetError(violations);

    const logGroup = new CloudwatchLogGroup(this, "logs", {
      name: `/aws/vendedlogs/states/${props.name}`,
      retentionInDays: props.logRetentionDays,
    });
    if (!/^\d{12}$/.test(props.account)) throw new Error(`account ("${props.account}") must be a 12-digit AWS account id`);
    const role = new IamRole(this, "role", {
      name: `${props.name}-sfn`,
      // Only this state machine may assume the role: its executions, and its Distributed Map's child
      // executions, which may come under the map run's ARN (`mapRun:<name>/<label>:<id>`).
      assumeRolePolicy: assumeRolePolicy("states.amazonaws.com", {
        StringEquals: { "aws:SourceAccount": props.account },
        ArnLike: {
          "aws:SourceArn": [
            `arn:aws:states:${props.region}:${props.account}:stateMachine:${props.name}`,
            `arn:aws:states:${props.region}:${props.account}:stateMachine:${props.name}/*`,
            `arn:aws:states:${props.region}:${props.account}:mapRun:${props.name}/*`,
          ],
        },
      }),
    });
    const policy = new IamRolePolicy(this, "policy", {
      name: `${props.name}-sfn-policy`,
      role: role.name,
      policy: policyDocument([
        {
          Sid: "SendToWorkQueues",
          Effect: "Allow",
          Action: "sqs:SendMessage",
          Resource: [props.fetchQueue.queueArn, props.processQueue.queueArn],
        },
        objectGrant("ReadManifests", "s3:GetObject", props.workBucketArn, [KEYS.manifest("*")]),
        objectGrant(
          "WriteMapRunResults",
          ["s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
          props.workBucketArn,
          [`${KEYS.mapResults("*")}/*`],
        ),
        objectGrant("RecordOutcomes", "s3:PutObject", props.workBucketArn, [KEYS.failure("*", "*"), KEYS.status("*")]),
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
        includeExecutionData: props.logExecutionData ?? false,
        level: props.logLevel ?? "ERROR",
      },
      tracingConfiguration: { enabled: true },
      dependsOn: [policy],
    });
    // The Distributed Map runs its items as child executions of this state machine.
    // A policy of its own, so the role can name the machine without a cycle.
    new IamRolePolicy(this, "map-run-policy", {
      name: `${props.name}-sfn-map-run`,
      role: role.name,
      // jsonencode: the execution ARN is a Terraform expression with quotes of its own.
      policy: Fn.jsonencode({
        Version: "2012-10-17",
        Statement: [
          { Sid: "StartChildExecutions", Effect: "Allow", Action: "states:StartExecution", Resource: machine.arn },
          {
            Sid: "ManageChildExecutions",
            Effect: "Allow",
            Action: ["states:DescribeExecution", "states:StopExecution"],
            Resource: `${Fn.replace(machine.arn, ":stateMachine:", ":execution:")}/*`,
          },
        ],
      }),
    });
    this.stateMachineArn = machine.arn;
    this.stateMachineName = machine.name;
  }
}
