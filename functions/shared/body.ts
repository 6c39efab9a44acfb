/**
 * Response bodies hold their socket until they are read to the end or
 * destroyed. These helpers make sure every body ends one way or the other.
 */
import type { Readable } from "stream";

function isReadable(body: unknown): body is Readable {
  return typeof body === "object" && body !== null && typeof (body as Readable).pipe === "function";
}

/** Destroys a body we will not read (frees or closes its socket). Safe on anything. */
export function destroyBody(body: unknown): void {
  const destroy = (body as { destroy?: unknown } | null | undefined)?.destroy;
  if (typeof destroy === "function") destroy.call(body);
}

/** Reads a body into a Buffer; destroys it and throws when it exceeds `maxBytes`. */
export async function readBody(body: unknown, maxBytes: number): Promise<Buffer> {
  if (!isReadable(body)) {
    destroyBody(body);
    throw new TypeError("response body is not a readable stream");
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    if (size > maxBytes) {
      body.destroy();
      throw new RangeError(`response body exceeds ${maxBytes} bytes`);
    }
    parts.push(buf);
  }
  return Buffer.concat(parts);
}
