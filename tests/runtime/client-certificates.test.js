// Certificate credentials (private_key_jwt client assertions, RFC 7523) and Entra's
// client_info against the real runtime: keys and certificates made with the openssl CLI in a
// temporary directory, assertions signed by openid-client and by jose, a sign-in in Chromium.
//
// Runs against SQLite by default, or against CIAM_TEST_DATABASE_URL (PostgreSQL).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import * as jose from 'jose';
import * as client from 'openid-client';

import { launchBrowser, startCallbackServer } from './lib/browser.js';
import { startRuntime } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const run = promisify(execFile);
const SUBDOMAIN = 'certs';
const API_URI = 'api://certs-orders';
const PASSWORD = 'Corr3ct-Horse-Battery';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const randomSecret = () => randomBytes(32).toString('base64url');
const sha256Hex = (value) => `sha256:${createHash('sha256').update(value).digest('hex')}`;
const base64url = (buffer) => Buffer.from(buffer).toString('base64url');

/** A key pair and self-signed certificate made by the openssl CLI (`rsa` or `ec`). */
async function makeCertificate(directory, name, kind) {
  const keyPath = path.join(directory, `${name}.key`);
  const certPath = path.join(directory, `${name}.crt`);
  const algorithm = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await run('openssl', ['req', '-x509', ...algorithm, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '30', '-subj', `/CN=${name}`]);
  const pem = await readFile(certPath, 'utf8');
  const keyPem = await readFile(keyPath, 'utf8');
  const raw = new X509Certificate(pem).raw;
  const alg = kind === 'rsa' ? 'RS256' : 'ES256';
  return {
    pem,
    privateKey: createPrivateKey(keyPem),
    // The same key as a WebCrypto CryptoKey, as openid-client takes it.
    cryptoKey: await jose.importPKCS8(keyPem, alg),
    x5tS256: base64url(createHash('sha256').update(raw).digest()),
    x5t: base64url(createHash('sha1').update(raw).digest()),
    alg,
  };
}

describe(`client certificates and client_info (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let smtp;
  let browser;
  let callback;
  let directory;
  let issuer;
  let tokenEndpoint;
  let tenantId;
  const certificates = {};
  const ids = { api: randomUUID(), daemon: randomUUID(), web: randomUUID() };
  const secrets = { api: randomSecret(), web: randomSecret() };
  const usedAssertions = [];

  const clientPath = (id) => `/admin/v1/tenants/${SUBDOMAIN}/clients/${id}`;
  const daemonSpec = (certs) => ({
    displayName: 'Nightly job with a certificate',
    type: 'daemon',
    apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
    certificates: certs.map((certificate) => ({ pem: certificate.pem })),
  });

  /** A client assertion of the daemon signed with `certificate`'s key; `header`/`claims` override. */
  async function assertion(certificate, { header = {}, claims = {} } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const signed = await new jose.SignJWT({ jti, ...claims })
      .setProtectedHeader({ alg: certificate.alg, typ: 'JWT', 'x5t#S256': certificate.x5tS256, ...header })
      .setIssuer(ids.daemon)
      .setSubject(ids.daemon)
      .setAudience(claims.aud ?? tokenEndpoint)
      .setIssuedAt(now)
      .setExpirationTime(claims.exp ?? now + 300)
      .sign(certificate.privateKey);
    usedAssertions.push(signed);
    return signed;
  }

  /** POSTs a client-credentials request authenticated by `clientAssertion`; returns status and body. */
  async function tokenWithAssertion(clientAssertion, extra = {}) {
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope: `${API_URI}/.default`,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: clientAssertion,
        ...extra,
      }),
    });
    return { status: response.status, body: await response.json() };
  }

  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'ciam-certificates-'));
    certificates.rsa = await makeCertificate(directory, 'rsa', 'rsa');
    certificates.ec = await makeCertificate(directory, 'ec', 'ec');
    certificates.unregistered = await makeCertificate(directory, 'unregistered', 'rsa');
    smtp = await startSmtpServer();
    runtime = await startRuntime();
    callback = await startCallbackServer();
    browser = await launchBrowser();
    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, {
      displayName: 'Certs',
      countryCode: 'US',
      email: { fromAddress: 'no-reply@certs.example', fromName: 'Certs' },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    issuer = tenant.body.issuer;
    tenantId = tenant.body.tenantId;
    tokenEndpoint = `${runtime.publicUrl}/${SUBDOMAIN}/oauth2/v2.0/token`;
    const clients = {
      [ids.api]: {
        displayName: 'Orders API',
        type: 'web',
        exposedApi: { identifierUri: API_URI, scopes: [{ value: 'orders.read' }] },
        clientSecrets: [{ hash: sha256Hex(secrets.api) }],
      },
      [ids.daemon]: daemonSpec([certificates.rsa]),
      [ids.web]: {
        displayName: 'Web app',
        type: 'web',
        redirectUris: [`${callback.baseUrl}/web/callback`],
        clientSecrets: [{ hash: sha256Hex(secrets.web) }],
      },
    };
    for (const [clientId, spec] of Object.entries(clients)) {
      const response = await runtime.admin('PUT', clientPath(clientId), spec);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const smtpSettings = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, {
      host: '127.0.0.1', port: smtp.port, tls: 'none', username: 'mailer', password: 'smtp-Pa55word',
    });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    const flow = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-in`, {
      displayName: 'Sign up and sign in',
      applications: [ids.web],
      signIn: { methods: ['emailPassword'] },
      attributes: [{ name: 'email', inputType: 'text', required: true, hidden: false, editable: true }],
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    await runtime?.stop();
    await smtp?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  test('the admin API refuses certificates that are not usable, and public clients with one', async () => {
    const garbage = await runtime.admin('PUT', clientPath(randomUUID()), { ...daemonSpec([]), certificates: [{ pem: 'not a certificate' }] });
    assert.equal(garbage.status, 422, JSON.stringify(garbage.body));
    assert.match(JSON.stringify(garbage.body), /certificates\[0\]\.pem/);
    const spa = await runtime.admin('PUT', clientPath(randomUUID()), {
      displayName: 'SPA', type: 'spa', redirectUris: ['https://spa.example/cb'], certificates: [{ pem: certificates.rsa.pem }],
    });
    assert.equal(spa.status, 422, JSON.stringify(spa.body));
    const stored = await runtime.admin('GET', clientPath(ids.daemon));
    assert.deepEqual(stored.body.spec.certificates, [{ pem: certificates.rsa.pem }]);
  });

  test('openid-client gets a client-credentials token with private_key_jwt (x5t#S256 header, aud = issuer)', async () => {
    const auth = client.PrivateKeyJwt(certificates.rsa.cryptoKey, {
      [client.modifyAssertion]: (header) => {
        header['x5t#S256'] = certificates.rsa.x5tS256;
      },
    });
    const config = await client.discovery(new URL(issuer), ids.daemon, undefined, auth, { execute: [client.allowInsecureRequests] });
    const metadata = config.serverMetadata();
    assert.ok(metadata.token_endpoint_auth_methods_supported.includes('private_key_jwt'), 'discovery advertises private_key_jwt');
    assert.deepEqual(metadata.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'PS256', 'ES256']);
    const tokens = await client.clientCredentialsGrant(config, { scope: `${API_URI}/.default` });
    const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer, audience: ids.api });
    assert.equal(payload.sub, ids.daemon);
    assert.equal(payload.azp, ids.daemon);
    assert.deepEqual(payload.roles, ['orders.read']);
    assert.equal(tokens.client_info, undefined, 'no client_info for app-only tokens');
  });

  test('an assertion is accepted once: a replay is invalid_client', async () => {
    const signed = await assertion(certificates.rsa);
    const first = await tokenWithAssertion(signed, { client_info: '1' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.client_info, undefined, 'client credentials have no user, so no client_info');
    const replay = await tokenWithAssertion(signed);
    assert.equal(replay.status, 401, JSON.stringify(replay.body));
    assert.equal(replay.body.error, 'invalid_client');
  });

  test('the SHA-1 x5t header and a kid equal to the thumbprint name the certificate too', async () => {
    const bySha1 = await assertion(certificates.rsa, { header: { 'x5t#S256': undefined, x5t: certificates.rsa.x5t } });
    assert.equal((await tokenWithAssertion(bySha1)).status, 200);
    const byKid = await assertion(certificates.rsa, { header: { 'x5t#S256': undefined, kid: certificates.rsa.x5tS256 } });
    assert.equal((await tokenWithAssertion(byKid)).status, 200);
  });

  test('an unknown certificate, a wrong audience, an expired or overlong assertion, alg none and HMAC are refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unknown = await assertion(certificates.unregistered);
    const wrongAudience = await assertion(certificates.rsa, { claims: { aud: `${runtime.publicUrl}/other/oauth2/v2.0/token` } });
    const expired = await assertion(certificates.rsa, { claims: { exp: now - 120 } });
    const overlong = await assertion(certificates.rsa, { claims: { exp: now + 24 * 3600 } });
    const claims = { iss: ids.daemon, sub: ids.daemon, aud: tokenEndpoint, exp: now + 300, jti: randomUUID() };
    const none = `${base64url(JSON.stringify({ alg: 'none', 'x5t#S256': certificates.rsa.x5tS256 }))}.${base64url(JSON.stringify(claims))}.`;
    // HS256 keyed with the certificate's public bytes: the classic algorithm confusion.
    const hmac = await new jose.SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', 'x5t#S256': certificates.rsa.x5tS256 })
      .sign(Buffer.from(certificates.rsa.pem));
    usedAssertions.push(none, hmac);
    for (const [what, signed] of Object.entries({ unknown, wrongAudience, expired, overlong, none, hmac })) {
      const refused = await tokenWithAssertion(signed);
      assert.equal(refused.status, 401, `${what}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.error, 'invalid_client', what);
    }
    const mixed = await tokenWithAssertion(await assertion(certificates.rsa), { client_secret: secrets.web });
    assert.equal(mixed.status, 400, JSON.stringify(mixed.body));
  });

  test('rotation: with a second certificate both work, and a removed one stops working', async () => {
    const both = await runtime.admin('PUT', clientPath(ids.daemon), daemonSpec([certificates.rsa, certificates.ec]));
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.equal((await tokenWithAssertion(await assertion(certificates.rsa))).status, 200, 'RS256 with the old certificate');
    assert.equal((await tokenWithAssertion(await assertion(certificates.ec))).status, 200, 'ES256 with the new certificate');
    const newOnly = await runtime.admin('PUT', clientPath(ids.daemon), daemonSpec([certificates.ec]));
    assert.equal(newOnly.status, 200, JSON.stringify(newOnly.body));
    const old = await tokenWithAssertion(await assertion(certificates.rsa));
    assert.equal(old.status, 401, JSON.stringify(old.body));
    assert.equal((await tokenWithAssertion(await assertion(certificates.ec))).status, 200);
  });

  test('client_info is returned for a user when asked (code and refresh), and not otherwise', async () => {
    const config = await client.discovery(new URL(issuer), ids.web, undefined, client.ClientSecretBasic(secrets.web), {
      execute: [client.allowInsecureRequests],
    });
    const redirectUri = `${callback.baseUrl}/web/callback`;
    const context = await browser.newContext();
    const page = await context.newPage();
    const signIn = async (signUp) => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid offline_access',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri), { timeout: 60_000 });
      // Awaited below; a failure before then is the test's error, not an unhandled rejection.
      arrived.catch(() => {});
      await page.goto(url.href);
      if (signUp) {
        const address = `zoe.${Date.now()}@example.com`;
        await page.waitForURL(/\/signin\?request=/);
        await page.getByRole('link', { name: 'Create one' }).click();
        await page.getByLabel('Email address').fill(address);
        await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
        const since = smtp.messages.length;
        await page.getByRole('button', { name: 'Create account' }).click();
        await page.getByLabel('Verification code').waitFor();
        const message = await smtp.waitForMessage(address, { since });
        await page.getByLabel('Verification code').fill(smtp.passcodeOf(message));
        await page.getByRole('button', { name: 'Verify', exact: true }).click();
      }
      await arrived;
      return { callbackUrl: new URL(page.url()), verifier, state };
    };
    try {
      const first = await signIn(true);
      const asked = await client.authorizationCodeGrant(
        config,
        first.callbackUrl,
        { pkceCodeVerifier: first.verifier, expectedState: first.state, idTokenExpected: true },
        { client_info: '1' },
      );
      const idToken = jose.decodeJwt(asked.id_token);
      assert.match(asked.client_info, /^[A-Za-z0-9_-]+$/, 'base64url without padding');
      const clientInfo = JSON.parse(Buffer.from(asked.client_info, 'base64url').toString('utf8'));
      assert.deepEqual(clientInfo, { uid: idToken.oid, utid: idToken.tid });
      assert.equal(clientInfo.utid, tenantId);
      const accessToken = jose.decodeJwt(asked.access_token);
      assert.equal(accessToken.oid, clientInfo.uid);

      const refreshed = await client.refreshTokenGrant(config, asked.refresh_token, { client_info: '1' });
      assert.equal(refreshed.client_info, asked.client_info);
      const refreshedSilently = await client.refreshTokenGrant(config, refreshed.refresh_token);
      assert.equal(refreshedSilently.client_info, undefined);

      const second = await signIn(false);
      const unasked = await client.authorizationCodeGrant(config, second.callbackUrl, {
        pkceCodeVerifier: second.verifier,
        expectedState: second.state,
        idTokenExpected: true,
      });
      assert.equal(unasked.client_info, undefined);
    } finally {
      await context.close();
    }
  });

  test('failed assertions are counted and logged without the assertion', async () => {
    const log = await readFile(runtime.logPath, 'utf8');
    assert.match(log, /"reason":"assertion_replayed"/);
    assert.match(log, /"reason":"assertion_unknown_certificate"/);
    assert.match(log, /"method":"private_key_jwt"/);
    for (const signed of usedAssertions) {
      assert.ok(!log.includes(signed.split('.')[2] || signed), 'an assertion appears in the log');
    }
    const metrics = await (await fetch(`${runtime.adminUrl}/metrics`)).text();
    assert.match(metrics, /reason="assertion_audience"/);
  });
});
