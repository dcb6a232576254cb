// End-to-end tests of the authorization endpoint as apps written for Entra External ID use
// it: response_mode=form_post (the code and the errors arrive as a POST to the app, with and
// without JavaScript), prompt=create (the sign-up page opens first), and discovery at the
// authority ({authority}.well-known/openid-configuration). A real runtime process, Debian's
// Chromium through playwright-core, a real SMTP listener, openid-client as the app, and the
// app's own HTTP server on 127.0.0.1 receiving the posts.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import { launchBrowser } from './lib/browser.js';
import { startRuntime, waitFor } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const SUBDOMAIN = 'woodgrove';
const PASSWORD = 'Corr3ct-Horse-Battery';

/**
 * The app's side of the redirect: an HTTP server on 127.0.0.1 that records every request to
 * it (method, path, query, headers, body) and answers with a small page.
 */
async function startAppServer() {
  const received = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method,
        url: new URL(request.url, `http://${request.headers.host}`),
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end('<!DOCTYPE html><title>app</title><p>back at the app</p>');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    received,
    /** Waits for the next request after number `since` to `path`. */
    next: (path, since) =>
      waitFor(() => received.slice(since).find((entry) => entry.url.pathname === path), { what: `a request to ${path}`, timeoutMs: 30_000 }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The posted authorization response as the Request openid-client reads a form post from. */
const asRequest = (entry) =>
  new Request(entry.url.href, { method: entry.method, headers: { 'content-type': entry.headers['content-type'] }, body: entry.body });

describe(`authorization endpoint: form_post, prompt=create, discovery at the authority (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let smtp;
  let browser;
  let app;
  let issuer;
  let authority;
  let config;
  let redirectUri;
  const clientId = randomUUID();
  const orphanId = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  const email = `avery.${Date.now()}@example.com`;

  /** An authorization URL of the web app with PKCE, state and nonce; `extra` adds parameters. */
  async function authorizationUrl(extra = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, verifier, state, nonce };
  }

  /** Fills the hosted sign-in form of `page` and presses Sign in. */
  async function signIn(page) {
    await page.waitForURL(/\/signin\?request=/);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** Redeems a posted (or redirected) authorization response and checks the ID token. */
  async function redeem(response, flow) {
    const tokens = await client.authorizationCodeGrant(config, response, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, clientId);
    assert.equal(claims.nonce, flow.nonce);
    assert.equal(claims.email, email);
    return tokens;
  }

  /** Checks that `entry` is a form post of the authorization response and returns its fields. */
  function postedFields(entry, flow) {
    assert.equal(entry.method, 'POST');
    assert.equal(entry.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(entry.url.search, '', 'nothing travels in the query');
    const fields = new URLSearchParams(entry.body);
    assert.equal(fields.get('state'), flow.state);
    assert.equal(fields.get('iss'), issuer);
    return fields;
  }

  before(async () => {
    smtp = await startSmtpServer();
    runtime = await startRuntime();
    app = await startAppServer();
    browser = await launchBrowser();
    redirectUri = `${app.baseUrl}/signin-oidc`;
    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, {
      displayName: 'Woodgrove',
      countryCode: 'US',
      defaultLocale: 'en',
      email: { fromAddress: 'no-reply@woodgrove.example' },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    issuer = tenant.body.issuer;
    authority = `${runtime.publicUrl}/${SUBDOMAIN}/`;
    const registered = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${clientId}`, {
      displayName: 'Woodgrove Web',
      type: 'web',
      redirectUris: [redirectUri],
      clientSecrets: [{ value: secret }],
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    // An app in no user flow: nobody can sign in to it, and it is told so.
    const orphan = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${orphanId}`, {
      displayName: 'Woodgrove Labs',
      type: 'web',
      redirectUris: [redirectUri],
      clientSecrets: [{ value: secret }],
    });
    assert.equal(orphan.status, 201, JSON.stringify(orphan.body));
    const smtpSettings = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, { host: '127.0.0.1', port: smtp.port, tls: 'none' });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    const flow = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/web`, {
      displayName: 'Web',
      applications: [clientId],
      signIn: { methods: ['emailPassword'] },
      attributes: [
        { name: 'email', inputType: 'text', required: true },
        { name: 'displayName', inputType: 'text', required: false },
      ],
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    await runtime?.stop();
    await smtp?.close();
  });

  test('discovery at {authority}.well-known/openid-configuration is the issuer\'s document, and openid-client uses it', async () => {
    const atIssuer = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { origin: 'https://spa.example' } });
    const atAuthority = await fetch(`${authority}.well-known/openid-configuration`, { headers: { origin: 'https://spa.example' } });
    assert.equal(atAuthority.status, 200);
    assert.equal(atAuthority.headers.get('access-control-allow-origin'), '*', 'browser apps may read it, as at the issuer');
    assert.equal(await atAuthority.text(), await atIssuer.text(), 'the same document, byte for byte');
    assert.equal((await fetch(`${runtime.publicUrl}/no-such-tenant/.well-known/openid-configuration`)).status, 404);

    config = await client.discovery(new URL('.well-known/openid-configuration', authority), clientId, undefined, client.ClientSecretPost(secret), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
    const metadata = config.serverMetadata();
    assert.equal(metadata.issuer, issuer, 'the issuer stays {authority}v2.0');
    assert.deepEqual(metadata.response_modes_supported, ['query', 'form_post']);
    assert.ok(metadata.prompt_values_supported.includes('create'));
  });

  test('prompt=create opens the sign-up page, and signing up there returns a code', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const flow = await authorizationUrl({ prompt: 'create' });
    await page.goto(flow.url.href);
    await page.waitForURL(/\/signup\?request=/);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Create account');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Display name (optional)').fill('Avery');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    const since = smtp.messages.length;
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByLabel('Verification code').waitFor();
    const message = await smtp.waitForMessage(email, { since });
    await page.getByLabel('Verification code').fill(smtp.passcodeOf(message));
    const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await arrived;
    const tokens = await redeem(new URL(page.url()), flow);
    assert.equal(tokens.claims().name, 'Avery');

    // Signed in now, the same browser asking to create an account still gets the sign-up
    // page: an existing session never answers prompt=create.
    const again = await authorizationUrl({ prompt: 'create' });
    await page.goto(again.url.href);
    await page.waitForURL(/\/signup\?request=/);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Create account');
    // prompt=create together with prompt=none is refused.
    const silent = await authorizationUrl({ prompt: 'none create' });
    const refused = await fetch(silent.url, { redirect: 'manual' });
    assert.equal(new URL(refused.headers.get('location')).searchParams.get('error'), 'invalid_request');
    await context.close();
  });

  test('form_post: the runtime\'s page posts code, state and iss to the app, and openid-client redeems them', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const flow = await authorizationUrl({ response_mode: 'form_post' });
    const since = app.received.length;
    await page.goto(flow.url.href);
    await signIn(page);
    const posted = await app.next('/signin-oidc', since);
    const fields = postedFields(posted, flow);
    assert.ok(fields.get('code'), 'the code is in the body');
    await page.waitForURL(redirectUri);
    assert.equal(await page.getByText('back at the app').count(), 1, 'the browser landed on the app');
    await redeem(asRequest(posted), flow);

    // With the session now open, single sign-on answers with a form post too.
    const sso = await authorizationUrl({ response_mode: 'form_post' });
    const ssoSince = app.received.length;
    await page.goto(sso.url.href);
    const ssoPosted = await app.next('/signin-oidc', ssoSince);
    postedFields(ssoPosted, sso);
    await redeem(asRequest(ssoPosted), sso);
    await context.close();
  });

  test('form_post without JavaScript: the page shows a Continue button that posts the same response', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const flow = await authorizationUrl({ response_mode: 'form_post' });
    await page.goto(flow.url.href);
    const formPage = page.waitForResponse((response) => response.request().method() === 'POST' && response.url().includes('/signin'));
    await signIn(page);
    const shown = await formPage;
    assert.equal(shown.status(), 200);
    const headers = shown.headers();
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.match(headers['content-security-policy'], /script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    assert.doesNotMatch(headers['content-security-policy'], /unsafe-eval|script-src[^;]*unsafe-inline/);
    assert.match(headers['content-security-policy'], new RegExp(`form-action ${app.baseUrl.replaceAll('.', '\\.')}(;|$)`));
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Returning to the application');
    const continueButton = page.getByRole('button', { name: 'Continue', exact: true });
    assert.ok(await continueButton.isVisible(), 'the Continue button is visible');
    const since = app.received.length;
    await continueButton.click();
    const posted = await app.next('/signin-oidc', since);
    const fields = postedFields(posted, flow);
    assert.ok(fields.get('code'));
    await redeem(asRequest(posted), flow);
    await context.close();
  });

  test('form_post errors arrive as a POST too: login_required for prompt=none without a session, invalid_scope', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const [extra, code] of [
      [{ prompt: 'none' }, 'login_required'],
      [{ scope: 'openid api://nowhere/read' }, 'invalid_scope'],
    ]) {
      const flow = await authorizationUrl({ response_mode: 'form_post', ...extra });
      const since = app.received.length;
      await page.goto(flow.url.href);
      const posted = await app.next('/signin-oidc', since);
      const fields = postedFields(posted, flow);
      assert.equal(fields.get('error'), code);
      assert.equal(fields.get('code'), null);
      await assert.rejects(
        () => client.authorizationCodeGrant(config, asRequest(posted), { pkceCodeVerifier: flow.verifier, expectedState: flow.state }),
        (error) => error instanceof client.AuthorizationResponseError && error.error === code,
      );
    }
    // An unsupported mode is refused in the query, the default of response_type=code.
    const fragment = await authorizationUrl({ response_mode: 'fragment' });
    const refused = await fetch(fragment.url, { redirect: 'manual' });
    assert.equal(new URL(refused.headers.get('location')).searchParams.get('error'), 'invalid_request');
    await context.close();
  });

  test('form_post for an app in no user flow: the error page\'s Return button posts unauthorized_client to the app', async () => {
    const orphanConfig = await client.discovery(new URL(issuer), orphanId, undefined, client.ClientSecretPost(secret), {
      execute: [client.allowInsecureRequests],
    });
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(orphanConfig, { redirect_uri: redirectUri, scope: 'openid', response_mode: 'form_post', state });
    const context = await browser.newContext();
    const page = await context.newPage();
    const shown = await page.goto(url.href);
    assert.equal(shown.status(), 400);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Sign-in is not available');
    const since = app.received.length;
    await page.getByRole('button', { name: 'Return to the application' }).click();
    const posted = await app.next('/signin-oidc', since);
    const fields = postedFields(posted, { state });
    assert.equal(fields.get('error'), 'unauthorized_client');
    await context.close();
  });

  test('form_post never sends anything to a redirect URI the app did not register', async () => {
    const flow = await authorizationUrl({ response_mode: 'form_post', redirect_uri: `${app.baseUrl}/elsewhere` });
    const response = await fetch(flow.url, { redirect: 'manual' });
    assert.equal(response.status, 400);
    const page = await response.text();
    assert.doesNotMatch(page, /<form[^>]*elsewhere/, 'no form to the unregistered URI');
    assert.match(page, /data-error="invalid_request"/);
  });

  test('prompt=create lands on sign-in when the tenant\'s branding hides sign-up', async () => {
    const hidden = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, {
      default: { loginPageTextVisibilitySettings: { hideSignUp: true } },
    });
    assert.ok([200, 201].includes(hidden.status), JSON.stringify(hidden.body));
    const context = await browser.newContext();
    const page = await context.newPage();
    const flow = await authorizationUrl({ prompt: 'create' });
    await page.goto(flow.url.href);
    await page.waitForURL(/\/signin\?request=/);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Sign in');
    assert.equal(await page.getByRole('link', { name: 'Create one' }).count(), 0);
    await context.close();
  });
});
