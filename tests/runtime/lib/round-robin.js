// A round-robin front on loopback for several runtime replicas, as a load balancer without
// session affinity would put before them: a Node HTTP reverse proxy on a free 127.0.0.1 port
// that sends each request to the next replica in turn. A test can still aim at one replica:
// a request carrying `x-ciam-replica: <n>` (1-based; the header is not forwarded) goes to
// replica n, and `pin(n)` sends every request to replica n until `unpin()` (`only(n, action)`
// for the length of `action`). Every request is
// recorded in `served` ({ replica, method, path }), so a test can show where each step ran.
import http from 'node:http';

/** The header that aims one request at one replica. */
export const REPLICA_HEADER = 'x-ciam-replica';

/**
 * Starts the front; it answers 502 until `forwardTo(urls)` names the replicas' plain-HTTP
 * listeners (in replica order). Resolves to { url, port, served, forwardTo, pin, unpin, only, close }.
 */
export async function startRoundRobinFront() {
  let targets = [];
  let pinned = null;
  let next = 0;
  const served = [];
  const agent = new http.Agent({ keepAlive: true });

  /** The 1-based replica this request goes to, or an error text. */
  function choose(request) {
    const asked = request.headers[REPLICA_HEADER];
    if (asked !== undefined) {
      const replica = Number(asked);
      if (!Number.isInteger(replica) || replica < 1 || replica > targets.length) return { error: `no replica ${asked}` };
      return { replica };
    }
    if (pinned !== null) return { replica: pinned };
    const replica = (next % targets.length) + 1;
    next += 1;
    return { replica };
  }

  const server = http.createServer((request, response) => {
    if (targets.length === 0) {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('no replicas yet');
      return;
    }
    const { replica, error } = choose(request);
    if (error) {
      response.writeHead(400, { 'content-type': 'text/plain' });
      response.end(error);
      return;
    }
    served.push({ replica, method: request.method, path: request.url });
    const headers = { ...request.headers };
    delete headers[REPLICA_HEADER];
    const upstream = http.request(
      new URL(request.url, targets[replica - 1]),
      { method: request.method, headers, agent },
      (answer) => {
        response.writeHead(answer.statusCode, answer.rawHeaders);
        answer.pipe(response);
      },
    );
    upstream.on('error', (failure) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`replica ${replica} unreachable: ${failure.message}`);
    });
    request.pipe(upstream);
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    served,
    /** Names the replicas' listeners, in replica order (replica 1 first). */
    forwardTo(urls) {
      targets = [...urls];
    },
    /** Sends every request to replica `replica` (1-based) until `unpin()`. */
    pin(replica) {
      if (!Number.isInteger(replica) || replica < 1 || replica > targets.length) throw new Error(`no replica ${replica}`);
      pinned = replica;
    },
    /** Back to round robin. */
    unpin() {
      pinned = null;
    },
    /** Runs `action` with every request pinned to replica `replica`, then goes back to round robin. */
    async only(replica, action) {
      this.pin(replica);
      try {
        return await action();
      } finally {
        this.unpin();
      }
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
