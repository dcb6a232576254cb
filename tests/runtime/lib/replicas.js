// Two (or more) runtime replicas as a supported deployment runs them: the same binary, the
// same admin token and key-encryption key, one PostgreSQL database, each process on its own
// public and admin ports on 127.0.0.1, all behind one round-robin front whose URL every
// replica announces as its public URL (so the issuer is the same on each). Started together
// (the migrations meet on one fresh database), stopped together; `logTails()` gives the end
// of every replica's log for a failure message.
import { readFile, rm } from 'node:fs/promises';

import { startRoundRobinFront } from './round-robin.js';
import { createDatabase, runtimeFiles, spawnRuntime, waitFor } from './runtime.js';

/** Spawns replica `number` with the shared files; resolves once its /readyz answers 200. */
async function spawnReplica(number, shared, { publicUrl, env, args }) {
  const started = await spawnRuntime(shared, { args, env, publicUrl, logName: `replica-${number}.log` });
  const { child, logPath } = started;
  const replica = {
    number,
    child,
    get exited() {
      return started.exited;
    },
    logPath,
    listenUrl: `http://127.0.0.1:${started.publicPort}`,
    adminUrl: `http://127.0.0.1:${started.adminPort}`,
  };
  const ready = waitFor(
    async () => {
      if (replica.exited) throw new Error(`replica ${number} exited early (${JSON.stringify(replica.exited)}):\n${await readFile(logPath, 'utf8')}`);
      try {
        return (await fetch(`${replica.adminUrl}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    { what: `replica ${number} to become ready`, timeoutMs: 120_000 },
  );
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return replica;
}

/** Stops one replica's process: SIGTERM, then SIGKILL if it has not exited within 15 s. */
async function stopProcess(replica) {
  if (replica.exited) return;
  replica.child.kill('SIGTERM');
  await waitFor(() => replica.exited !== null, { what: `replica ${replica.number} to stop`, timeoutMs: 15_000 })
    .catch(() => replica.child.kill('SIGKILL'));
}

/**
 * Starts `count` replicas on one fresh PostgreSQL database (CIAM_TEST_DATABASE_URL) behind a
 * round-robin front. `env` and `args` go to every replica. Resolves to { front, publicUrl,
 * replicas, admin(n, method, path, body), logTails(), stop() }; a failed start stops what it
 * started.
 */
export async function startReplicas({ count = 2, env = {}, args = [] } = {}) {
  if (!process.env.CIAM_TEST_DATABASE_URL) throw new Error('replicas share one PostgreSQL database: set CIAM_TEST_DATABASE_URL');
  const database = await createDatabase();
  const shared = await runtimeFiles({ databaseUrl: database.url });
  const { directory, adminToken } = shared;
  const front = await startRoundRobinFront();
  const replicas = [];
  const deployment = {
    front,
    publicUrl: front.url,
    replicas,
    adminToken,
    /** Calls replica `number`'s admin API; resolves to { status, body } (body parsed when JSON). */
    async admin(number, method, apiPath, body) {
      const headers = { authorization: `Bearer ${adminToken}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${replicas[number - 1].adminUrl}${apiPath}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      const json = (response.headers.get('content-type') || '').includes('json') && text;
      return { status: response.status, body: json ? JSON.parse(text) : text };
    },
    /** The last `lines` lines of every replica's log, headed by the replica's number. */
    async logTails(lines = 40) {
      const tails = [];
      for (const replica of replicas) {
        const log = await readFile(replica.logPath, 'utf8').catch((error) => `(no log: ${error.message})`);
        tails.push(`--- replica ${replica.number} (${replica.listenUrl}) log tail ---\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`);
      }
      return tails.join('\n');
    },
    /** Stops every replica and the front; removes the files and the database. */
    async stop() {
      await Promise.all(replicas.map(stopProcess));
      await front.close();
      if (!process.env.CIAM_KEEP_TEST_DIR) {
        await rm(directory, { recursive: true, force: true });
        await database.drop();
      }
    },
  };
  try {
    deployment.database = database;
    // Started at the same time, as a Deployment's pods are: the migrations meet on one database.
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, index) => spawnReplica(index + 1, shared, { publicUrl: front.url, env, args })),
    );
    for (const outcome of started) if (outcome.status === 'fulfilled') replicas.push(outcome.value);
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
    replicas.sort((a, b) => a.number - b.number);
    front.forwardTo(replicas.map((replica) => replica.listenUrl));
  } catch (error) {
    await deployment.stop();
    throw error;
  }
  return deployment;
}
