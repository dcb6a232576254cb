// MSAL Python (`msal`, pinned in tests/runtime/python/requirements.txt) against the real
// runtime behind a local TLS front. Each step runs tests/runtime/python/msal_client.py, an app
// configured as docs/migrating-from-entra.md says (authority= with instance_discovery=False,
// or oidc_authority=), in the venv that scripts/install-deps.sh makes; Chromium, driven from
// here, plays the customer. Client credentials with a secret and with a certificate,
// authorization code + PKCE in query and form_post mode.
//
// Runs against SQLite by default, or against CIAM_TEST_DATABASE_URL (PostgreSQL).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

import { startMsalEnvironment } from './lib/relying-party.js';
import { createClientCertificate } from './lib/tls-front.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.join(here, 'python', 'msal_client.py');
const PYTHON = process.env.CIAM_PYTHON || path.join(os.homedir(), '.cache', 'ciam-operator', 'python-venv', 'bin', 'python');

describe(`MSAL Python behind TLS (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let env;
  let jwks;
  let keyDirectory;
  // MSAL Python appends "/v2.0/.well-known/openid-configuration" to the authority's path, so
  // the authority goes without the trailing slash the Secret's AUTHORITY has (else "//v2.0").
  let authority;

  /**
   * Runs msal_client.py `command` with `args`, trusting the test CA through REQUESTS_CA_BUNDLE;
   * `secret` goes in CIAM_CLIENT_SECRET, `input` to stdin. Resolves to its JSON output.
   */
  function msalPython(command, args, { secret, input } = {}) {
    return new Promise((resolve, reject) => {
      const child = execFile(
        PYTHON,
        [SCRIPT, command, ...args],
        { env: { ...process.env, REQUESTS_CA_BUNDLE: env.certificates.caPath, CIAM_CLIENT_SECRET: secret ?? '' }, timeout: 60_000 },
        (error, stdout, stderr) => {
          if (error) {
            reject(new Error(`msal_client.py ${command} failed (${error.code}): ${stderr}`));
            return;
          }
          resolve(JSON.parse(stdout));
        },
      );
      child.stdin.end(input ?? '');
    });
  }

  /** Verifies an access token's signature with the tenant's JWKS and its issuer; returns the claims. */
  async function verifiedClaims(token, audience) {
    const { payload } = await jose.jwtVerify(token, jwks, { issuer: env.issuer, audience });
    return payload;
  }

  /** Writes a certificate's PEM files for the script; returns their paths. */
  async function certificateFiles(certificate) {
    const privateKey = path.join(keyDirectory, `${randomUUID()}.key`);
    const publicCertificate = path.join(keyDirectory, `${randomUUID()}.crt`);
    await writeFile(privateKey, certificate.privateKeyPem, { mode: 0o600 });
    await writeFile(publicCertificate, certificate.certificatePem);
    return { privateKey, publicCertificate };
  }

  /** Registers a daemon that authenticates with `certificate`; returns its client ID. */
  async function certificateDaemon(certificate) {
    const clientId = randomUUID();
    const registered = await env.putClient(clientId, {
      displayName: 'Python job with a certificate',
      type: 'daemon',
      apiPermissions: [{ resourceAppId: env.ids.api, scopes: ['orders.read'] }],
      certificates: [{ pem: certificate.certificatePem }],
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    return clientId;
  }

  /** Checks a client-credentials result of `clientId` for the API. */
  async function assertDaemonToken(result, clientId) {
    assert.ok(result.access_token, `MSAL Python returned an access token: ${JSON.stringify(result)}`);
    assert.equal(result.token_type, 'Bearer');
    const claims = await verifiedClaims(result.access_token, env.ids.api);
    assert.equal(claims.azp, clientId);
    assert.equal(claims.tid, env.tenantId);
    assert.deepEqual(claims.roles, ['orders.read']);
  }

  /**
   * An authorization code flow of the web app through MSAL Python: initiate_auth_code_flow,
   * the customer in Chromium, the answer that arrived at the redirect URI given back to
   * acquire_token_by_auth_code_flow. Resolves to { flow, arrival, result, accounts }.
   */
  async function authorizationCodeFlow(responseMode) {
    const redirectUri = responseMode === 'form_post' ? env.redirect.formPost : env.redirect.query;
    const common = ['--authority', authority, '--client-id', env.ids.web, '--redirect-uri', redirectUri, '--scope', `${env.apiUri}/orders.read`];
    const flow = await msalPython('auth-code-start', [...common, ...(responseMode ? ['--response-mode', responseMode] : [])], { secret: env.secrets.web });
    assert.ok(flow.auth_uri, JSON.stringify(flow));
    const arrival = await env.signInThroughPages(flow.auth_uri, new URL(redirectUri).pathname);
    const response = arrival.method === 'POST' ? arrival.form : arrival.query;
    const finished = await msalPython('auth-code-finish', common, { secret: env.secrets.web, input: JSON.stringify({ flow, response }) });
    return { flow, arrival, ...finished };
  }

  let queryFlow;
  const queryModeFlow = () => {
    queryFlow ??= authorizationCodeFlow(null);
    return queryFlow;
  };

  before(async () => {
    env = await startMsalEnvironment('tailspin');
    authority = env.authority.replace(/\/$/, '');
    const keys = await (await fetch(`${env.runtime.listenUrl}/${env.subdomain}/discovery/v2.0/keys`)).json();
    jwks = jose.createLocalJWKSet(keys);
    keyDirectory = await mkdtemp(path.join(os.tmpdir(), 'ciam-msal-python-'));
  });

  after(async () => {
    await env?.stop();
    if (keyDirectory) await rm(keyDirectory, { recursive: true, force: true });
  });

  test('the venv has the pinned MSAL Python', async () => {
    const version = await new Promise((resolve, reject) => {
      execFile(PYTHON, ['-c', 'import msal; print(msal.__version__)'], (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
    });
    assert.equal(`msal==${version}`, 'msal==1.39.0', 'tests/runtime/python/requirements.txt pins msal==1.39.0');
  });

  test('client credentials with a secret, authority= and instance_discovery=False', async () => {
    const result = await msalPython(
      'client-credentials',
      ['--mode', 'authority', '--authority', authority, '--client-id', env.ids.daemon, '--scope', `${env.apiUri}/.default`],
      { secret: env.secrets.daemon },
    );
    await assertDaemonToken(result, env.ids.daemon);
  });

  test('client credentials with a secret, oidc_authority= the issuer', async () => {
    const result = await msalPython(
      'client-credentials',
      ['--mode', 'oidc', '--authority', env.issuer, '--client-id', env.ids.daemon, '--scope', `${env.apiUri}/.default`],
      { secret: env.secrets.daemon },
    );
    await assertDaemonToken(result, env.ids.daemon);
  });

  test('client credentials with a wrong secret: invalid_client', async () => {
    const result = await msalPython(
      'client-credentials',
      ['--authority', authority, '--client-id', env.ids.daemon, '--scope', `${env.apiUri}/.default`],
      { secret: 'not-the-secret' },
    );
    assert.equal(result.error, 'invalid_client', JSON.stringify(result));
    assert.equal(result.access_token, undefined);
  });

  test('client credentials with a secret, oidc_authority= the authority (discovery under the authority)', async () => {
    const result = await msalPython(
      'client-credentials',
      ['--mode', 'oidc', '--authority', authority, '--client-id', env.ids.daemon, '--scope', `${env.apiUri}/.default`],
      { secret: env.secrets.daemon },
    );
    await assertDaemonToken(result, env.ids.daemon);
  });

  test('client credentials with a certificate and its SHA-1 thumbprint (RS256, x5t)', async () => {
    const certificate = await createClientCertificate('tailspin job sha1');
    const clientId = await certificateDaemon(certificate);
    const files = await certificateFiles(certificate);
    const result = await msalPython('client-credentials', [
      '--authority', authority, '--client-id', clientId, '--scope', `${env.apiUri}/.default`,
      '--private-key', files.privateKey, '--thumbprint', certificate.thumbprintSha1,
    ]);
    await assertDaemonToken(result, clientId);
  });

  test('client credentials with a certificate sent along (PS256, x5t#S256, x5c)', async () => {
    const certificate = await createClientCertificate('tailspin job sha256');
    const clientId = await certificateDaemon(certificate);
    const files = await certificateFiles(certificate);
    const result = await msalPython('client-credentials', [
      '--authority', authority, '--client-id', clientId, '--scope', `${env.apiUri}/.default`,
      '--private-key', files.privateKey, '--certificate', files.publicCertificate,
    ]);
    await assertDaemonToken(result, clientId);
  });

  test('authorization code + PKCE in query mode: MSAL Python redeems the code and caches the account', async () => {
    const { flow, arrival, result, accounts } = await queryModeFlow();
    assert.equal(new URL(flow.auth_uri).searchParams.get('code_challenge_method'), 'S256');
    assert.equal(arrival.method, 'GET');
    assert.equal(arrival.query.state, flow.state);
    assert.ok(result.access_token, JSON.stringify(result));
    const access = await verifiedClaims(result.access_token, env.ids.api);
    assert.equal(access.azp, env.ids.web);
    assert.equal(access.scp, 'orders.read');
    const id = result.id_token_claims;
    assert.equal(id.iss, env.issuer);
    assert.equal(id.aud, env.ids.web);
    assert.equal(id.tid, env.tenantId);
    // MSAL Python sends the SHA-256 (hex) of the flow's nonce and checks it came back.
    assert.equal(id.nonce, createHash('sha256').update(flow.nonce).digest('hex'), 'the nonce came back');
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0].username, env.email);
    assert.equal(accounts[0].local_account_id, id.oid);
  });

  test('query mode: the cached account\'s home_account_id is <oid>.<tid>', async () => {
    const { result, accounts } = await queryModeFlow();
    assert.equal(accounts[0]?.home_account_id, `${result.id_token_claims.oid}.${env.tenantId}`);
  });

  test('authorization code + PKCE with response_mode=form_post: the posted answer redeemed, home_account_id <oid>.<tid>', async () => {
    const { flow, arrival, result, accounts } = await authorizationCodeFlow('form_post');
    assert.equal(new URL(flow.auth_uri).searchParams.get('response_mode'), 'form_post');
    assert.equal(arrival.method, 'POST');
    assert.equal(arrival.form.state, flow.state);
    assert.equal(arrival.form.iss, env.issuer);
    assert.ok(result.access_token, JSON.stringify(result));
    assert.equal(result.id_token_claims.aud, env.ids.web);
    assert.equal(accounts[0]?.home_account_id, `${result.id_token_claims.oid}.${env.tenantId}`);
  });
});
