/**
 * Progress while the pipeline runs: a one-line bar redrawn in place on a
 * terminal, plain lines every few seconds otherwise (CI logs, pipes). Written to
 * stderr so `--json` output on stdout stays clean.
 */

export interface ProgressSnapshot {
  readonly sent: number;
  /** Messages deleted from the queue or moved to the DLQ. */
  readonly settled: number;
  readonly executionsRunning: number;
  readonly executionsDone: number;
  readonly tasksDone: number;
  readonly throttles: number;
  readonly elapsedMs: number;
}

export interface ProgressOptions {
  readonly stream: NodeJS.WriteStream;
  /** Bar on a TTY, lines otherwise. @default stream.isTTY */
  readonly tty?: boolean;
  /** Redraw period on a TTY. @default 100 */
  readonly barEveryMs?: number;
  /** Line period otherwise. @default 5000 */
  readonly lineEveryMs?: number;
}

export function formatProgressLine(s: ProgressSnapshot): string {
  return (
    `${s.settled}/${s.sent} messages settled · executions ${s.executionsRunning} running, ${s.executionsDone} done · ` +
    `${s.tasksDone} tasks · ${s.throttles} throttles · ${(s.elapsedMs / 1000).toFixed(1)}s`
  );
}

export function formatBar(s: ProgressSnapshot, width = 24): string {
  // Messages to settle plus executions to finish (the ones known so far).
  const total = s.sent + s.executionsDone + s.executionsRunning;
  const ratio = total === 0 ? 1 : Math.min(1, (s.settled + s.executionsDone) / total);
  const filled = Math.round(ratio * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${formatProgressLine(s)}`;
}

export class Progress {
  private timer?: NodeJS.Timeout;
  private readonly tty: boolean;
  private drawn = false;

  constructor(
    private readonly snapshot: () => ProgressSnapshot,
    private readonly options: ProgressOptions,
  ) {
    this.tty = options.tty ?? Boolean(options.stream.isTTY);
  }

  start(): void {
    const every = this.tty ? (this.options.barEveryMs ?? 100) : (this.options.lineEveryMs ?? 5000);
    this.timer = setInterval(() => this.draw(), every);
    this.timer.unref();
  }

  private draw(): void {
    const s = this.snapshot();
    if (this.tty) {
      const columns = this.options.stream.columns || 120;
      this.options.stream.write(`\r${formatBar(s).slice(0, columns - 1)}\u001b[K`);
      this.drawn = true;
    } else {
      this.options.stream.write(`[local] ${formatProgressLine(s)}\n`);
    }
  }

  /** Prints a line without breaking the bar. */
  log(line: string): void {
    if (this.tty && this.drawn) this.options.stream.write("\r\u001b[K");
    this.options.stream.write(`${line}\n`);
    this.drawn = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) {
      this.draw();
      this.options.stream.write("\n");
    }
  }
}
