/** Listening on a free loopback port, and closing without waiting for keep-alive sockets. */
import type { Server } from "http";
import type { AddressInfo, Socket } from "net";

export interface Listening {
  readonly port: number;
  /** Destroys every open connection, then closes the server. */
  close(): Promise<void>;
}

/** Starts `server` on a free port of `host` (loopback by default), tracking its connections. */
export async function listenOnLoopback(server: Server, host = "127.0.0.1"): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
