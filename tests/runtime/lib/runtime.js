// Starts the identity runtime as a real process on free loopback ports and talks to its admin API.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');

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

/** The database the suite runs against: CIAM_TEST_DATABASE_URL, or a fresh SQLite file. */
function databaseUrl(directory) {
  return process.env.CIAM_TEST_DATABASE_URL || `sqlite://${path.join(directory, 'runtime.db')}`;
}

/**
 * Starts `ciam-operator runtime` with a temporary admin token, key-encryption key and database.
 * `env` adds environment variables (for example a short passcode lifetime). Resolves once
 * /readyz answers 200.
 */
export async function startRuntime({ env = {} } = {}) {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-runtime-test-'));
  const adminToken = randomBytes(24).toString('hex');
  await writeFile(path.join(directory, 'admin-token'), adminToken, { mode: 0o600 });
  await writeFile(path.join(directory, 'kek'), randomBytes(32).toString('hex'), { mode: 0o600 });
  const publicPort = await freePort();
  const adminPort = await freePort();
  const binary = process.env.CIAM_RUNTIME_BIN || path.join(repoRoot, 'target', 'debug', 'ciam-operator');
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const logPath = path.join(directory, 'runtime.log');
  const { openSync } = await import('node:fs');
  const logFd = openSync(logPath, 'a');
  const child = spawn(
    binary,
    [
      'runtime',
      '--public-addr', `127.0.0.1:${publicPort}`,
      '--admin-addr', `127.0.0.1:${adminPort}`,
      '--public-url', publicUrl,
      '--admin-token-file', path.join(directory, 'admin-token'),
      '--key-encryption-key-file', path.join(directory, 'kek'),
      '--database', databaseUrl(directory),
      '--log-format', 'json',
    ],
    { stdio: ['ignore', logFd, logFd], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', ...env } },
  );
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`runtime exited early (${JSON.stringify(exited)}):\n${await readFile(logPath, 'utf8')}`);
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
  return {
    publicUrl,
    adminUrl,
    adminToken,
    directory,
    logPath,
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
    /**
     * Sends a PUT with `Expect: 100-continue`, as HTTP clients do for large bodies: the body
     * goes out only if the server asks for it, so a server that refuses by Content-Length
     * answers without the client racing to write a body nobody reads.
     */
    putExpectingContinue(apiPath, rawBody) {
      return new Promise((resolve, reject) => {
        const request = http.request(`${adminUrl}${apiPath}`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${adminToken}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(rawBody),
            expect: '100-continue',
          },
        });
        request.on('continue', () => request.end(rawBody));
        request.on('response', (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => { text += chunk; });
          response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: text }));
        });
        request.on('error', reject);
        request.flushHeaders();
      });
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await waitFor(() => exited !== null, { what: 'the runtime to stop', timeoutMs: 15_000 }).catch(() => child.kill('SIGKILL'));
      }
      if (!process.env.CIAM_KEEP_TEST_DIR) await rm(directory, { recursive: true, force: true });
    },
  };
}
