// An SSH tunnel from this machine to a port on the mail host's loopback, for
// managed mode: @pulumi/postgresql talks to 127.0.0.1:<tunnelPort> here and
// reaches the host's own PostgreSQL, which never listens on the network. The
// key stays in memory (ssh2), never in a file or a process argument.
import * as net from "node:net";
import { Client } from "ssh2";

export interface TunnelArgs {
  readonly connection: { readonly host: string; readonly port: number; readonly user: string };
  /** Port on this machine's loopback. */
  readonly localPort: number;
  /** Port on the host's loopback. */
  readonly remotePort: number;
}

/** Opens the tunnel once the key is known; the returned server does not keep the program alive. */
export function startTunnel(args: TunnelArgs, privateKey: string): Promise<net.Server> {
  const ssh = new Client();
  // Errors after the handshake (the host closing an idle connection, EPIPE
  // on shutdown) reach the forwarded connections as closed sockets, which
  // their users report; here they would only crash the program.
  ssh.on("error", () => undefined);
  // One SSH connection, opened at the first local connection and shared.
  let ready: Promise<Client> | undefined;
  const connect = () => {
    ready ??= new Promise((resolve, reject) => {
      ssh
        .once("ready", () => resolve(ssh))
        .once("error", (err) => {
          ready = undefined;
          reject(err);
        })
        .connect({
          // Our own socket, unref'd, so an idle tunnel never holds the program open.
          sock: net
            .connect(args.connection.port, args.connection.host)
            .on("error", () => undefined)
            .unref(),
          username: args.connection.user,
          privateKey,
          readyTimeout: 20_000,
        });
    });
    return ready;
  };

  const server = net.createServer((local) => {
    local.on("error", () => undefined);
    connect().then(
      (client) =>
        client.forwardOut("127.0.0.1", 0, "127.0.0.1", args.remotePort, (err, remote) => {
          if (err) {
            // The client sees the connection close; say why where the operator looks.
            console.error(
              `SSH tunnel to 127.0.0.1:${args.remotePort} on ${args.connection.host}: ${err.message}`,
            );
            local.destroy();
            return;
          }
          local.pipe(remote).pipe(local);
          // Either end may go first; the other is closed, never left to EPIPE.
          local.on("error", () => remote.close()).on("close", () => remote.close());
          remote.on("error", () => local.destroy());
        }),
      (err: Error) => {
        console.error(`SSH tunnel to ${args.connection.host}: ${err.message}`);
        local.destroy();
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(
              `port ${args.localPort} on 127.0.0.1 is in use; set mailstack:dbTunnelPort to a free port`,
            )
          : err,
      ),
    );
    server.listen(args.localPort, "127.0.0.1", () => {
      // Neither the listener nor the SSH connection holds the program open:
      // Pulumi's pending operations do, and when they end, so does the tunnel.
      server.unref();
      server.on("close", () => ssh.end());
      resolve(server);
    });
  });
}

export type TunnelOpener = (args: TunnelArgs, privateKey: string) => Promise<unknown>;
