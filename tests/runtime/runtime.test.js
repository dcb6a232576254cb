// End-to-end tests of the identity runtime: a real process, a certified relying-party library
// (openid-client) and a real browser (Debian's Chromium driven by playwright-core).
//
// Runs against SQLite by default, or against CIAM_TEST_DATABASE_URL (PostgreSQL).
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';
import * as client from 'openid-client';

import { launchBrowser, startCallbackServer, submit } from './lib/browser.js';
import { createDatabase, queryDatabase, runtimeRefusingToStart, startRuntime, waitFor } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const SUBDOMAIN = 'contoso';
const API_URI = 'api://contoso-orders';
const PASSWORD = 'Corr3ct-Horse-Battery';
const NEW_PASSWORD = 'N3w-Staple-Battery-Horse';
const SMTP_PASSWORD = 'smtp-Pa55word-not-for-logs';
const PASSCODE_LIFETIME_SECONDS = 15;
const LOCKOUT_SECONDS = 6;

const TENANT_SPEC = {
  displayName: 'Contoso',
  countryCode: 'US',
  defaultLocale: 'en',
  customAttributes: [
    { name: 'loyaltyNumber', dataType: 'string' },
    { name: 'shoeSize', dataType: 'int' },
    { name: 'plan', dataType: 'string' },
    { name: 'region', dataType: 'string' },
    { name: 'interests', dataType: 'string' },
    { name: 'newsletter', dataType: 'boolean' },
    { name: 'termsOfUse', dataType: 'boolean' },
  ],
  email: { fromAddress: 'no-reply@contoso.example', fromName: 'Contoso' },
  passwordPolicy: { minLength: 10, requiredCharacterClasses: 3 },
  lockout: { threshold: 5, durationSeconds: LOCKOUT_SECONDS },
};

const randomSecret = () => randomBytes(32).toString('base64url');
const sha256Hex = (value) => `sha256:${createHash('sha256').update(value).digest('hex')}`;
const decodeJwt = (token) => jose.decodeJwt(token);
const jwtHeader = (token) => jose.decodeProtectedHeader(token);

/** Runs `action` and returns the OAuth error code it fails with. */
async function oauthError(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return error.error;
    if (error instanceof client.AuthorizationResponseError) return error.error;
    if (error instanceof client.WWWAuthenticateChallengeError) {
      const fromHeader = error.cause?.[0]?.parameters?.error;
      if (fromHeader) return fromHeader;
      return (await error.response.json()).error;
    }
    throw error;
  }
  assert.fail('expected an OAuth error, but the call succeeded');
}

describe(`identity runtime (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let browser;
  let callback;
  let issuer;
  let tenantId;
  let ssoContext;
  let smtp;
  const ids = {
    api: randomUUID(),
    daemon: randomUUID(),
    web: randomUUID(),
    spa: randomUUID(),
    shortLived: randomUUID(),
    shop: randomUUID(),
    orphan: randomUUID(),
    secure: randomUUID(),
  };
  const secrets = {
    api: randomSecret(),
    daemon: randomSecret(),
    daemonPrevious: randomSecret(),
    daemonExpired: randomSecret(),
    web: randomSecret(),
  };
  const email = `ann.${Date.now()}@example.com`;
  const configs = {};
  const redirect = {};

  /** The tenant's user flows: the default one, and the shop's that collects every input type. */
  const flows = () => ({
    'sign-up-sign-in': {
      displayName: 'Sign up and sign in',
      applications: [ids.web, ids.spa, ids.shortLived],
      signIn: { methods: ['emailPassword', 'emailOtp'] },
      attributes: [
        { name: 'email', inputType: 'text', required: true, hidden: false, editable: true },
        { name: 'displayName', inputType: 'text', required: false, hidden: false, editable: true },
      ],
    },
    secure: {
      displayName: 'Sign-in with MFA',
      applications: [ids.secure],
      signIn: { methods: ['emailPassword'] },
      attributes: [{ name: 'displayName', inputType: 'text', required: false, hidden: false, editable: true }],
      mfa: { emailOtp: 'Required' },
    },
    shop: {
      displayName: 'Shop sign-up',
      applications: [ids.shop],
      signIn: { methods: ['emailPassword'] },
      attributes: [
        { name: 'givenName', inputType: 'text', required: true, hidden: false, editable: true },
        { name: 'email', inputType: 'text', required: true, hidden: false, editable: true },
        { name: 'loyaltyNumber', label: 'Loyalty number', inputType: 'text', required: false, validationRegEx: '[A-Z]{2}[0-9]{4}', hidden: false, editable: true },
        { name: 'shoeSize', label: 'Shoe size', inputType: 'number', required: true, hidden: false, editable: true },
        { name: 'plan', label: 'Plan', inputType: 'radioSingleSelect', required: true, options: [{ label: 'Free', value: 'free' }, { label: 'Gold', value: 'gold' }], hidden: false, editable: true },
        { name: 'region', label: 'Region', inputType: 'dropdown', required: true, options: [{ label: 'Europe', value: 'eu' }, { label: 'North America', value: 'na' }], hidden: false, editable: true },
        { name: 'interests', label: 'Interests', inputType: 'checkboxMultiSelect', required: false, options: [{ label: 'Shoes', value: 'shoes' }, { label: 'Bags', value: 'bags' }, { label: 'Hats', value: 'hats' }], hidden: false, editable: true },
        { name: 'newsletter', label: 'Send me the *newsletter*', inputType: 'boolean', required: false, hidden: false, editable: true },
        { name: 'termsOfUse', label: 'I accept the [terms of use](https://contoso.example/terms)', inputType: 'checkboxSingleSelect', required: true, hidden: false, editable: true },
      ],
      tokenClaims: [
        { attribute: 'givenName', claimName: 'given_name' },
        { attribute: 'loyaltyNumber', claimName: 'loyalty' },
        { attribute: 'shoeSize', claimName: 'shoe_size' },
        { attribute: 'plan', claimName: 'extension_plan' },
        { attribute: 'region', claimName: 'region' },
        { attribute: 'interests', claimName: 'interests' },
        { attribute: 'newsletter', claimName: 'newsletter' },
      ],
    },
  });

  // openid-client 6 checks an ID token's claims by default but its signature only with
  // non-repudiation checks on: with them, every ID token the suite receives is verified
  // against the tenant's JWKS.
  const rpOptions = { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] };
  const discover = (clientId, auth, from = issuer) => client.discovery(new URL(from), clientId, undefined, auth, rpOptions);

  /**
   * Sends the browser through the authorization endpoint. When `credentials` are given, the
   * sign-in (or sign-up) form is filled in; returns the callback URL and the PKCE/state/nonce.
   */
  async function authorize(page, config, { redirectUri, scope, extra = {}, credentials, signUp = false }) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri), { timeout: 60_000 });
    await page.goto(url.href);
    if (credentials) {
      await page.waitForURL(/\/signin\?request=/);
      if (signUp) {
        await page.getByRole('link', { name: 'Create one' }).click();
        await page.waitForURL(/\/signup\?request=/);
        await page.getByLabel('Email address').fill(credentials.email);
        await page.getByLabel('Display name (optional)').fill('Ann Example');
        await page.getByLabel('Password', { exact: true }).fill(credentials.password);
        const since = smtp.messages.length;
        await page.getByRole('button', { name: 'Create account' }).click();
        await enterPasscode(page, credentials.email, since);
      } else {
        await page.getByLabel('Email address').fill(credentials.email);
        await page.getByLabel('Password', { exact: true }).fill(credentials.password);
        await page.getByRole('button', { name: 'Sign in' }).click();
      }
    }
    await arrived;
    return { callbackUrl: new URL(page.url()), verifier, state, nonce };
  }

  /**
   * Waits for the passcode page and the email sent to `address` after message number `since`,
   * then enters the passcode. Returns the email.
   */
  async function enterPasscode(page, address, since) {
    await page.getByLabel('Verification code').waitFor();
    const message = await smtp.waitForMessage(address, { since });
    await page.getByLabel('Verification code').fill(smtp.passcodeOf(message));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    return message;
  }

  /** Starts an authorization in `page` and waits for the sign-in form; returns the PKCE values. */
  async function openSignIn(page, config, redirectUri, extra = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'login',
      ...extra,
    });
    await page.goto(url.href);
    await page.waitForURL(/\/signin\?request=/);
    return { verifier, state };
  }

  /** The page's HTML with per-request values and the email address blanked, for comparisons. */
  const normalizedPage = async (page, address) =>
    (await page.content())
      .replaceAll(address, 'EMAIL')
      .replace(/name="(request|csrf_token|challenge)" value="[^"]*"/g, 'name="$1" value=""')
      .replace(/request=[A-Za-z0-9_-]+/g, 'request=');

  /** Completes a code flow in the signed-in SSO browser context and redeems the code. */
  async function userTokens(config, redirectUri, scope = `openid profile email offline_access ${API_URI}/orders.read`) {
    const page = await ssoContext.newPage();
    try {
      const flow = await authorize(page, config, { redirectUri, scope });
      const tokens = await client.authorizationCodeGrant(config, flow.callbackUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      return { tokens, flow };
    } finally {
      await page.close();
    }
  }

  before(async () => {
    smtp = await startSmtpServer();
    runtime = await startRuntime({
      env: {
        CIAM_PASSCODE_LIFETIME_SECONDS: String(PASSCODE_LIFETIME_SECONDS),
        CIAM_PASSCODE_RESEND_SECONDS: '3',
        CIAM_IP_LOCKOUT: 'true',
      },
    });
    callback = await startCallbackServer();
    browser = await launchBrowser();
    redirect.web = `${callback.baseUrl}/web/callback`;
    redirect.spa = `${callback.baseUrl}/spa/callback`;
    redirect.short = `${callback.baseUrl}/short/callback`;
    redirect.signedOut = `${callback.baseUrl}/signed-out`;
    redirect.shop = `${callback.baseUrl}/shop/callback`;
    redirect.orphan = `${callback.baseUrl}/orphan/callback`;
    redirect.secure = `${callback.baseUrl}/secure/callback`;

    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, TENANT_SPEC);
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    tenantId = tenant.body.tenantId;
    issuer = tenant.body.issuer;
    assert.equal(issuer, `${runtime.publicUrl}/${SUBDOMAIN}/v2.0`);

    const clients = {
      [ids.api]: {
        displayName: 'Orders API',
        type: 'web',
        exposedApi: { identifierUri: API_URI, scopes: [{ value: 'orders.read' }, { value: 'orders.write' }] },
        clientSecrets: [{ hash: sha256Hex(secrets.api) }],
      },
      [ids.daemon]: {
        displayName: 'Nightly job',
        type: 'daemon',
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
        clientSecrets: [
          { hash: sha256Hex(secrets.daemon) },
          { hash: sha256Hex(secrets.daemonPrevious), expiresAt: new Date(Date.now() + 3_600_000).toISOString() },
        ],
      },
      [ids.web]: {
        displayName: 'Contoso Web',
        type: 'web',
        redirectUris: [redirect.web],
        postLogoutRedirectUris: [redirect.signedOut],
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
        clientSecrets: [{ value: secrets.web }],
      },
      [ids.spa]: {
        displayName: 'Contoso SPA',
        type: 'spa',
        redirectUris: [redirect.spa],
        postLogoutRedirectUris: [redirect.signedOut],
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
      },
      [ids.shortLived]: {
        displayName: 'Short-lived tokens',
        type: 'spa',
        redirectUris: [redirect.short],
        accessTokenLifetime: '2s',
      },
      [ids.shop]: {
        displayName: 'Contoso Shop',
        type: 'spa',
        redirectUris: [redirect.shop],
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
      },
      [ids.secure]: {
        displayName: 'Contoso Bank',
        type: 'spa',
        redirectUris: [redirect.secure],
      },
      [ids.orphan]: {
        displayName: 'App in no user flow',
        type: 'spa',
        redirectUris: [redirect.orphan],
      },
    };
    for (const [clientId, spec] of Object.entries(clients)) {
      const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${clientId}`, spec);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    configs.daemon = await discover(ids.daemon, client.ClientSecretBasic(secrets.daemon));
    configs.daemonPost = await discover(ids.daemon, client.ClientSecretPost(secrets.daemon));
    configs.web = await discover(ids.web, client.ClientSecretBasic(secrets.web));
    configs.spa = await discover(ids.spa, client.None());
    configs.shortLived = await discover(ids.shortLived, client.None());
    configs.shop = await discover(ids.shop, client.None());
    configs.orphan = await discover(ids.orphan, client.None());
    configs.secure = await discover(ids.secure, client.None());
    const smtpSettings = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, {
      host: '127.0.0.1',
      port: smtp.port,
      tls: 'none',
      username: 'mailer',
      password: SMTP_PASSWORD,
    });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    for (const [name, flow] of Object.entries(flows())) {
      const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/${name}`, flow);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    ssoContext = await browser.newContext();
  });

  after(async () => {
    await ssoContext?.close();
    await browser?.close();
    await callback?.close();
    await runtime?.stop();
    await smtp?.close();
  });

  test('discovery describes the tenant with Entra-shaped endpoints', async () => {
    const metadata = configs.spa.serverMetadata();
    const base = `${runtime.publicUrl}/${SUBDOMAIN}`;
    assert.equal(metadata.issuer, issuer);
    assert.equal(metadata.authorization_endpoint, `${base}/oauth2/v2.0/authorize`);
    assert.equal(metadata.token_endpoint, `${base}/oauth2/v2.0/token`);
    assert.equal(metadata.end_session_endpoint, `${base}/oauth2/v2.0/logout`);
    assert.equal(metadata.jwks_uri, `${base}/discovery/v2.0/keys`);
    assert.equal(metadata.userinfo_endpoint, `${base}/openid/v2.0/userinfo`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    const jwks = await (await fetch(metadata.jwks_uri)).json();
    assert.equal(jwks.keys.length, 2, 'current and next key are published');
    assert.ok(jwks.keys.every((key) => key.kty === 'EC' && key.alg === 'ES256' && !('d' in key)));
  });

  test('client credentials with client_secret_basic and client_secret_post', async () => {
    for (const config of [configs.daemon, configs.daemonPost]) {
      const tokens = await client.clientCredentialsGrant(config, { scope: `${API_URI}/.default` });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
      const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
        issuer,
        audience: ids.api,
      });
      assert.equal(protectedHeader.alg, 'ES256');
      assert.equal(payload.sub, ids.daemon);
      assert.equal(payload.oid, ids.daemon);
      assert.equal(payload.azp, ids.daemon);
      assert.equal(payload.tid, tenantId);
      assert.equal(payload.ver, '2.0');
      assert.deepEqual(payload.roles, ['orders.read']);
      assert.ok(payload.nbf <= payload.iat && payload.exp > payload.iat);
    }
  });

  test('the previous client secret works during the rotation overlap, an expired one does not', async () => {
    const previous = await discover(ids.daemon, client.ClientSecretBasic(secrets.daemonPrevious));
    await client.clientCredentialsGrant(previous, { scope: `${API_URI}/.default` });
    const spec = (await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.daemon}`)).body.spec;
    spec.clientSecrets[1].expiresAt = new Date(Date.now() - 1000).toISOString();
    assert.equal((await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.daemon}`, spec)).status, 200);
    assert.equal(await oauthError(() => client.clientCredentialsGrant(previous, { scope: `${API_URI}/.default` })), 'invalid_client');
    await client.clientCredentialsGrant(configs.daemon, { scope: `${API_URI}/.default` });
  });

  test('sign-up and authorization code with PKCE in Chromium (public SPA client)', async () => {
    const page = await ssoContext.newPage();
    const scope = `openid profile email offline_access ${API_URI}/orders.read`;
    const flow = await authorize(page, configs.spa, {
      redirectUri: redirect.spa,
      scope,
      credentials: { email, password: PASSWORD },
      signUp: true,
    });
    await page.close();
    const tokens = await client.authorizationCodeGrant(configs.spa, flow.callbackUrl, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.ok(client.getJwksCache(configs.spa), 'openid-client fetched the JWKS to verify the ID token signature');
    assert.equal(jwtHeader(tokens.id_token).alg, 'ES256');
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, ids.spa);
    assert.equal(claims.tid, tenantId);
    assert.equal(claims.ver, '2.0');
    assert.equal(claims.nonce, flow.nonce);
    assert.equal(claims.email, email);
    assert.equal(claims.name, 'Ann Example');
    assert.equal(claims.oid, claims.sub);
    assert.ok(tokens.refresh_token, 'offline_access yields a refresh token');
    const access = decodeJwt(tokens.access_token);
    assert.equal(access.aud, ids.api);
    assert.equal(access.scp, 'orders.read');
    assert.equal(access.sub, claims.sub);
    assert.equal(access.azp, ids.spa);

    const userinfo = await client.fetchUserInfo(configs.spa, tokens.access_token, claims.sub);
    assert.equal(userinfo.email, email);
    assert.equal(userinfo.name, 'Ann Example');

    const refreshed = await client.refreshTokenGrant(configs.spa, tokens.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
    assert.equal(refreshed.claims().sub, claims.sub);
    const refreshedUserinfo = await client.fetchUserInfo(configs.spa, refreshed.access_token, claims.sub);
    assert.equal(refreshedUserinfo.sub, claims.sub);
  });

  test('sign-in with prompt=login, login_hint and ui_locales (confidential web client)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(configs.web, {
      redirect_uri: redirect.web,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'login',
      login_hint: email,
      ui_locales: 'fr-CA en',
    });
    await page.goto(url.href);
    await page.waitForURL(/\/signin\?request=/);
    assert.equal(await page.getByLabel('Adresse e-mail').inputValue(), email, 'login_hint prefills the email');
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr', 'ui_locales fr-CA picks the built-in French strings');
    await page.getByLabel('Mot de passe', { exact: true }).fill('wrong-password-1A');
    const refused = page.waitForResponse((response) => response.request().method() === 'POST');
    await page.getByRole('button', { name: 'Se connecter' }).click();
    assert.equal((await refused).status(), 400);
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /incorrect/);
    const arrived = page.waitForURL((current) => current.href.startsWith(redirect.web));
    await page.getByLabel('Mot de passe', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Se connecter' }).click();
    await arrived;
    const tokens = await client.authorizationCodeGrant(configs.web, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims().email, email);
    assert.equal(tokens.claims().aud, ids.web);
    await context.close();
  });

  test('sign-up collects the flow\'s attributes with every input type, validates them on the server and maps them to token claims', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const shopEmail = `carol.${Date.now()}@example.com`;
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(configs.shop, {
      redirect_uri: redirect.shop,
      scope: `openid profile email ${API_URI}/orders.read`,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    await page.goto(url.href);
    await page.waitForURL(/\/signin\?request=/);
    await page.getByRole('link', { name: 'Create one' }).click();
    await page.waitForURL(/\/signup\?request=/);
    const labels = (await page.locator('form label, form legend').allInnerTexts()).map((text) => text.trim());
    assert.deepEqual(labels, [
      'Given name', 'Email address', 'Password', 'Loyalty number (optional)', 'Shoe size',
      'Plan', 'Free', 'Gold', 'Region', 'Interests (optional)', 'Shoes', 'Bags', 'Hats',
      'Send me the newsletter', 'I accept the terms of use',
    ], 'attributes appear in the flow\'s order, the password after the email');
    assert.equal(await page.getByRole('link', { name: 'terms of use' }).getAttribute('href'), 'https://contoso.example/terms');
    assert.equal(await page.locator('em').innerText(), 'newsletter');

    await page.getByLabel('Given name').fill('Ann');
    await page.getByLabel('Email address').fill(shopEmail);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Loyalty number (optional)').fill('bad');
    await page.getByLabel('Shoe size').fill('forty');
    await page.getByLabel('Hats').check();
    const refused = page.waitForResponse((response) => response.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.equal((await refused).status(), 400, 'the server validates, not the browser');
    await page.locator('#error-summary').waitFor();
    assert.match(await page.locator('#error-field-loyaltyNumber').innerText(), /format/);
    assert.match(await page.locator('#error-field-shoeSize').innerText(), /whole number/);
    assert.match(await page.locator('#error-field-plan').innerText(), /Choose/);
    assert.match(await page.locator('#error-field-region').innerText(), /Choose/);
    assert.match(await page.locator('#error-field-termsOfUse').innerText(), /accept/);
    assert.equal(await page.getByLabel('Shoe size').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Shoe size').getAttribute('aria-describedby'), 'error-field-shoeSize');
    assert.equal(await page.locator('#error-summary a').count(), 5);
    assert.equal(await page.locator('#error-summary a').last().innerText(), 'I accept the terms of use: You must accept this to continue.');
    assert.equal(await page.getByLabel('Given name').inputValue(), 'Ann', 'entered values are kept');
    assert.ok(await page.getByLabel('Hats').isChecked(), 'ticked options are kept');

    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Loyalty number (optional)').fill('AB1234');
    await page.getByLabel('Shoe size').fill('42');
    await page.getByLabel('Gold').check();
    await page.getByLabel('Region').selectOption('eu');
    await page.getByLabel('Shoes').check();
    await page.getByLabel('Send me the newsletter').check();
    await page.getByRole('checkbox', { name: /terms of use/ }).check();
    const arrived = page.waitForURL((current) => current.href.startsWith(redirect.shop));
    const since = smtp.messages.length;
    await page.getByRole('button', { name: 'Create account' }).click();
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Verify your email', 'the email is verified before the account exists');
    await enterPasscode(page, shopEmail, since);
    await arrived;
    const tokens = await client.authorizationCodeGrant(configs.shop, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const expected = {
      given_name: 'Ann',
      loyalty: 'AB1234',
      shoe_size: 42,
      extension_plan: 'gold',
      region: 'eu',
      interests: ['shoes', 'hats'],
      newsletter: true,
    };
    const claims = tokens.claims();
    assert.equal(claims.email, shopEmail);
    for (const [name, value] of Object.entries(expected)) {
      assert.deepEqual(claims[name], value, `ID token claim ${name}`);
    }
    const access = decodeJwt(tokens.access_token);
    assert.equal(access.aud, ids.api);
    for (const [name, value] of Object.entries(expected)) {
      assert.deepEqual(access[name], value, `access token claim ${name}`);
    }
    await context.close();
  });

  test('an app in no user flow gets a clear error page, and an OAuth error back', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const url = client.buildAuthorizationUrl(configs.orphan, {
      redirect_uri: redirect.orphan,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: 'o1',
    });
    const shown = await page.goto(url.href);
    assert.equal(shown.status(), 400);
    assert.equal(await page.locator('[data-error]').getAttribute('data-error'), 'unauthorized_client');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Sign-in is not available');
    await page.getByRole('link', { name: 'Return to the application' }).click();
    await page.waitForURL((current) => current.href.startsWith(redirect.orphan));
    const returned = new URL(page.url());
    assert.equal(returned.searchParams.get('error'), 'unauthorized_client');
    assert.equal(returned.searchParams.get('state'), 'o1');
    assert.equal(returned.searchParams.get('iss'), issuer);
    await context.close();

    url.searchParams.set('prompt', 'none');
    const silent = await fetch(url, { redirect: 'manual' });
    assert.equal(new URL(silent.headers.get('location')).searchParams.get('error'), 'unauthorized_client');
  });

  test('an existing session signs the user in without a form (single sign-on)', async () => {
    const { tokens } = await userTokens(configs.web, redirect.web, 'openid email');
    assert.equal(tokens.claims().email, email);
  });

  test('an ID token whose signature does not verify against JWKS is refused by openid-client', async () => {
    const tampering = await discover(ids.spa, client.None());
    const tokenEndpoint = tampering.serverMetadata().token_endpoint;
    tampering[client.customFetch] = async (url, options) => {
      const response = await fetch(url, options);
      if (String(url) !== tokenEndpoint || response.status !== 200) return response;
      const body = await response.json();
      const [header, payload, signature] = body.id_token.split('.');
      const flipped = Buffer.from(signature, 'base64url');
      flipped[10] ^= 0x01;
      body.id_token = [header, payload, flipped.toString('base64url')].join('.');
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const page = await ssoContext.newPage();
    const flow = await authorize(page, tampering, { redirectUri: redirect.spa, scope: 'openid email' });
    await page.close();
    await assert.rejects(
      client.authorizationCodeGrant(tampering, flow.callbackUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      }),
      (error) => error instanceof client.ClientError && error.cause?.message === 'JWT signature verification failed',
    );
  });

  test('RP-initiated logout validates post_logout_redirect_uri and ends the session', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const flow = await authorize(page, configs.web, {
      redirectUri: redirect.web,
      scope: 'openid',
      credentials: { email, password: PASSWORD },
    });
    const tokens = await client.authorizationCodeGrant(configs.web, flow.callbackUrl, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    });

    const unregistered = client.buildEndSessionUrl(configs.web, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: `${callback.baseUrl}/elsewhere`,
    });
    const refused = await page.goto(unregistered.href);
    assert.equal(refused.status(), 400);
    assert.equal(await page.locator('[data-error]').getAttribute('data-error'), 'invalid_request');

    const logoutState = client.randomState();
    const logoutUrl = client.buildEndSessionUrl(configs.web, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: redirect.signedOut,
      state: logoutState,
    });
    await page.goto(logoutUrl.href);
    await page.waitForURL((current) => current.href.startsWith(redirect.signedOut));
    assert.equal(new URL(page.url()).searchParams.get('state'), logoutState);

    // The session is gone: authorizing again shows the sign-in form.
    await page.goto(
      client.buildAuthorizationUrl(configs.web, {
        redirect_uri: redirect.web,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href,
    );
    await page.waitForURL(/\/signin\?request=/);
    await context.close();
  });

  test('prompt=none without a session is login_required', async () => {
    const url = client.buildAuthorizationUrl(configs.web, { redirect_uri: redirect.web, scope: 'openid', prompt: 'none', state: 's1' });
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(response.headers.get('location'));
    assert.equal(location.searchParams.get('error'), 'login_required');
    assert.equal(location.searchParams.get('state'), 's1');
  });

  test('a sign-in form posted without the browser\'s CSRF cookie is refused', async () => {
    const url = client.buildAuthorizationUrl(configs.web, { redirect_uri: redirect.web, scope: 'openid' });
    const started = await fetch(url, { redirect: 'manual' });
    const signIn = new URL(started.headers.get('location'));
    assert.match(signIn.pathname, /\/signin$/);
    const form = new URLSearchParams({
      request: signIn.searchParams.get('request'),
      csrf_token: 'forged',
      email,
      password: PASSWORD,
    });
    const response = await fetch(new URL('signin', signIn), { method: 'POST', body: form, redirect: 'manual' });
    assert.equal(response.status, 403);
    assert.match(await response.text(), /data-error="invalid_request"/);
  });

  test('repeated wrong passwords lock the account (tenant lockout policy)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const bob = `bob.${Date.now()}@example.com`;
    await authorize(page, configs.web, {
      redirectUri: redirect.web,
      scope: 'openid',
      credentials: { email: bob, password: PASSWORD },
      signUp: true,
    });
    const url = client.buildAuthorizationUrl(configs.web, {
      redirect_uri: redirect.web,
      scope: 'openid',
      prompt: 'login',
      login_hint: bob,
    });
    await page.goto(url.href);
    const submit = async (password) => {
      await page.getByLabel('Password', { exact: true }).fill(password);
      const answered = page.waitForResponse((response) => response.request().method() === 'POST');
      await page.getByRole('button', { name: 'Sign in' }).click();
      assert.equal((await answered).status(), 400);
      await page.waitForLoadState('domcontentloaded');
    };
    for (let attempt = 0; attempt < 5; attempt += 1) await submit(`Wrong-password-${attempt}`);
    await submit(PASSWORD);
    assert.match(await page.getByRole('alert').innerText(), /locked/);
    assert.match(page.url(), /\/signin/);
    await context.close();
  });

  test('MFA required: password, then the passcode from the email; wrong, expired and reused passcodes are refused', async () => {
    const erin = `erin.${Date.now()}@example.com`;
    const signUp = await browser.newContext();
    await authorize(await signUp.newPage(), configs.secure, {
      redirectUri: redirect.secure,
      scope: 'openid',
      credentials: { email: erin, password: PASSWORD },
      signUp: true,
    });
    await signUp.close();

    const context = await browser.newContext();
    const page = await context.newPage();
    const { verifier, state } = await openSignIn(page, configs.secure, redirect.secure);
    await page.getByLabel('Email address').fill(erin);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    let since = smtp.messages.length;
    assert.equal(await submit(page, 'Sign in'), 200);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Verify it\'s you', 'the password alone does not sign in');
    const first = smtp.passcodeOf(await smtp.waitForMessage(erin, { since }));
    const sentAt = Date.now();

    const wrong = String((Number(first) + 1) % 1_000_000).padStart(6, '0');
    await page.getByLabel('Verification code').fill(wrong);
    assert.equal(await submit(page, 'Verify'), 400);
    assert.match(await page.getByRole('alert').innerText(), /wrong/);

    // The one clock wait of this kind that stays: the server's only answer to "has the code
    // expired?" is to submit the correct code, and submitting it before expiry would spend it
    // (signing in) instead of showing the expiry error.
    await waitFor(() => Date.now() > sentAt + (PASSCODE_LIFETIME_SECONDS + 1) * 1000, {
      what: 'the passcode to expire',
      timeoutMs: (PASSCODE_LIFETIME_SECONDS + 10) * 1000,
      intervalMs: 250,
    });
    await page.getByLabel('Verification code').fill(first);
    assert.equal(await submit(page, 'Verify'), 400);
    assert.match(await page.getByRole('alert').innerText(), /expired/);

    since = smtp.messages.length;
    assert.equal(await submit(page, 'Send a new code'), 200);
    assert.match(await page.getByRole('status').innerText(), /new code/);
    const second = smtp.passcodeOf(await smtp.waitForMessage(erin, { since }));
    assert.equal(await submit(page, 'Send a new code'), 400, 'resending has a cool-down');
    assert.match(await page.getByRole('alert').innerText(), /Wait \d+ seconds/);

    const form = Object.fromEntries(
      await page.locator('form input[type=hidden]').evaluateAll((inputs) => inputs.map((input) => [input.name, input.value])),
    );
    await page.getByLabel('Verification code').fill(second);
    const arrived = page.waitForURL((current) => current.href.startsWith(redirect.secure));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await arrived;
    const tokens = await client.authorizationCodeGrant(configs.secure, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims().email, erin);

    const replay = await page.request.post(new URL('verify', `${runtime.publicUrl}/${SUBDOMAIN}/`).href, {
      form: { ...form, code: second, action: 'verify' },
      maxRedirects: 0,
    });
    assert.equal(replay.status(), 400, 'a passcode works once');
    await context.close();
  });

  test('passwordless sign-in by email passcode, with the same page for unknown accounts', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const unknown = `nobody.${Date.now()}@example.com`;
    await openSignIn(page, configs.spa, redirect.spa);
    await page.getByLabel('Email address').fill(unknown);
    assert.equal(await submit(page, 'Email me a sign-in code'), 200);
    const unknownPage = await normalizedPage(page, unknown);

    const { verifier, state } = await openSignIn(page, configs.spa, redirect.spa);
    await page.getByLabel('Email address').fill(email);
    const since = smtp.messages.length;
    assert.equal(await submit(page, 'Email me a sign-in code'), 200);
    assert.equal(await normalizedPage(page, email), unknownPage, 'known and unknown emails get the same page');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Enter your code');
    const arrived = page.waitForURL((current) => current.href.startsWith(redirect.spa));
    const message = await enterPasscode(page, email, since);
    assert.match(message.headers.subject, /Contoso verification code/);
    assert.equal(message.from, 'no-reply@contoso.example');
    assert.deepEqual(message.auth, { username: 'mailer', password: SMTP_PASSWORD }, 'the sealed SMTP password is used');
    await arrived;
    const tokens = await client.authorizationCodeGrant(configs.spa, new URL(page.url()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      idTokenExpected: true,
    });
    assert.equal(tokens.claims().email, email);
    assert.ok(!smtp.messages.some((sent) => sent.to.includes(unknown)), 'nothing is sent to unknown emails');
    await context.close();
  });

  test('password reset by email passcode; lockout after N failures for known and unknown emails alike, and recovery after the window', async () => {
    const dave = `dave.${Date.now()}@example.com`;
    const unknown = `ghost.${Date.now()}@example.com`;
    const context = await browser.newContext();
    const page = await context.newPage();
    await authorize(page, configs.web, {
      redirectUri: redirect.web,
      scope: 'openid',
      credentials: { email: dave, password: PASSWORD },
      signUp: true,
    });

    // Reset: the page for an unknown email is the same as for a known one.
    await openSignIn(page, configs.web, redirect.web);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(unknown);
    assert.equal(await submit(page, 'Send code'), 200);
    const unknownPage = await normalizedPage(page, unknown);
    const { verifier, state } = await openSignIn(page, configs.web, redirect.web);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(dave);
    let since = smtp.messages.length;
    assert.equal(await submit(page, 'Send code'), 200);
    assert.equal(await normalizedPage(page, dave), unknownPage);
    const code = smtp.passcodeOf(await smtp.waitForMessage(dave, { since }));
    await page.getByLabel('Verification code').fill(code);
    await page.getByLabel('Password', { exact: true }).fill('weak');
    assert.equal(await submit(page, 'Reset password'), 400);
    assert.match(await page.getByRole('alert').innerText(), /rules/);
    await page.getByLabel('Verification code').fill(code);
    await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
    const arrived = page.waitForURL((current) => current.href.startsWith(redirect.web));
    await page.getByRole('button', { name: 'Reset password' }).click();
    await arrived;
    await client.authorizationCodeGrant(configs.web, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });

    // Lockout: five wrong passwords lock the account; the right one is then refused too.
    const lockOut = async (lockPage, address) => {
      await openSignIn(lockPage, configs.web, redirect.web);
      await lockPage.getByLabel('Email address').fill(address);
      const answers = [];
      for (let attempt = 0; attempt < 5; attempt += 1) {
        await lockPage.getByLabel('Password', { exact: true }).fill(`Wrong-password-${attempt}`);
        assert.equal(await submit(lockPage, 'Sign in'), 400);
        answers.push(await lockPage.getByRole('alert').innerText());
      }
      await lockPage.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
      assert.equal(await submit(lockPage, 'Sign in'), 400);
      answers.push(await lockPage.getByRole('alert').innerText());
      return answers;
    };
    const daveAnswers = await lockOut(page, dave);
    assert.match(daveAnswers[5], /locked/, 'the right password is refused while locked');

    // Recovery once the lockout window has passed: the right password is tried until the
    // server lets it in. Attempts refused while locked are not counted as failures (the lock
    // is checked before the password), so trying does not extend the lock. This starts right
    // after the lock, so that the first tries meet it even on a slow machine.
    await openSignIn(page, configs.web, redirect.web);
    await page.getByLabel('Email address').fill(dave);
    let lockedAnswers = 0;
    await waitFor(
      async () => {
        await page.getByLabel('Password', { exact: true }).fill(NEW_PASSWORD);
        const status = await submit(page, 'Sign in');
        if (status !== 400) {
          await page.waitForURL((current) => current.href.startsWith(redirect.web));
          return true;
        }
        assert.match(await page.getByRole('alert').innerText(), /locked/, 'only the lock refuses the right password');
        lockedAnswers += 1;
        return false;
      },
      { what: 'the lockout window to pass', timeoutMs: (LOCKOUT_SECONDS + 30) * 1000, intervalMs: 500 },
    );
    assert.ok(lockedAnswers >= 1, 'the right password was refused while the account was locked');
    await context.close();

    // An unknown email gets exactly the same answers (in a browser without Dave's session).
    const stranger = await browser.newContext();
    const unknownAnswers = await lockOut(await stranger.newPage(), unknown);
    assert.deepEqual(unknownAnswers, daveAnswers, 'unknown emails are answered exactly like known ones');
    await stranger.close();
  });

  test('wrong client secret is invalid_client', async () => {
    const wrong = await discover(ids.daemon, client.ClientSecretBasic(randomSecret()));
    assert.equal(await oauthError(() => client.clientCredentialsGrant(wrong, { scope: `${API_URI}/.default` })), 'invalid_client');
    const wrongPost = await discover(ids.daemon, client.ClientSecretPost(randomSecret()));
    assert.equal(await oauthError(() => client.clientCredentialsGrant(wrongPost, { scope: `${API_URI}/.default` })), 'invalid_client');
  });

  test('unknown client is invalid_client', async () => {
    const unknown = await discover(randomUUID(), client.ClientSecretBasic(randomSecret()));
    assert.equal(await oauthError(() => client.clientCredentialsGrant(unknown, { scope: `${API_URI}/.default` })), 'invalid_client');
  });

  test('client credentials for an API without permission is invalid_scope', async () => {
    const web = await discover(ids.web, client.ClientSecretPost(secrets.web));
    assert.equal(await oauthError(() => client.clientCredentialsGrant(configs.daemon, { scope: 'api://unknown/.default' })), 'invalid_scope');
    // The web app has a delegated permission on the API: as an app it still gets no roles it was not given.
    const tokens = await client.clientCredentialsGrant(web, { scope: `${API_URI}/.default` });
    assert.deepEqual(decodeJwt(tokens.access_token).roles, ['orders.read']);
    const spaAsApp = await discover(ids.spa, client.None());
    assert.equal(await oauthError(() => client.clientCredentialsGrant(spaAsApp, { scope: `${API_URI}/.default` })), 'unauthorized_client');
  });

  test('an unregistered redirect URI is refused without redirecting (also with a trailing slash)', async () => {
    for (const redirectUri of [`${callback.baseUrl}/not-registered`, `${redirect.spa}/`]) {
      const url = client.buildAuthorizationUrl(configs.spa, {
        redirect_uri: redirectUri,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      });
      const response = await fetch(url, { redirect: 'manual' });
      assert.equal(response.status, 400, redirectUri);
      assert.equal(response.headers.get('location'), null);
      assert.match(await response.text(), /data-error="invalid_request"/);
    }
  });

  test('a public client without PKCE gets invalid_request', async () => {
    const url = client.buildAuthorizationUrl(configs.spa, { redirect_uri: redirect.spa, scope: 'openid', state: 'xyz' });
    const response = await fetch(url, { redirect: 'manual' });
    assert.equal(response.status, 303);
    const location = new URL(response.headers.get('location'));
    assert.equal(`${location.origin}${location.pathname}`, redirect.spa);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.equal(location.searchParams.get('state'), 'xyz');
    assert.equal(location.searchParams.get('iss'), issuer);
  });

  test('a wrong code_verifier is invalid_grant', async () => {
    const page = await ssoContext.newPage();
    const flow = await authorize(page, configs.spa, { redirectUri: redirect.spa, scope: 'openid' });
    await page.close();
    const code = await oauthError(() =>
      client.authorizationCodeGrant(configs.spa, flow.callbackUrl, {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      }),
    );
    assert.equal(code, 'invalid_grant');
  });

  test('a reused code is invalid_grant and revokes the tokens issued from it', async () => {
    const { tokens, flow } = await userTokens(configs.spa, redirect.spa);
    const reuse = await oauthError(() =>
      client.authorizationCodeGrant(configs.spa, flow.callbackUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
      }),
    );
    assert.equal(reuse, 'invalid_grant');
    assert.equal(await oauthError(() => client.refreshTokenGrant(configs.spa, tokens.refresh_token)), 'invalid_grant');
    assert.equal(
      await oauthError(() => client.fetchUserInfo(configs.spa, tokens.access_token, tokens.claims().sub)),
      'invalid_token',
    );
  });

  test('a reused refresh token is invalid_grant and revokes the whole token family', async () => {
    const { tokens } = await userTokens(configs.spa, redirect.spa);
    const second = await client.refreshTokenGrant(configs.spa, tokens.refresh_token);
    assert.equal(await oauthError(() => client.refreshTokenGrant(configs.spa, tokens.refresh_token)), 'invalid_grant');
    assert.equal(await oauthError(() => client.refreshTokenGrant(configs.spa, second.refresh_token)), 'invalid_grant');
    assert.equal(
      await oauthError(() => client.fetchUserInfo(configs.spa, second.access_token, tokens.claims().sub)),
      'invalid_token',
    );
  });

  test('an expired access token is invalid_token at userinfo', async () => {
    const { tokens } = await userTokens(configs.shortLived, redirect.short, 'openid email');
    // Userinfo answers the token's claims until the server considers it expired (2 s).
    const challenge = await waitFor(
      async () => {
        try {
          const userinfo = await client.fetchUserInfo(configs.shortLived, tokens.access_token, tokens.claims().sub);
          assert.equal(userinfo.sub, tokens.claims().sub);
          return false;
        } catch (error) {
          if (error instanceof client.WWWAuthenticateChallengeError) return error;
          throw error;
        }
      },
      { what: 'userinfo to refuse the expired access token', timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(challenge.status, 401);
    assert.equal(challenge.cause[0].parameters.error, 'invalid_token');
    assert.match(challenge.cause[0].parameters.error_description, /expired/);
  });

  test('key rotation: the next key signs, the old key stays published, old tokens still validate', async () => {
    const jwksUrl = new URL(configs.daemon.serverMetadata().jwks_uri);
    const before = await client.clientCredentialsGrant(configs.daemon, { scope: `${API_URI}/.default` });
    const { tokens: userBefore } = await userTokens(configs.spa, redirect.spa, 'openid email offline_access');
    const oldKid = jwtHeader(before.access_token).kid;
    assert.equal(jwtHeader(userBefore.id_token).kid, oldKid);
    assert.equal(jwtHeader(userBefore.access_token).kid, oldKid);
    const keysBefore = (await (await fetch(jwksUrl)).json()).keys.map((key) => key.kid);
    const nextKid = keysBefore.find((kid) => kid !== oldKid);

    // `{}` is accepted as the body of a rotation (as is none, see the admin API tests).
    const rotated = await runtime.admin('POST', `/admin/v1/tenants/${SUBDOMAIN}/signing-keys/rotate`, {});
    assert.equal(rotated.status, 200);
    const states = Object.fromEntries(rotated.body.items.map((key) => [key.kid, key.state]));
    assert.equal(states[oldKid], 'retired');
    assert.equal(states[nextKid], 'current', 'the published next key becomes current');

    const jwks = await (await fetch(jwksUrl)).json();
    assert.equal(jwks.keys.length, 3);
    assert.ok(jwks.keys.some((key) => key.kid === oldKid), 'the old key stays in JWKS');
    const keySet = jose.createLocalJWKSet(jwks);
    await jose.jwtVerify(before.access_token, keySet, { issuer, audience: ids.api });
    // The user's pre-rotation ID token and access token verify against the JWKS after it.
    const idBefore = await jose.jwtVerify(userBefore.id_token, keySet, { issuer, audience: ids.spa });
    assert.equal(idBefore.protectedHeader.kid, oldKid);
    await jose.jwtVerify(userBefore.access_token, keySet, { issuer, audience: ids.spa });

    const after = await client.clientCredentialsGrant(configs.daemon, { scope: `${API_URI}/.default` });
    assert.equal(jwtHeader(after.access_token).kid, nextKid);
    await jose.jwtVerify(after.access_token, keySet, { issuer, audience: ids.api });
    const userinfo = await client.fetchUserInfo(configs.spa, userBefore.access_token, userBefore.claims().sub);
    assert.equal(userinfo.email, email);
    // A refresh after the rotation gets an ID token signed by the new key, which
    // openid-client verifies against the JWKS it has cached since before the rotation.
    const refreshed = await client.refreshTokenGrant(configs.spa, userBefore.refresh_token);
    assert.equal(jwtHeader(refreshed.id_token).kid, nextKid);
    assert.equal(refreshed.claims().sub, userBefore.claims().sub);
    await jose.jwtVerify(refreshed.id_token, keySet, { issuer, audience: ids.spa });
  });

  test('an RS256 tenant publishes RSA keys and signs with them', async () => {
    const created = await runtime.admin('PUT', '/admin/v1/tenants/fabrikam', {
      displayName: 'Fabrikam',
      countryCode: 'DE',
      signingAlgorithm: 'RS256',
    });
    assert.equal(created.status, 201);
    const apiId = randomUUID();
    const daemonId = randomUUID();
    const daemonSecret = randomSecret();
    await runtime.admin('PUT', `/admin/v1/tenants/fabrikam/clients/${apiId}`, {
      displayName: 'API',
      type: 'web',
      clientSecrets: [{ hash: sha256Hex(randomSecret()) }],
      exposedApi: { scopes: [{ value: 'read' }] },
    });
    await runtime.admin('PUT', `/admin/v1/tenants/fabrikam/clients/${daemonId}`, {
      displayName: 'Daemon',
      type: 'daemon',
      apiPermissions: [{ resourceAppId: apiId, scopes: ['read'] }],
      clientSecrets: [{ hash: sha256Hex(daemonSecret) }],
    });
    const config = await discover(daemonId, client.ClientSecretPost(daemonSecret), created.body.issuer);
    const tokens = await client.clientCredentialsGrant(config, { scope: `api://${apiId}/.default` });
    const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    const { protectedHeader, payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer: created.body.issuer, audience: apiId });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.deepEqual(payload.roles, ['read']);
  });

  test('branding: colours, images, texts, footer links, layout, languages, string overrides and sanitised custom CSS', async () => {
    const shots = process.env.CIAM_SCREENSHOTS_DIR;
    const shoot = async (page, name) => {
      if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    };
    // The default look first (screenshots only): sign-in, sign-up with attributes, MFA.
    if (shots) {
      const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
      const page = await context.newPage();
      await openSignIn(page, configs.web, redirect.web);
      await shoot(page, 'signin-default');
      await openSignIn(page, configs.shop, redirect.shop);
      await page.getByRole('link', { name: 'Create one' }).click();
      await page.waitForURL(/\/signup\?request=/);
      await shoot(page, 'signup-default');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.locator('#error-summary').waitFor();
      await shoot(page, 'signup-errors');
      const frank = `frank.${Date.now()}@example.com`;
      await authorize(page, configs.secure, { redirectUri: redirect.secure, scope: 'openid', credentials: { email: frank, password: PASSWORD }, signUp: true });
      await openSignIn(page, configs.secure, redirect.secure);
      await page.getByLabel('Email address').fill(frank);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await submit(page, 'Sign in');
      await shoot(page, 'mfa-default');
      await context.close();
    }

    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="245" height="36"><rect width="36" height="36" rx="8" fill="#0f3d5e"/><text x="46" y="27" font-family="sans-serif" font-size="24" font-weight="700" fill="#0f3d5e">Contoso</text></svg>';
    const logo = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
    const favicon = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const hostileCss = [
      '</style><script>window.pwned = 1</script><style>',
      'body { background-image: url(javascript:alert(1)); }',
      '@import url(https://evil.example/x.css);',
      '.switch { background: url("https://evil.example/track.png"); }',
      'main { border-top: 7px solid #f59e0b; }',
    ].join('\n');
    const branding = {
      default: {
        backgroundColor: '#0f3d5e',
        headerBackgroundColor: '#ffffff',
        bannerLogo: logo,
        headerLogo: logo,
        favicon,
        signInPageText: 'Need help? Visit the [help centre](https://contoso.example/help). **Contoso** never asks for your password by *email*.',
        usernameHintText: 'name@contoso.example',
        customPrivacyAndCookiesText: 'Privacy at Contoso',
        customPrivacyAndCookiesUrl: 'https://contoso.example/privacy',
        customTermsOfUseText: 'Contoso terms',
        customTermsOfUseUrl: 'https://contoso.example/terms',
        customForgotMyPasswordText: 'Lost your password?',
        loginPageLayoutConfiguration: { layoutTemplateType: 'default', isHeaderShown: true, isFooterShown: true },
        customCSS: hostileCss,
      },
      localizations: { fr: { signInPageText: 'Besoin d’aide ? Consultez le [centre d’aide](https://contoso.example/aide).' } },
      strings: { fr: { sign_in_button: 'Connexion sécurisée' } },
    };
    const stored = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, branding);
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    assert.deepEqual(stored.body.spec, branding, 'the branding is stored as sent; the CSS is sanitised when rendered');
    const tooLarge = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, {
      default: { favicon: `data:image/png;base64,${Buffer.alloc(6 * 1024).toString('base64')}`, bannerLogo: 'javascript:alert(1)' },
    });
    assert.equal(tooLarge.status, 422);
    assert.deepEqual(tooLarge.body.errors.map((error) => error.field).sort(), ['default.bannerLogo', 'default.favicon']);

    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    await openSignIn(page, configs.web, redirect.web);
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(15, 61, 94)');
    assert.equal(await page.locator('img.banner-logo').getAttribute('src'), logo);
    assert.equal(await page.locator('header.page-header img').getAttribute('src'), logo);
    assert.equal(await page.locator('link[rel=icon]').getAttribute('href'), favicon);
    assert.equal(await page.getByRole('link', { name: 'Privacy at Contoso' }).getAttribute('href'), 'https://contoso.example/privacy');
    assert.equal(await page.getByRole('link', { name: 'Contoso terms' }).getAttribute('href'), 'https://contoso.example/terms');
    assert.match(await page.locator('#sign-in-text').innerText(), /^Need help\? Visit the help centre\. Contoso never asks/);
    assert.equal(await page.locator('#sign-in-text strong').innerText(), 'Contoso');
    assert.equal(await page.getByRole('link', { name: 'help centre' }).getAttribute('href'), 'https://contoso.example/help');
    assert.equal(await page.getByLabel('Email address').getAttribute('placeholder'), 'name@contoso.example');
    assert.equal(await page.getByRole('link', { name: 'Lost your password?' }).count(), 1);
    // The hostile CSS is neutralised; its harmless rule still applies.
    assert.equal(await page.locator('script').count(), 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    const css = await page.locator('#custom-css').textContent();
    for (const forbidden of ['<', 'javascript', '@import', 'evil.example']) {
      assert.ok(!css.includes(forbidden), `${forbidden} survived sanitising`);
    }
    assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('main')).borderTopWidth), '7px');
    await shoot(page, 'signin-branded');

    // French through ui_locales: built-in translations, the localization and the override.
    await openSignIn(page, configs.web, redirect.web, { ui_locales: 'fr' });
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    assert.match(await page.locator('#sign-in-text').innerText(), /^Besoin d’aide/);
    assert.equal(await page.getByRole('button', { name: 'Connexion sécurisée' }).count(), 1, 'strings override the built-in text');
    assert.equal(await page.getByLabel('Adresse e-mail').count(), 1);
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(15, 61, 94)', 'the default applies where the localization is silent');
    await context.close();

    // German through Accept-Language.
    const german = await browser.newContext({ locale: 'de-DE' });
    const germanPage = await german.newPage();
    await openSignIn(germanPage, configs.web, redirect.web);
    assert.equal(await germanPage.locator('html').getAttribute('lang'), 'de');
    assert.equal(await germanPage.getByLabel('E-Mail-Adresse').count(), 1);
    await german.close();

    if (shots) {
      const branded = await browser.newContext({ viewport: { width: 1000, height: 800 } });
      const brandedPage = await branded.newPage();
      await openSignIn(brandedPage, configs.shop, redirect.shop);
      await brandedPage.getByRole('link', { name: 'Create one' }).click();
      await shoot(brandedPage, 'signup-branded');
      const grace = `grace.${Date.now()}@example.com`;
      await authorize(brandedPage, configs.secure, { redirectUri: redirect.secure, scope: 'openid', credentials: { email: grace, password: PASSWORD }, signUp: true });
      await openSignIn(brandedPage, configs.secure, redirect.secure);
      await brandedPage.getByLabel('Email address').fill(grace);
      await brandedPage.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await submit(brandedPage, 'Sign in');
      await shoot(brandedPage, 'mfa-branded');
      await branded.close();
    }
    assert.equal((await runtime.admin('DELETE', `/admin/v1/tenants/${SUBDOMAIN}/branding`)).status, 204);
  });

  describe('a second runtime on its own database', () => {
    const TAILSPIN = 'tailspin';
    const spaId = randomUUID();
    let database;
    let second;
    let spaConfig;
    let redirectUri;

    before(async () => {
      database = await createDatabase();
      second = await startRuntime({ database, args: ['--authorization-code-lifetime-seconds', '1'] });
      redirectUri = `${callback.baseUrl}/tailspin/callback`;
      const tenant = await second.admin('PUT', `/admin/v1/tenants/${TAILSPIN}`, {
        displayName: 'Tailspin',
        countryCode: 'US',
        email: { fromAddress: 'no-reply@tailspin.example' },
      });
      assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
      const objects = [
        [`/clients/${spaId}`, { displayName: 'Tailspin SPA', type: 'spa', redirectUris: [redirectUri] }],
        ['/smtp', { host: '127.0.0.1', port: smtp.port, tls: 'none' }],
        ['/userflows/sign-up-sign-in', { ...flows()['sign-up-sign-in'], applications: [spaId] }],
      ];
      for (const [apiPath, body] of objects) {
        const response = await second.admin('PUT', `/admin/v1/tenants/${TAILSPIN}${apiPath}`, body);
        assert.equal(response.status, 201, `${apiPath}: ${JSON.stringify(response.body)}`);
      }
      spaConfig = await discover(spaId, client.None(), tenant.body.issuer);
    });

    after(async () => {
      await second?.stop();
      await database?.drop();
    });

    test('an authorization code past its lifetime is invalid_grant (--authorization-code-lifetime-seconds 1)', async () => {
      const context = await browser.newContext();
      const flow = await authorize(await context.newPage(), spaConfig, {
        redirectUri,
        scope: 'openid',
        credentials: { email: `ivan.${Date.now()}@example.com`, password: PASSWORD },
        signUp: true,
      });
      const arrivedAt = Date.now();
      await context.close();
      // A clock wait, because the server's only answer to "has this code expired?" is to
      // redeem it, which spends it. Codes expire on whole seconds, so one second after the
      // redirect brought it the 1 s code has expired whatever the clock's fraction was.
      await waitFor(() => Date.now() > arrivedAt + 1500, { what: 'the code to expire', intervalMs: 100 });
      const refused = await client
        .authorizationCodeGrant(spaConfig, flow.callbackUrl, {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
          expectedNonce: flow.nonce,
        })
        .then(() => assert.fail('an expired code was redeemed'), (error) => error);
      assert.ok(refused instanceof client.ResponseBodyError, String(refused));
      assert.equal(refused.error, 'invalid_grant');
      assert.match(refused.error_description, /expired/);
    });

    test('signing keys are sealed at rest, and another key-encryption key cannot start on the same database', async () => {
      const jwks = await (await fetch(spaConfig.serverMetadata().jwks_uri)).json();
      const rows = await queryDatabase(database, 'SELECT kid, sealed_private_key, public_jwk FROM signing_keys');
      const kids = rows.map((row) => row.kid).sort();
      assert.deepEqual(kids, jwks.keys.map((key) => key.kid).sort(), 'the stored rows are the published keys');
      for (const row of rows) {
        const sealed = row.sealed_private_key;
        assert.doesNotMatch(sealed, /BEGIN|PRIVATE|"d"/, 'no PEM or JWK text');
        assert.throws(() => JSON.parse(sealed), 'the column is not a JWK');
        assert.throws(() => createPrivateKey(sealed), 'the column is not a PEM private key');
        const bytes = Buffer.from(sealed, 'base64');
        assert.equal(bytes.toString('base64'), sealed, 'the column is base64 of the sealed bytes');
        // Neither the bytes nor what follows the 96-bit nonce are a DER private key.
        for (const candidate of [bytes, bytes.subarray(12)]) {
          for (const type of ['pkcs8', 'sec1']) {
            assert.throws(() => createPrivateKey({ key: candidate, format: 'der', type }), `${row.kid} parsed as ${type} DER`);
          }
        }
        assert.ok(!('d' in JSON.parse(row.public_jwk)), 'the public JWK has no private part');
      }

      const keyEncryptionKey = second.keyEncryptionKey;
      await second.stop();
      const refused = await runtimeRefusingToStart({ database, keyEncryptionKey: randomBytes(32).toString('hex') });
      assert.notEqual(refused.code, 0, `exit status ${JSON.stringify(refused)}`);
      assert.match(refused.log, /error: failed to open the signing keys stored in the database with the key-encryption key in \S+ \(was the key file replaced\?\)/);
      assert.match(refused.log, new RegExp(`signing key (${kids.join('|')}) of tenant \\S+ does not open with this key-encryption key`));

      // The right key still opens the same database.
      second = await startRuntime({ database, keyEncryptionKey });
      const keys = await second.admin('GET', `/admin/v1/tenants/${TAILSPIN}/signing-keys`);
      assert.deepEqual(keys.body.items.map((key) => key.kid).sort(), kids);
    });
  });

  describe('admin API', () => {
    const endpoints = () => [
      ['GET', '/admin/v1/tenants'],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}`],
      ['PUT', `/admin/v1/tenants/${SUBDOMAIN}`],
      ['DELETE', `/admin/v1/tenants/${SUBDOMAIN}`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/clients`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.web}`],
      ['PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.web}`],
      ['DELETE', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.web}`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/userflows`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`],
      ['PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`],
      ['DELETE', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/branding`],
      ['PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`],
      ['DELETE', `/admin/v1/tenants/${SUBDOMAIN}/branding`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/smtp`],
      ['PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`],
      ['DELETE', `/admin/v1/tenants/${SUBDOMAIN}/smtp`],
      ['GET', `/admin/v1/tenants/${SUBDOMAIN}/signing-keys`],
      ['POST', `/admin/v1/tenants/${SUBDOMAIN}/signing-keys/rotate`],
    ];
    const probes = [['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/metrics']];
    const keysPath = `/admin/v1/tenants/${SUBDOMAIN}/signing-keys`;

    test('every endpoint refuses requests without or with a wrong bearer token (401)', async () => {
      for (const [method, apiPath] of endpoints()) {
        for (const token of [null, 'not-the-admin-token']) {
          const response = await runtime.admin(method, apiPath, method === 'PUT' ? {} : undefined, { token });
          assert.equal(response.status, 401, `${method} ${apiPath} with token ${token}`);
          assert.equal(response.headers.get('content-type'), 'application/problem+json');
          assert.match(response.headers.get('www-authenticate'), /^Bearer/);
        }
      }
    });

    test('every admin route answers oversize bodies with 413, malformed JSON with 400, and a body where it takes none with 400', async () => {
      const oversize = `{"displayName":"${'x'.repeat(1024 * 1024)}"}`;
      const keysBefore = (await runtime.admin('GET', keysPath)).body;
      for (const [method, apiPath] of [...endpoints(), ...probes]) {
        const what = `${method} ${apiPath}`;
        const tooLarge = await runtime.adminRaw(method, apiPath, oversize, { expectContinue: true });
        assert.equal(tooLarge.status, 413, `oversize body to ${what}`);
        assert.equal(tooLarge.headers['content-type'], 'application/problem+json');
        const malformed = await runtime.adminRaw(method, apiPath, '{"displayName": ');
        assert.equal(malformed.status, 400, `malformed JSON to ${what}`);
        assert.equal(malformed.headers['content-type'], 'application/problem+json');
        assert.equal(malformed.body.status, 400);
        if (method === 'PUT' || method === 'POST') {
          assert.equal(malformed.body.title, 'Malformed request body', what);
          assert.match(malformed.body.detail, /^malformed JSON at line 1 column \d+$/);
          const wrongType = await runtime.adminRaw(method, apiPath, '{}', { contentType: 'text/plain' });
          assert.equal(wrongType.status, 415, `text/plain to ${what}`);
        } else {
          assert.equal(malformed.body.title, 'Unexpected request body', what);
          const wellFormed = await runtime.adminRaw(method, apiPath, '{}');
          assert.equal(wellFormed.status, 400, `a JSON body to ${what}`);
          assert.equal(wellFormed.body.detail, `${method} requests to this endpoint take no body`);
        }
      }
      // The refused requests changed nothing: no DELETE ran, no key rotated.
      for (const apiPath of [`/clients/${ids.web}`, '/userflows/sign-up-sign-in', '/smtp', '']) {
        assert.equal((await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}${apiPath}`)).status, 200, apiPath);
      }
      assert.deepEqual((await runtime.admin('GET', keysPath)).body, keysBefore, 'refused rotations rotated nothing');
      const unknownOption = await runtime.admin('POST', `${keysPath}/rotate`, { algorithm: 'RS256' });
      assert.equal(unknownOption.status, 400);
      assert.deepEqual(unknownOption.body.errors.map((error) => error.field), ['algorithm']);
      // Rotation takes no body (or `{}`, see the key rotation test).
      const rotated = await runtime.admin('POST', `${keysPath}/rotate`);
      assert.equal(rotated.status, 200);
      assert.notDeepEqual(rotated.body, keysBefore);
    });

    test('invalid objects are refused with the field and the reason', async () => {
      const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${randomUUID()}`, {
        displayName: 'Bad',
        type: 'spa',
        redirectUris: ['http://app.example.com/callback'],
      });
      assert.equal(response.status, 422);
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
      assert.equal(response.body.errors[0].field, 'redirectUris[0]');
      assert.match(response.body.errors[0].reason, /https/);
    });

    test('bodies of the wrong shape are refused with the JSON path of the field and the reason', async () => {
      const tenantPath = `/admin/v1/tenants/${SUBDOMAIN}`;
      const unknownField = await runtime.admin('PUT', tenantPath, { displayName: 'C', countryCode: 'US', colour: 'red' });
      assert.equal(unknownField.status, 400);
      assert.equal(unknownField.headers.get('content-type'), 'application/problem+json');
      assert.match(unknownField.body.detail, /colour/);
      assert.equal(unknownField.body.errors.length, 1);
      assert.equal(unknownField.body.errors[0].field, 'colour');
      assert.match(unknownField.body.errors[0].reason, /^unknown field `colour`, expected one of/);
      const wrongType = await runtime.admin('PUT', tenantPath, { displayName: 5, countryCode: 'US' });
      assert.equal(wrongType.status, 400);
      assert.deepEqual(wrongType.body.errors, [{ field: 'displayName', reason: 'invalid type: integer `5`, expected a string' }]);
      const missing = await runtime.admin('PUT', tenantPath, { displayName: 'Contoso' });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body.errors, [{ field: 'countryCode', reason: 'is required' }]);
      const nested = await runtime.admin('PUT', `${tenantPath}/clients/${randomUUID()}`, {
        displayName: 'Nested',
        type: 'web',
        clientSecrets: [{ hash: sha256Hex(randomSecret()) }, { hash: 42 }],
      });
      assert.equal(nested.status, 400);
      assert.deepEqual(nested.body.errors, [{ field: 'clientSecrets[1].hash', reason: 'invalid type: integer `42`, expected a string' }]);
      const variant = await runtime.admin('PUT', `${tenantPath}/clients/${randomUUID()}`, { displayName: 'Phone', type: 'mobile' });
      assert.equal(variant.body.errors[0].field, 'type');
      assert.match(variant.body.errors[0].reason, /^unknown variant `mobile`/);
      assert.equal((await runtime.admin('GET', tenantPath)).body.spec.displayName, TENANT_SPEC.displayName, 'nothing was stored');
    });

    test('a third active client secret is refused with the field and the reason', async () => {
      const apiPath = `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.api}`;
      const { spec } = (await runtime.admin('GET', apiPath)).body;
      assert.equal(spec.clientSecrets.length, 1);
      const refused = await runtime.admin('PUT', apiPath, {
        ...spec,
        clientSecrets: [...spec.clientSecrets, { hash: sha256Hex(randomSecret()) }, { value: randomSecret() }],
      });
      assert.equal(refused.status, 422);
      assert.equal(refused.headers.get('content-type'), 'application/problem+json');
      assert.deepEqual(refused.body.errors, [{ field: 'clientSecrets', reason: 'must have at most 2 entries (current and previous)' }]);
      assert.deepEqual((await runtime.admin('GET', apiPath)).body.spec, spec, 'the stored secrets are unchanged');
    });

    test('the admin API and metrics are not served on the public listener', async () => {
      for (const [method, apiPath] of [...endpoints(), ['GET', '/metrics']]) {
        const response = await fetch(`${runtime.publicUrl}${apiPath}`, {
          method,
          headers: { authorization: `Bearer ${runtime.adminToken}`, 'content-type': 'application/json' },
          body: method === 'PUT' ? JSON.stringify(TENANT_SPEC) : undefined,
        });
        assert.equal(response.status, 404, `${method} ${apiPath} on the public listener`);
        assert.doesNotMatch(await response.text(), /tenantId|ciam_runtime_/);
      }
      assert.equal((await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}`)).status, 200);
    });

    test('PUT is idempotent and GET returns what was stored (hashes only)', async () => {
      const spec = TENANT_SPEC;
      const again = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, spec);
      assert.equal(again.status, 200);
      assert.equal(again.body.tenantId, tenantId);
      assert.deepEqual(again.body.spec, spec);
      const web = await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.web}`);
      assert.equal(web.status, 200);
      assert.deepEqual(web.body.spec.clientSecrets, [{ hash: sha256Hex(secrets.web) }], 'only the hash is stored');
      assert.ok(!JSON.stringify(web.body).includes(secrets.web));
      const replay = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${ids.web}`, web.body.spec);
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.body.spec, web.body.spec);
      const conflict = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, { ...spec, tenantId: randomUUID() });
      assert.equal(conflict.status, 409);
    });

    test('user flows and branding round-trip', async () => {
      const flow = flows()['sign-up-sign-in'];
      const storedFlow = await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`);
      assert.equal(storedFlow.status, 200);
      assert.deepEqual(storedFlow.body.spec.applications, flow.applications);
      const again = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`, flow);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      const clash = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/other`, { ...flow, applications: [ids.web] });
      assert.equal(clash.status, 409);
      const list = await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/userflows`);
      assert.equal(list.body.items.length, Object.keys(flows()).length);
      const reserved = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/reserved`, {
        ...flow,
        applications: [],
        tokenClaims: [{ attribute: 'email', claimName: 'sub' }],
      });
      assert.equal(reserved.status, 422);
      assert.equal(reserved.body.errors[0].field, 'tokenClaims[0].claimName');
      const branding = { default: { backgroundColor: '#123456', signInPageText: 'Welcome' }, strings: { fr: { SignIn_Title: 'Connexion' } } };
      const stored = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, branding);
      assert.equal(stored.status, 201);
      assert.deepEqual((await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/branding`)).body.spec, branding);
      assert.equal((await runtime.admin('DELETE', `/admin/v1/tenants/${SUBDOMAIN}/branding`)).status, 204);
      assert.equal((await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/branding`)).status, 404);
    });

    test('deleting a client stops its tokens (invalid_client); deleting a user flow stops its sign-in', async () => {
      const tenantPath = `/admin/v1/tenants/${SUBDOMAIN}`;
      const daemonId = randomUUID();
      const daemonSecret = randomSecret();
      const daemonPath = `${tenantPath}/clients/${daemonId}`;
      const created = await runtime.admin('PUT', daemonPath, {
        displayName: 'Retired job',
        type: 'daemon',
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
        clientSecrets: [{ hash: sha256Hex(daemonSecret) }],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const daemon = await discover(daemonId, client.ClientSecretBasic(daemonSecret));
      await client.clientCredentialsGrant(daemon, { scope: `${API_URI}/.default` });
      assert.equal((await runtime.admin('DELETE', daemonPath)).status, 204);
      assert.equal((await runtime.admin('GET', daemonPath)).status, 404);
      assert.equal(await oauthError(() => client.clientCredentialsGrant(daemon, { scope: `${API_URI}/.default` })), 'invalid_client');
      assert.equal((await runtime.admin('DELETE', daemonPath)).status, 204, 'DELETE is idempotent');

      const kioskId = randomUUID();
      const kioskPath = `${tenantPath}/clients/${kioskId}`;
      const flowPath = `${tenantPath}/userflows/kiosk`;
      const kioskRedirect = `${callback.baseUrl}/kiosk/callback`;
      assert.equal((await runtime.admin('PUT', kioskPath, { displayName: 'Kiosk', type: 'spa', redirectUris: [kioskRedirect] })).status, 201);
      const flow = await runtime.admin('PUT', flowPath, { ...flows()['sign-up-sign-in'], displayName: 'Kiosk', applications: [kioskId] });
      assert.equal(flow.status, 201, JSON.stringify(flow.body));
      const kiosk = await discover(kioskId, client.None());
      const { tokens } = await userTokens(kiosk, kioskRedirect, 'openid email offline_access');
      assert.equal(tokens.claims().aud, kioskId);

      assert.equal((await runtime.admin('DELETE', flowPath)).status, 204);
      assert.equal((await runtime.admin('GET', flowPath)).status, 404);
      const silent = client.buildAuthorizationUrl(kiosk, {
        redirect_uri: kioskRedirect,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        prompt: 'none',
        state: 'k1',
      });
      const answer = new URL((await fetch(silent, { redirect: 'manual' })).headers.get('location'));
      assert.equal(answer.searchParams.get('error'), 'unauthorized_client', 'without its user flow the app has no sign-in');
      assert.equal(answer.searchParams.get('state'), 'k1');

      assert.equal((await runtime.admin('DELETE', kioskPath)).status, 204);
      assert.equal(await oauthError(() => client.refreshTokenGrant(kiosk, tokens.refresh_token)), 'invalid_client');
    });

    test('SMTP settings keep the password write-only and accept its hash back', async () => {
      const stored = await runtime.admin('GET', `/admin/v1/tenants/${SUBDOMAIN}/smtp`);
      assert.equal(stored.status, 200);
      assert.deepEqual(stored.body.spec, {
        host: '127.0.0.1',
        port: smtp.port,
        tls: 'none',
        username: 'mailer',
        passwordHash: sha256Hex(SMTP_PASSWORD),
      });
      assert.ok(!JSON.stringify(stored.body).includes(SMTP_PASSWORD));
      const replay = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, stored.body.spec);
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.body.spec, stored.body.spec);
      const wrongHash = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, { ...stored.body.spec, passwordHash: sha256Hex('other') });
      assert.equal(wrongHash.status, 422);
      assert.equal(wrongHash.body.errors[0].field, 'passwordHash');
    });

    test('health, readiness and metrics', async () => {
      assert.equal((await fetch(`${runtime.adminUrl}/healthz`)).status, 200);
      assert.equal((await fetch(`${runtime.adminUrl}/readyz`)).status, 200);
      const metrics = await (await fetch(`${runtime.adminUrl}/metrics`)).text();
      assert.match(metrics, /ciam_runtime_token_requests_total\{grant_type="client_credentials",outcome="issued"\}/);
      assert.match(metrics, /ciam_runtime_http_requests_total\{listener="public"/);
    });

    test('deleting a tenant removes it and its endpoints', async () => {
      assert.equal((await runtime.admin('DELETE', '/admin/v1/tenants/fabrikam')).status, 204);
      assert.equal((await runtime.admin('GET', '/admin/v1/tenants/fabrikam')).status, 404);
      assert.equal((await fetch(`${runtime.publicUrl}/fabrikam/v2.0/.well-known/openid-configuration`)).status, 404);
      assert.equal((await runtime.admin('DELETE', '/admin/v1/tenants/fabrikam')).status, 204, 'DELETE is idempotent');
    });

    test('secrets and tokens never reach the logs', async () => {
      const { readFile } = await import('node:fs/promises');
      const log = await readFile(runtime.logPath, 'utf8');
      for (const value of [runtime.adminToken, secrets.daemon, secrets.web, PASSWORD, NEW_PASSWORD, SMTP_PASSWORD]) {
        assert.ok(!log.includes(value), 'a secret appeared in the runtime log');
      }
      const passcodes = smtp.messages.map((message) => smtp.passcodeOf(message));
      assert.ok(passcodes.length > 0, 'passcodes were sent');
      for (const passcode of passcodes) {
        assert.ok(!log.includes(passcode), 'a passcode appeared in the runtime log');
      }
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(log), 'a JWT appeared in the runtime log');
    });
  });
});
