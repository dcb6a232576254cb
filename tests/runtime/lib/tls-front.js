// A local TLS front for the runtime, as an ingress would put it before the public listener:
// a throwaway certificate authority and server certificate for 127.0.0.1/localhost made with
// the openssl CLI in a temporary directory, and a Node https reverse proxy on a free loopback
// port. MSAL refuses plain-HTTP authorities, so the MSAL suites talk to the runtime through
// it. Also makes self-signed client certificates (certificate credentials) with the same CLI.
import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(args, cwd) {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed: ${error.stderr || error.message}`);
  }
}

/** A P-256 key (or RSA 2048 with `rsa: true`) in `directory`, named `name`.key. */
async function newKey(directory, name, { rsa = false } = {}) {
  const args = rsa
    ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]
    : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`];
  await openssl(args, directory);
}

/**
 * Makes a CA and a server certificate for IP 127.0.0.1 and DNS localhost it signed, valid one
 * day, in a new temporary directory. Returns their PEMs and the CA file's path.
 */
export async function createTestCertificates() {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-tls-'));
  await newKey(directory, 'ca');
  await openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=ciam-operator test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    directory,
  );
  await newKey(directory, 'server');
  await openssl(['req', '-new', '-key', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], directory);
  await writeFile(
    path.join(directory, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  await openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
      '-out', 'server.crt', '-extfile', 'server.ext'],
    directory,
  );
  const read = (name) => readFile(path.join(directory, name), 'utf8');
  return {
    directory,
    caPath: path.join(directory, 'ca.crt'),
    ca: await read('ca.crt'),
    cert: await read('server.crt'),
    key: await read('server.key'),
    remove: () => rm(directory, { recursive: true, force: true }),
  };
}

/**
 * A self-signed client certificate (RSA 2048 unless `ec`), as an app team makes one for
 * certificate credentials: { certificatePem, privateKeyPem, thumbprintSha256 (hex),
 * thumbprintSha1 (hex), derBase64 } plus `path`s to the PEM files.
 */
export async function createClientCertificate(subject = 'ciam-operator test client', { ec = false } = {}) {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-client-cert-'));
  try {
    await newKey(directory, 'client', { rsa: !ec });
    await openssl(['req', '-x509', '-new', '-key', 'client.key', '-out', 'client.crt', '-days', '2', '-subj', `/CN=${subject}`], directory);
    const certificatePem = await readFile(path.join(directory, 'client.crt'), 'utf8');
    const privateKeyPem = await readFile(path.join(directory, 'client.key'), 'utf8');
    const der = new X509Certificate(certificatePem).raw;
    return {
      certificatePem,
      privateKeyPem,
      derBase64: der.toString('base64'),
      thumbprintSha256: createHash('sha256').update(der).digest('hex'),
      thumbprintSha1: createHash('sha1').update(der).digest('hex'),
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/**
 * Starts the https reverse proxy on a free 127.0.0.1 port with `certificates` (from
 * createTestCertificates). It answers 502 until `forwardTo(url)` names the plain-HTTP
 * listener behind it, so its URL can be given to the runtime before the runtime starts.
 * Requests keep their method, path, headers (Host included) and body.
 */
export async function startTlsFront(certificates) {
  let target = null;
  const agent = new http.Agent({ keepAlive: true });
  const server = https.createServer({ cert: certificates.cert, key: certificates.key }, (request, response) => {
    if (!target) {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('no upstream yet');
      return;
    }
    const upstream = http.request(
      new URL(request.url, target),
      { method: request.method, headers: request.headers, agent },
      (answer) => {
        response.writeHead(answer.statusCode, answer.rawHeaders);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
      response.end(`upstream error: ${error.message}`);
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
    host: `127.0.0.1:${port}`,
    url: `https://127.0.0.1:${port}`,
    forwardTo(url) {
      target = url;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * An MSAL Node `system.networkClient` that trusts `ca` (what NODE_EXTRA_CA_CERTS does for a
 * whole process): GET and POST with node:https, answers as MSAL's own client gives them
 * ({ headers, body parsed as JSON, status }). `sent` records `{ method, url, body }` of each
 * request and, once answered, `status` and `response` (the parsed answer body).
 */
export function trustingNetworkClient(ca) {
  const sent = [];
  const agent = new https.Agent({ ca, keepAlive: false });
  const send = (method, url, options = {}, timeout) =>
    new Promise((resolve, reject) => {
      const record = { method, url, body: options.body ?? '' };
      sent.push(record);
      const request = https.request(url, { method, headers: options.headers ?? {}, agent, timeout }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => { text += chunk; });
        response.on('end', () => {
          try {
            const headers = Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, String(value)]));
            record.status = response.statusCode;
            record.response = JSON.parse(text);
            resolve({ headers, body: record.response, status: response.statusCode });
          } catch (error) {
            reject(new Error(`${method} ${url}: not JSON (${response.statusCode}): ${text.slice(0, 200)}`, { cause: error }));
          }
        });
      });
      request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
      request.on('error', reject);
      request.end(method === 'POST' ? options.body ?? '' : undefined);
    });
  return {
    sent,
    sendGetRequestAsync: (url, options, timeout) => send('GET', url, options, timeout),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}
