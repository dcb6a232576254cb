// Starts the identity runtime as a real process on free loopback ports and talks to its admin API.
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
const run = promisify(execFile);

/** Asks the kernel for a free loopback port. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(probe, { timeoutMs = 60_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Debian's psql: the newest server version's binary, else the one on PATH. */
function psqlBinary() {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((version) => existsSync(path.join(root, version, 'bin', 'psql')));
    versions.sort((a, b) => Number(a) - Number(b));
    if (versions.length > 0) return path.join(root, versions.at(-1), 'bin', 'psql');
  }
  return 'psql';
}

async function psql(url, sql) {
  const { stdout } = await run(psqlBinary(), [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  return stdout.trim();
}

/**
 * A fresh, empty database for one runtime: a SQLite file in a temporary directory, or, when
 * CIAM_TEST_DATABASE_URL names a PostgreSQL server, a new database on that server. Every
 * runtime gets its own, as in production every installation has its own database and
 * key-encryption key. `drop()` removes it.
 */
export async function createDatabase() {
  const serverUrl = process.env.CIAM_TEST_DATABASE_URL;
  if (serverUrl) {
    const name = `ciam_test_${randomBytes(6).toString('hex')}`;
    await psql(serverUrl, `CREATE DATABASE ${name}`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return {
      kind: 'postgres',
      url: url.href,
      drop: () => psql(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-runtime-db-'));
  return {
    kind: 'sqlite',
    url: `sqlite://${path.join(directory, 'runtime.db')}`,
    drop: () => rm(directory, { recursive: true, force: true }),
  };
}

/**
 * Runs a read-only SQL query against a database made by `createDatabase` and returns its rows
 * as objects: with psql for PostgreSQL, with Python's sqlite3 module (WAL-aware) for SQLite.
 */
export async function queryDatabase(database, sql) {
  if (database.kind === 'postgres') {
    const json = await psql(database.url, `SELECT coalesce(json_agg(row_to_json(query)), '[]') FROM (${sql}) AS query`);
    return JSON.parse(json);
  }
  const script = [
    'import json, sqlite3, sys',
    'connection = sqlite3.connect(sys.argv[1])',
    'connection.row_factory = sqlite3.Row',
    'print(json.dumps([dict(row) for row in connection.execute(sys.argv[2])]))',
  ].join('\n');
  const { stdout } = await run('python3', ['-c', script, database.url.replace(/^sqlite:\/\//, ''), sql]);
  return JSON.parse(stdout);
}

/**
 * Spawns `ciam-operator runtime` with the admin token, key-encryption key and database in
 * `files`, on fresh ports; `args` and `env` add flags and environment variables. Its output
 * goes to `logName` (default `runtime.log`) in `files.directory`.
 */
export async function spawnRuntime(files, { args = [], env = {}, publicUrl, logName = 'runtime.log' } = {}) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const binary = process.env.CIAM_RUNTIME_BIN || path.join(repoRoot, 'target', 'debug', 'ciam-operator');
  const logPath = path.join(files.directory, logName);
  const logFd = openSync(logPath, 'a');
  const child = spawn(
    binary,
    [
      'runtime',
      '--public-addr', `127.0.0.1:${publicPort}`,
      '--admin-addr', `127.0.0.1:${adminPort}`,
      '--public-url', publicUrl ?? `http://127.0.0.1:${publicPort}`,
      '--admin-token-file', path.join(files.directory, 'admin-token'),
      '--key-encryption-key-file', files.kekPath,
      '--database', files.databaseUrl,
      '--log-format', 'json',
      ...args,
    ],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', ...env } },
  );
  const runtimeProcess = { child, exited: null, logPath, publicPort, adminPort };
  child.on('exit', (code, signal) => {
    runtimeProcess.exited = { code, signal };
  });
  return runtimeProcess;
}

/** Writes a fresh admin token and the key-encryption key (random unless given) to a new directory. */
export async function runtimeFiles({ keyEncryptionKey = randomBytes(32).toString('hex'), databaseUrl }) {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-runtime-test-'));
  const adminToken = randomBytes(24).toString('hex');
  await writeFile(path.join(directory, 'admin-token'), adminToken, { mode: 0o600 });
  const kekPath = path.join(directory, 'kek');
  await writeFile(kekPath, keyEncryptionKey, { mode: 0o600 });
  return { directory, adminToken, keyEncryptionKey, kekPath, databaseUrl };
}

/**
 * Starts `ciam-operator runtime` with a temporary admin token and key-encryption key (or
 * `keyEncryptionKey`) on `database` (a fresh one from `createDatabase` unless given; a fresh
 * one is dropped by `stop()`). `env` adds environment variables (for example a short passcode
 * lifetime), `args` command-line flags. `publicUrl` replaces the public URL the runtime
 * announces (default: its own plain-HTTP listener), for a test that puts a TLS front before it;
 * `listenUrl` is then where the front forwards to. Resolves once /readyz answers 200.
 */
export async function startRuntime({ env = {}, args = [], database, keyEncryptionKey, publicUrl: announcedUrl } = {}) {
  const ownDatabase = database === undefined;
  const db = database ?? (await createDatabase());
  const files = await runtimeFiles({ keyEncryptionKey, databaseUrl: db.url });
  const { adminToken, directory } = files;
  const started = await spawnRuntime(files, { args, env, publicUrl: announcedUrl });
  const { child, logPath } = started;
  const listenUrl = `http://127.0.0.1:${started.publicPort}`;
  const publicUrl = announcedUrl ?? listenUrl;
  const adminUrl = `http://127.0.0.1:${started.adminPort}`;
  try {
    await waitFor(
      async () => {
        if (started.exited) throw new Error(`runtime exited early (${JSON.stringify(started.exited)}):\n${await readFile(logPath, 'utf8')}`);
        try {
          const response = await fetch(`${adminUrl}/readyz`);
          return response.status === 200;
        } catch {
          return false;
        }
      },
      { what: 'the runtime to become ready', timeoutMs: 120_000 },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  /**
   * Sends any admin request with node:http (fetch refuses bodies on GET), `rawBody` as is.
   * With `expectContinue` the request carries `Expect: 100-continue`, as HTTP clients send
   * for large bodies: the body goes out only if the server asks for it, so a server that
   * refuses by Content-Length answers without the client racing to write a body nobody
   * reads. Resolves to { status, headers, body } with body parsed when JSON.
   */
  function adminRaw(method, apiPath, rawBody, { expectContinue = false, contentType = 'application/json', token = adminToken } = {}) {
    return new Promise((resolve, reject) => {
      const headers = { 'content-type': contentType, 'content-length': Buffer.byteLength(rawBody) };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (expectContinue) headers.expect = '100-continue';
      const request = http.request(`${adminUrl}${apiPath}`, { method, headers });
      if (expectContinue) request.on('continue', () => request.end(rawBody));
      let answered = false;
      request.on('response', (response) => {
        answered = true;
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => { text += chunk; });
        response.on('end', () => {
          let body = text;
          if ((response.headers['content-type'] || '').includes('json') && text) body = JSON.parse(text);
          resolve({ status: response.statusCode, headers: response.headers, body });
        });
      });
      // A server that answers before reading a body may close the connection after its
      // answer; an error after the answer is not the result.
      request.on('error', (error) => {
        if (!answered) reject(error);
      });
      if (expectContinue) request.flushHeaders();
      else request.end(rawBody);
    });
  }

  return {
    publicUrl,
    listenUrl,
    adminUrl,
    adminToken,
    directory,
    logPath,
    database: db,
    keyEncryptionKey: files.keyEncryptionKey,
    /** Calls the admin API; returns { status, headers, body } with body parsed when JSON. */
    async admin(method, apiPath, body, { token = adminToken, rawBody, contentType = 'application/json' } = {}) {
      const headers = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      let payload;
      if (rawBody !== undefined) payload = rawBody;
      else if (body !== undefined) payload = JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = contentType;
      const response = await fetch(`${adminUrl}${apiPath}`, { method, headers, body: payload });
      const text = await response.text();
      let parsed = text;
      if ((response.headers.get('content-type') || '').includes('json') && text) parsed = JSON.parse(text);
      return { status: response.status, headers: response.headers, body: parsed };
    },
    adminRaw,
    /** Stops the process (SIGTERM) and removes its files; and its database if it made it. */
    async stop() {
      if (!started.exited) {
        child.kill('SIGTERM');
        await waitFor(() => started.exited !== null, { what: 'the runtime to stop', timeoutMs: 15_000 }).catch(() => child.kill('SIGKILL'));
      }
      if (!process.env.CIAM_KEEP_TEST_DIR) {
        await rm(directory, { recursive: true, force: true });
        if (ownDatabase) await db.drop();
      }
    },
  };
}

/**
 * Starts the runtime on `database` with `keyEncryptionKey` expecting it to refuse to start:
 * resolves to { code, signal, log } once it exits, and fails if it becomes ready instead.
 */
export async function runtimeRefusingToStart({ database, keyEncryptionKey, timeoutMs = 60_000 }) {
  const files = await runtimeFiles({ keyEncryptionKey, databaseUrl: database.url });
  const started = await spawnRuntime(files);
  try {
    const outcome = await waitFor(
      async () => {
        if (started.exited) return started.exited;
        try {
          return (await fetch(`http://127.0.0.1:${started.adminPort}/readyz`)).status === 200 && 'ready';
        } catch {
          return false;
        }
      },
      { what: 'the runtime to exit', timeoutMs },
    );
    if (outcome === 'ready') throw new Error('the runtime started although it was expected to refuse');
    return { ...outcome, log: await readFile(started.logPath, 'utf8') };
  } finally {
    if (!started.exited) started.child.kill('SIGKILL');
    await rm(files.directory, { recursive: true, force: true });
  }
}
