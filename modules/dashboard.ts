import { CloudwatchDashboard } from "@cdktf/provider-aws/lib/cloudwatch-dashboard";
import { Construct } from "constructs";
import { METRICS } from "../contract";

/** A metric as a dashboard line: namespace, name, then dimension name/value pairs, then options. */
export type MetricLine = [string, string, ...(string | { readonly label?: string; readonly stat?: string })[]];

export interface MetricWidget {
  readonly type: "metric";
  readonly width: number;
  readonly height: number;
  readonly properties: {
    readonly title: string;
    readonly region: string;
    readonly view: "timeSeries";
    readonly stat: "Sum" | "Maximum" | "Average";
    readonly period: number;
    readonly metrics: readonly MetricLine[];
    readonly annotations?: { readonly horizontal: readonly { readonly label: string; readonly value: number }[] };
    readonly yAxis?: { readonly left: { readonly min: number } };
  };
}

export interface TextWidget {
  readonly type: "text";
  readonly width: number;
  readonly height: number;
  readonly properties: { readonly markdown: string };
}

export interface DashboardBody {
  readonly widgets: readonly (MetricWidget | TextWidget)[];
}

export interface DashboardQueue {
  /** What the queue is for, e.g. "ingest". */
  readonly label: string;
  readonly queueName: string;
  readonly dlqName: string;
}

export interface DashboardFunction {
  /** fanout, fetcher or processor. */
  readonly label: string;
  readonly functionName: string;
  readonly reservedConcurrency: number;
  /** The maximum concurrency of the mapping that feeds it. */
  readonly mappingMaximumConcurrency: number;
}

export interface DashboardProps {
  /** Dashboard name: 1..255 characters of [A-Za-z0-9_-]. */
  readonly name: string;
  readonly region: string;
  readonly queues: readonly DashboardQueue[];
  readonly functions: readonly DashboardFunction[];
  /** The open-file-descriptor ceiling of the budget (rule 6), drawn as a line. */
  readonly fdCeiling: number;
  readonly stateMachineArn: string;
}

const PERIOD = 60;

/** The dashboard's body, built from typed widgets (exported for tests). */
export function dashboardBody(p: DashboardProps): DashboardBody {
  const metric = (
    title: string,
    stat: MetricWidget["properties"]["stat"],
    metrics: MetricLine[],
    horizontal: { label: string; value: number }[] = [],
  ): MetricWidget => ({
    type: "metric",
    width: 8,
    height: 6,
    properties: {
      title,
      region: p.region,
      view: "timeSeries",
      stat,
      period: PERIOD,
      metrics,
      ...(horizontal.length ? { annotations: { horizontal } } : {}),
      yAxis: { left: { min: 0 } },
    },
  });
  const widgets: (MetricWidget | TextWidget)[] = [
    {
      type: "text",
      width: 24,
      height: 2,
      properties: {
        markdown:
          `## ${p.name}\n` +
          "Work is admitted through queues: each function's concurrency stays at or under its mapping's maximum, throttles stay at 0, and a burst shows as queue depth, not as errors.",
      },
    },
  ];
  for (const q of p.queues) {
    widgets.push(
      metric(`${q.label} queue: depth`, "Maximum", [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.queueName, { label: "visible" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", q.queueName, { label: "in flight" }],
      ]),
      metric(`${q.label} queue: oldest message (s)`, "Maximum", [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", q.queueName]]),
      metric(`${q.label} DLQ: depth (expected 0)`, "Maximum", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", q.dlqName]]),
    );
  }
  for (const f of p.functions) {
    widgets.push(
      metric(
        `${f.label}: concurrent executions`,
        "Maximum",
        [["AWS/Lambda", "ConcurrentExecutions", "FunctionName", f.functionName]],
        [
          { label: "reserved concurrency", value: f.reservedConcurrency },
          { label: "mapping maximum", value: f.mappingMaximumConcurrency },
        ],
      ),
      metric(`${f.label}: throttles (expected 0) and errors`, "Sum", [
        ["AWS/Lambda", "Throttles", "FunctionName", f.functionName, { label: "throttles" }],
        ["AWS/Lambda", "Errors", "FunctionName", f.functionName, { label: "errors" }],
      ]),
      metric(
        `${f.label}: peak open file descriptors`,
        "Maximum",
        [[METRICS.namespace, METRICS.openFileDescriptors, "service", f.functionName]],
        [{ label: "budget ceiling (rule 6)", value: p.fdCeiling }],
      ),
    );
  }
  widgets.push(
    metric("executions", "Sum", [
      ["AWS/States", "ExecutionsStarted", "StateMachineArn", p.stateMachineArn, { label: "started" }],
      ["AWS/States", "ExecutionsSucceeded", "StateMachineArn", p.stateMachineArn, { label: "succeeded" }],
      ["AWS/States", "ExecutionsFailed", "StateMachineArn", p.stateMachineArn, { label: "failed" }],
    ]),
  );
  const processor = p.functions.find((f) => f.label === "processor");
  if (processor) {
    widgets.push(
      metric("items of finished jobs", "Sum", [
        [METRICS.namespace, METRICS.itemsSucceeded, "service", processor.functionName, { label: "succeeded" }],
        [METRICS.namespace, METRICS.itemsFailed, "service", processor.functionName, { label: "failed" }],
      ]),
    );
  }
  return { widgets };
}

/**
 * The operator's picture of one pipeline stack: every queue's depth, oldest
 * message and DLQ; per function concurrency against its reserved concurrency and
 * its mapping's maximum, throttles, peak open file descriptors against the
 * budget's ceiling; executions started, succeeded, failed; item outcomes.
 */
export class Dashboard extends Construct {
  constructor(scope: Construct, id: string, props: DashboardProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(props.name)) {
      throw new Error(`dashboard name ("${props.name}") must be 1..255 characters of [A-Za-z0-9_-]`);
    }
    if (props.queues.length === 0 || props.functions.length === 0) {
      throw new Error(`dashboard needs at least one queue and one function (given ${props.queues.length} and ${props.functions.length})`);
    }
    new CloudwatchDashboard(this, "dashboard", {
      dashboardName: props.name,
      dashboardBody: JSON.stringify(dashboardBody(props)),
    });
  }
}
