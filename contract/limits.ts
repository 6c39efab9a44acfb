/** AWS's limits the pipeline is built to stay under (checked at synth, enforced by the local runner). */

/** Step Functions' limit on any state's input or output (and the execution's), in bytes. */
export const SFN_MAX_PAYLOAD_BYTES = 256 * 1024;
/** Step Functions' limit on one execution's history (STANDARD). */
export const SFN_MAX_HISTORY_EVENTS = 25_000;
/** SendTaskFailure's limits: error name and cause lengths, in characters. */
export const SFN_MAX_ERROR_CHARS = 256;
export const SFN_MAX_CAUSE_CHARS = 32_768;
/** The largest message SQS accepts (raised from 256 KiB to 1 MiB in August 2025). */
export const SQS_MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * The largest message our queues accept. AWS provider 5.100.0 (the one
 * @cdktf/provider-aws 20.1.0 is generated for) validates `max_message_size`
 * against the old 262,144 and sends that as its default, so a queue deployed
 * with it holds 256 KiB; providers from 6.8 accept SQS_MAX_MESSAGE_BYTES.
 */
export const QUEUE_MAX_MESSAGE_BYTES = 256 * 1024;

/** Longest cause a worker reports with SendTaskFailure (and that status.json keeps per item). */
export const TASK_CAUSE_MAX_CHARS = 1024;
