/**
 * Splitting a byte stream into chunks, one buffer at a time (pure, no I/O).
 * Text: a chunk ends after `linesPerChunk` newline-terminated lines, or at
 * `maxBytes` when lines are very long (so memory stays bounded). Binary: a chunk
 * is `maxBytes` bytes. Concatenating the chunks gives back the input exactly.
 */

export type SplitMode = "text" | "binary";

/** Bytes looked at to tell text from binary. */
export const SNIFF_BYTES = 1024;

const BINARY_TYPES = new Set([
  "application/zip",
  "application/gzip",
  "application/x-gzip",
  "application/x-tar",
  "application/x-bzip2",
  "application/x-7z-compressed",
  "application/pdf",
  "application/wasm",
]);

/** Binary when the first KB holds a NUL byte or the content type is a binary one. */
export function detectMode(head: Buffer, contentType: string | undefined): SplitMode {
  if (head.subarray(0, SNIFF_BYTES).includes(0)) return "binary";
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (/^(image|audio|video|font)\//.test(type) || BINARY_TYPES.has(type)) return "binary";
  return "text";
}

export class Splitter {
  private parts: Buffer[] = [];
  private size = 0;
  private chunkLines = 0;
  private newlines = 0;
  private lastByte = -1;

  constructor(
    readonly mode: SplitMode,
    private readonly linesPerChunk: number,
    private readonly maxBytes: number,
  ) {}

  /** Lines seen so far (a last line without a newline counts). 0 for binary input. */
  get lines(): number {
    if (this.mode === "binary") return 0;
    return this.newlines + (this.lastByte !== -1 && this.lastByte !== 0x0a ? 1 : 0);
  }

  /** Feeds a buffer; returns the chunks it completed. */
  push(buffer: Buffer): Buffer[] {
    const done: Buffer[] = [];
    if (buffer.length === 0) return done;
    this.lastByte = buffer[buffer.length - 1];
    let position = 0;
    while (position < buffer.length) {
      const limit = Math.min(buffer.length, position + this.maxBytes - this.size);
      let cursor = limit;
      let full = false;
      if (this.mode === "text") {
        cursor = position;
        while (cursor < limit) {
          const newline = buffer.indexOf(0x0a, cursor);
          if (newline === -1 || newline >= limit) {
            cursor = limit;
            break;
          }
          cursor = newline + 1;
          this.newlines++;
          if (++this.chunkLines === this.linesPerChunk) {
            full = true;
            break;
          }
        }
      }
      this.parts.push(buffer.subarray(position, cursor));
      this.size += cursor - position;
      position = cursor;
      if (full || this.size >= this.maxBytes) done.push(this.flush());
    }
    return done;
  }

  /** Ends the input; returns the last, partial chunk if there is one. */
  end(): Buffer[] {
    return this.size > 0 ? [this.flush()] : [];
  }

  private flush(): Buffer {
    const chunk = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.chunkLines = 0;
    return chunk;
  }
}
