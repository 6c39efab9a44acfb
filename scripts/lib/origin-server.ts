/**
 * A local origin for the fetcher, on 127.0.0.1 and a free port. Routes:
 *   GET /text?lines=N          N lines of text ("line i"), with Content-Length
 *   GET /bytes?size=N[&chunked=1][&nul=1]
 *                              N bytes ('a', or with NUL bytes); chunked = no Content-Length
 *   GET /redirect?to=URL       302 to URL
 *   GET /status?code=N         answers status N
 *   GET /hang                  accepts and never answers (never sends headers)
 *   GET /reset                 destroys the connection
 * Hostile answers, written as raw bytes on the socket (so they can be what no
 * well-behaved HTTP server sends), each with `Connection: close`:
 *   GET /raw-status?code=N[&upgrade=1]
 *                              status line `HTTP/1.1 N` (any digits: 0, 99, 600, 999, 1000),
 *                              empty body; `upgrade=1` adds `Upgrade: websocket` (a real 101 upgrade)
 *   GET /informational?code=N[&then=200]
 *                              a 1xx interim answer (100, 103, …), then stalls, or then a 200 "ok"
 *   GET /stall-body?size=N     headers (Content-Length N) and half the body, then stalls
 *   GET /drip?everyMs=N        headers, then one body byte every N ms, forever (no Content-Length)
 *   GET /close-mid-body?size=N headers (Content-Length N) and half the body, then closes
 *   GET /content-type?value=V  200 with `Content-Type: V` as given (CR and LF refused)
 *   GET /not-http              a line that is not an HTTP status line, then closes
 * Anything else: 404. `requests` lists every path+query served, in order.
 */
import * as http from "http";
import type { Socket } from "net";
import { listenOnLoopback } from "./listen";

/** Writes `head` (status line and headers, CRLF-joined, plus the blank line) and then `body`, straight to the socket. */
function rawAnswer(socket: Socket, lines: readonly string[], body = ""): void {
  socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

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
      case "/raw-status": {
        const code = url.searchParams.get("code") ?? "999";
        const upgrade = url.searchParams.get("upgrade") === "1" ? ["Upgrade: websocket", "Connection: Upgrade"] : ["Connection: close"];
        rawAnswer(req.socket, [`HTTP/1.1 ${code} Whatever`, ...upgrade, "Content-Length: 0"]);
        return req.socket.end();
      }
      case "/informational": {
        rawAnswer(req.socket, [`HTTP/1.1 ${param("code", 100)} Informational`, "Link: </style.css>; rel=preload"]);
        if (url.searchParams.get("then") !== "200") return; // stalls; closed with the server
        rawAnswer(req.socket, ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 2", "Connection: close"], "ok");
        return req.socket.end();
      }
      case "/stall-body":
      case "/close-mid-body": {
        const size = param("size", 1024);
        rawAnswer(req.socket, ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream", `Content-Length: ${size}`, "Connection: close"], "a".repeat(Math.floor(size / 2)));
        if (url.pathname === "/close-mid-body") req.socket.end();
        return; // /stall-body: closed with the server
      }
      case "/drip": {
        rawAnswer(req.socket, ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream", "Connection: close"]);
        const timer = setInterval(() => req.socket.write("a"), param("everyMs", 100));
        return void req.socket.on("close", () => clearInterval(timer));
      }
      case "/content-type": {
        const value = url.searchParams.get("value") ?? "";
        if (/[\r\n]/.test(value)) return void res.writeHead(400).end();
        rawAnswer(req.socket, ["HTTP/1.1 200 OK", `Content-Type: ${value}`, "Content-Length: 2", "Connection: close"], "ok");
        return req.socket.end();
      }
      case "/not-http":
        req.socket.end("SSH-2.0-OpenSSH_9.6\r\n");
        return;
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
