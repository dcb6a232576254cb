// Two (or more) runtime replicas as a supported deployment runs them: the same binary, the
// same admin token and key-encryption key, one PostgreSQL database, each process on its own
// public and admin ports on 127.0.0.1, all behind one round-robin front whose URL every
// replica announces as its public URL (so the issuer is the same on each). Started together
// (the migrations meet on one fresh database), stopped together; `logTails()` gives the end
// of every replica's log for a failure message.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { startRoundRobinFront } from './round-robin.js';
import { createDatabase, freePort, repoRoot, waitFor } from './runtime.js';

/** Spawns replica `number` with the shared files; resolves once its /readyz answers 200. */
async function spawnReplica(number, shared, { publicUrl, env, args }) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const binary = process.env.CIAM_RUNTIME_BIN || path.join(repoRoot, 'target', 'debug', 'ciam-operator');
  const logPath = path.join(shared.directory, `replica-${number}.log`);
  const logFd = openSync(logPath, 'a');
  const child = spawn(
    binary,
    [
      'runtime',
      '--public-addr', `127.0.0.1:${publicPort}`,
      '--admin-addr', `127.0.0.1:${adminPort}`,
      '--public-url', publicUrl,
      '--admin-token-file', shared.adminTokenPath,
      '--key-encryption-key-file', shared.kekPath,
      '--database', shared.database.url,
      '--log-format', 'json',
      ...args,
    ],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', ...env } },
  );
  const replica = {
    number,
    child,
    exited: null,
    logPath,
    listenUrl: `http://127.0.0.1:${publicPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
  };
  child.on('exit', (code, signal) => {
    replica.exited = { code, signal };
  });
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
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-replicas-'));
  const adminToken = randomBytes(24).toString('hex');
  const shared = {
    directory,
    adminToken,
    adminTokenPath: path.join(directory, 'admin-token'),
    kekPath: path.join(directory, 'kek'),
    database: null,
  };
  await writeFile(shared.adminTokenPath, adminToken, { mode: 0o600 });
  await writeFile(shared.kekPath, randomBytes(32).toString('hex'), { mode: 0o600 });
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
        await shared.database?.drop();
      }
    },
  };
  try {
    shared.database = await createDatabase();
    deployment.database = shared.database;
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
