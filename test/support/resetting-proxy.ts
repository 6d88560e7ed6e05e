import net from 'node:net';

/**
 * A TCP proxy to an HTTP server that resets the connection of the next `arm(n)` requests whose first
 * line matches `target` (as a server closing an idle keep-alive connection just as the client reuses
 * it), passing everything else through.
 */
export class ResettingProxy {
  /** Requests reset so far. */
  reset = 0;
  private armed = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(upstream: URL, target: RegExp): Promise<ResettingProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new ResettingProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => {
      const server = net.connect(Number(upstream.port), upstream.hostname);
      for (const socket of [client, server]) {
        proxy.sockets.add(socket);
        socket.on('close', () => proxy.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk) => {
        const firstLine = chunk.toString('latin1', 0, Math.min(chunk.length, 512)).split('\r\n', 1)[0]!;
        if (proxy.armed > 0 && target.test(firstLine)) {
          proxy.armed--;
          proxy.reset++;
          client.resetAndDestroy();
          server.destroy();
          return;
        }
        server.write(chunk);
      });
      server.on('data', (chunk) => client.write(chunk));
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    });
    return proxy;
  }

  /** Resets the next `requests` matching requests. */
  arm(requests: number): void {
    this.armed = requests;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
