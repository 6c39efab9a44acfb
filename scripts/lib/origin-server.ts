/**
 * A local origin for the fetcher, on 127.0.0.1 and a free port. Routes:
 *   GET /text?lines=N          N lines of text ("line i"), with Content-Length
 *   GET /bytes?size=N[&chunked=1][&nul=1]
 *                              N bytes ('a', or with NUL bytes); chunked = no Content-Length
 *   GET /redirect?to=URL       302 to URL
 *   GET /status?code=N         answers status N
 *   GET /hang                  accepts and never answers
 *   GET /reset                 destroys the connection
 * Anything else: 404. `requests` lists every path+query served, in order.
 */
import * as http from "http";
import { listenOnLoopback } from "./listen";

export interface OriginServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startOriginServer(options: { host?: string } = {}): Promise<OriginServer> {
  const host = options.host ?? "127.0.0.1";
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    const url = new URL(req.url ?? "/", "http://origin");
    const param = (name: string, fallback: number) => Number(url.searchParams.get(name) ?? fallback);
    switch (url.pathname) {
      case "/text": {
        const lines = param("lines", 10);
        let body = "";
        for (let i = 0; i < lines; i++) body += `line ${i}\n`;
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
        return res.end(body);
      }
      case "/bytes": {
        const size = param("size", 1024);
        const body = Buffer.alloc(size, "a");
        if (url.searchParams.get("nul") === "1") for (let i = 0; i < size; i += 7) body[i] = 0;
        const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream" };
        if (url.searchParams.get("chunked") !== "1") headers["content-length"] = size;
        res.writeHead(200, headers);
        // Write in slices so a chunked body really arrives in pieces.
        for (let offset = 0; offset < size; offset += 64 * 1024) res.write(body.subarray(offset, offset + 64 * 1024));
        return res.end();
      }
      case "/redirect":
        res.writeHead(302, { location: url.searchParams.get("to") ?? "/" });
        return res.end();
      case "/status":
        res.writeHead(param("code", 500), { "content-type": "text/plain" });
        return res.end("status");
      case "/hang":
        return; // never answers; closed with the server
      case "/reset":
        return req.socket.destroy();
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  const { port, close } = await listenOnLoopback(server, host);
  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    close,
  };
}
