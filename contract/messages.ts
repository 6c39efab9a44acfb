/** What travels between the fanout, the state machine and the workers. */

/** The execution input: a pointer to the job in S3, never its items. */
export interface ExecutionInput {
  readonly jobId: string;
  readonly bucket: string;
  readonly manifestKey: string;
  readonly itemCount: number;
}

/**
 * The body of a work-queue message, as the state machine's
 * `sqs:sendMessage.waitForTaskToken` task sends it: the task token to answer
 * with, and the worker's input.
 */
export interface TaskMessage<I = unknown> {
  readonly taskToken: string;
  readonly input: I;
}

/** fetcher task input. */
export interface FetchTaskInput {
  readonly jobId: string;
  readonly index: number;
  readonly url: string;
}
/** processor task input: split one item's raw object. */
export interface ProcessTaskInput {
  readonly jobId: string;
  readonly index: number;
}
/** processor task input: build status.json from the item outcomes in S3. */
export interface FinalizeTaskInput {
  readonly action: "finalize";
  readonly jobId: string;
  readonly itemCount: number;
}
