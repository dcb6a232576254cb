// What the MSAL suites share: the runtime behind the TLS front with one tenant set up as an
// app team would (an API, a daemon, a confidential web app in a user flow, SMTP), a callback
// server that records what arrives at the redirect URI (query or form_post), and a customer
// who signs up or signs in on the hosted pages in Chromium.
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';

import { launchBrowser } from './browser.js';
import { startRuntime, waitFor } from './runtime.js';
import { startSmtpServer } from './smtp.js';
import { createTestCertificates, startTlsFront } from './tls-front.js';

export const PASSWORD = 'Corr3ct-Horse-Battery';
// The web app's access tokens live this long, so a test can wait for one to expire.
export const WEB_ACCESS_TOKEN_SECONDS = 3;

/**
 * A redirect target that records every request: `{ method, path, query, form }` (form: the
 * urlencoded body of a POST, as an object). `waitFor(path)` resolves with the first request to
 * `path` not yet taken.
 */
export async function startRecordingCallback() {
  const arrivals = [];
  const listeners = new Set();
  const server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const url = new URL(request.url, 'http://127.0.0.1');
      const arrival = {
        method: request.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        form: request.method === 'POST' ? Object.fromEntries(new URLSearchParams(body)) : {},
        contentType: request.headers['content-type'] ?? '',
      };
      arrivals.push(arrival);
      for (const listener of listeners) listener();
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!DOCTYPE html><title>callback</title><p>back at the app</p>');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  const taken = new Set();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    arrivals,
    /** The first arrival at `path` not returned before. */
    waitFor(path, timeoutMs = 60_000) {
      return waitFor(
        () => {
          const found = arrivals.find((arrival) => arrival.path === path && !taken.has(arrival));
          if (found) taken.add(found);
          return found;
        },
        { what: `a request to ${path}`, timeoutMs },
      );
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

const randomSecret = () => randomBytes(32).toString('base64url');

/**
 * Starts SMTP, the TLS front, the runtime announcing the front's https URL, Chromium and the
 * callback server, and registers tenant `subdomain`: an API (`api://<subdomain>-orders`,
 * scopes orders.read and orders.write), a daemon with a secret allowed orders.read, and a
 * confidential web app (secret, short-lived access tokens, redirect URIs `/query` and
 * `/form-post`) in a user flow with email + password sign-up.
 */
export async function startMsalEnvironment(subdomain) {
  const env = {};
  // Stops whatever was started, also when the setup below fails half-way.
  env.stop = async () => {
    await env.browser?.close();
    await env.callback?.close();
    await env.runtime?.stop();
    await env.front?.close();
    await env.smtp?.close();
    await env.certificates?.remove();
  };
  try {
    await setUp(env, subdomain);
  } catch (error) {
    await env.stop();
    throw error;
  }
  return env;
}

async function setUp(env, subdomain) {
  env.certificates = await createTestCertificates();
  env.smtp = await startSmtpServer();
  env.front = await startTlsFront(env.certificates);
  env.runtime = await startRuntime({
    publicUrl: env.front.url,
    env: { CIAM_PASSCODE_LIFETIME_SECONDS: '300', CIAM_PASSCODE_RESEND_SECONDS: '0' },
  });
  env.front.forwardTo(env.runtime.listenUrl);
  env.callback = await startRecordingCallback();
  env.browser = await launchBrowser();
  env.subdomain = subdomain;
  env.authority = `${env.front.url}/${subdomain}/`;
  env.apiUri = `api://${subdomain}-orders`;
  env.ids = { api: randomUUID(), daemon: randomUUID(), web: randomUUID() };
  env.secrets = { api: randomSecret(), daemon: randomSecret(), web: randomSecret() };
  env.redirect = { query: `${env.callback.baseUrl}/query`, formPost: `${env.callback.baseUrl}/form-post` };
  env.email = `dana.${Date.now()}@example.com`;
  env.accountCreated = false;

  const tenant = await env.runtime.admin('PUT', `/admin/v1/tenants/${subdomain}`, {
    displayName: `${subdomain} customers`,
    countryCode: 'US',
    defaultLocale: 'en',
    email: { fromAddress: `no-reply@${subdomain}.example` },
  });
  assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
  env.tenantId = tenant.body.tenantId;
  env.issuer = tenant.body.issuer;
  assert.equal(env.issuer, `${env.front.url}/${subdomain}/v2.0`, 'the issuer is the https front');
  const clients = {
    [env.ids.api]: {
      displayName: 'Orders API',
      type: 'web',
      exposedApi: { identifierUri: env.apiUri, scopes: [{ value: 'orders.read' }, { value: 'orders.write' }] },
      clientSecrets: [{ value: env.secrets.api }],
    },
    [env.ids.daemon]: {
      displayName: 'Nightly job',
      type: 'daemon',
      apiPermissions: [{ resourceAppId: env.ids.api, scopes: ['orders.read'] }],
      clientSecrets: [{ value: env.secrets.daemon }],
    },
    [env.ids.web]: {
      displayName: 'Web shop',
      type: 'web',
      redirectUris: [env.redirect.query, env.redirect.formPost],
      apiPermissions: [{ resourceAppId: env.ids.api, scopes: ['orders.read'] }],
      clientSecrets: [{ value: env.secrets.web }],
      accessTokenLifetime: `${WEB_ACCESS_TOKEN_SECONDS}s`,
    },
  };
  for (const [clientId, spec] of Object.entries(clients)) {
    const response = await env.runtime.admin('PUT', `/admin/v1/tenants/${subdomain}/clients/${clientId}`, spec);
    assert.equal(response.status, 201, JSON.stringify(response.body));
  }
  const smtpSettings = await env.runtime.admin('PUT', `/admin/v1/tenants/${subdomain}/smtp`, { host: '127.0.0.1', port: env.smtp.port, tls: 'none' });
  assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
  const flow = await env.runtime.admin('PUT', `/admin/v1/tenants/${subdomain}/userflows/sign-up-sign-in`, {
    displayName: 'Sign up and sign in',
    applications: [env.ids.web],
    signIn: { methods: ['emailPassword'] },
    attributes: [
      { name: 'email', inputType: 'text', required: true },
      { name: 'displayName', inputType: 'text', required: false },
    ],
  });
  assert.equal(flow.status, 201, JSON.stringify(flow.body));

  /** Registers (or replaces) a client of the tenant; resolves to the admin API's answer. */
  env.putClient = (clientId, spec) => env.runtime.admin('PUT', `/admin/v1/tenants/${subdomain}/clients/${clientId}`, spec);

  /**
   * Opens `authUrl` in a fresh Chromium context and, on the sign-in page, signs the customer
   * up (the first time, with the emailed passcode) or in; resolves to the request that then
   * arrives at the redirect URI path `arrivalPath`.
   */
  env.signInThroughPages = async (authUrl, arrivalPath) => {
    const context = await env.browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      const arrival = env.callback.waitFor(arrivalPath);
      await page.goto(authUrl);
      if (!/\/signin\?request=/.test(page.url())) {
        const text = (await page.locator('body').innerText()).trim().slice(0, 300);
        throw new Error(`expected the sign-in page, got ${page.url()}: ${text}`);
      }
      if (!env.accountCreated) {
        await page.getByRole('link', { name: 'Create one' }).click();
        await page.waitForURL(/\/signup\?request=/);
        await page.getByLabel('Email address').fill(env.email);
        await page.getByLabel('Display name (optional)').fill('Dana Example');
        await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
        const since = env.smtp.messages.length;
        await page.getByRole('button', { name: 'Create account' }).click();
        await page.getByLabel('Verification code').waitFor();
        const message = await env.smtp.waitForMessage(env.email, { since });
        await page.getByLabel('Verification code').fill(env.smtp.passcodeOf(message));
        await page.getByRole('button', { name: 'Verify', exact: true }).click();
        env.accountCreated = true;
      } else {
        await page.getByLabel('Email address').fill(env.email);
        await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
        await page.getByRole('button', { name: 'Sign in' }).click();
      }
      const arrived = await arrival;
      // Let the page finish loading what the callback answered before the context closes.
      await page.waitForLoadState('domcontentloaded');
      return arrived;
    } finally {
      await context.close();
    }
  };

  return env;
}
