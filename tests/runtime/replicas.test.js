// End-to-end tests of two runtime replicas on one PostgreSQL database, a supported deployment:
// the same binary, admin token and key-encryption key, each process on its own loopback ports,
// both behind a round-robin front whose URL is the public URL (one issuer). What a customer,
// an app and an operator would check: an account made on one replica signs in on the other;
// one authorization code or refresh token is spent once across both; lockout and passcode
// tries are counted once across both; a key rotation and a Branding change made through one
// replica's admin API show on the other within the documented propagation delay.
//
// PostgreSQL only (CIAM_TEST_DATABASE_URL; scripts/test-runtime.sh runs it in its PostgreSQL
// pass): the SQLite pass skips it with the reason. A real runtime binary, openid-client and
// jose for the apps' side, Debian's Chromium through playwright-core for the customer's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as jose from 'jose';
import * as client from 'openid-client';

import { launchBrowser, startCallbackServer, submit } from './lib/browser.js';
import { startReplicas } from './lib/replicas.js';
import { REPLICA_HEADER } from './lib/round-robin.js';
import { waitFor } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const SUBDOMAIN = 'contoso';
const API_URI = 'api://contoso-orders';
const PASSWORD = 'Corr3ct-Horse-Battery';
const LOCKOUT_THRESHOLD = 6;
// Long enough that no lock runs out while a test checks it.
const LOCKOUT_SECONDS = 300;
// Passcode tries per code and unused codes sent per address, as the runtime defines them
// (src/runtime/domain/passcodes.rs, throttles.rs).
const MAX_PASSCODE_ATTEMPTS = 5;
const MAX_UNUSED_PASSCODES = 5;
// The documented bound on how long a configuration change made through one replica takes to
// show on another (docs/runtime.md, "Running two replicas"), and how long the tests wait for
// it before failing: past the bound, but a failure, not a hang.
const PROPAGATION_BOUND_MS = 1_000;
const PROPAGATION_TIMEOUT_MS = 5_000;

const onPostgres = Boolean(process.env.CIAM_TEST_DATABASE_URL);
const skip = !onPostgres && 'two replicas share one PostgreSQL database: runs in the PostgreSQL pass of scripts/test-runtime.sh (CIAM_TEST_DATABASE_URL)';

const jwtHeader = (token) => jose.decodeProtectedHeader(token);

describe('two runtime replicas on one PostgreSQL behind a round-robin front', { skip }, () => {
  let deployment;
  let front;
  let smtp;
  let browser;
  let callback;
  let issuer;
  let redirectUri;
  let ssoContext;
  const configs = {};
  const ids = { api: randomUUID(), daemon: randomUUID(), spa: randomUUID() };
  const daemonSecret = randomUUID();
  const dana = `dana.${Date.now()}@example.com`;
  let danaSub;

  /**
   * A test whose failure message ends with both replicas' log tails (what each process said
   * around the failure).
   */
  function replicaTest(name, body, options = {}) {
    test(name, options, async () => {
      try {
        await body();
      } catch (error) {
        const tails = await deployment?.logTails().catch((failure) => `(no log tails: ${failure.message})`);
        if (error instanceof Error) error.message = `${error.message}\n${tails}`;
        throw error;
      }
    });
  }

  /** The configuration of app `name` whose requests (token, userinfo, JWKS) all go to replica `replica`. */
  const onReplica = (name, replica) => configs[`${name}@${replica}`];

  /**
   * Discovers the tenant through the front as app `clientId` (with `auth`); with `replica`,
   * every request of the configuration goes to that replica.
   */
  function discover(clientId, auth, replica) {
    const options = { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] };
    if (replica !== undefined) {
      options[client.customFetch] = (url, init) => {
        const headers = new Headers(init.headers);
        headers.set(REPLICA_HEADER, String(replica));
        return fetch(url, { ...init, headers });
      };
    }
    return client.discovery(new URL(issuer), clientId, undefined, auth, options);
  }

  /** Runs `action` and returns the OAuth error code it fails with. */
  async function oauthError(action) {
    try {
      await action();
    } catch (error) {
      if (error instanceof client.ResponseBodyError) return error.error;
      if (error instanceof client.WWWAuthenticateChallengeError) {
        return error.cause?.[0]?.parameters?.error ?? (await error.response.json()).error;
      }
      throw error;
    }
    assert.fail('expected an OAuth error, but the call succeeded');
  }

  /** The authorization URL of the SPA with fresh PKCE, state and nonce. */
  async function authorizationUrl(extra = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(configs.spa, {
      redirect_uri: redirectUri,
      scope: `openid email offline_access ${API_URI}/orders.read`,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, verifier, state, nonce };
  }

  /** Opens the sign-in page in `page` through the front; returns the PKCE values. */
  async function openSignIn(page, extra = {}) {
    const flow = await authorizationUrl({ prompt: 'login', ...extra });
    await page.goto(flow.url.href);
    await page.waitForURL(/\/signin\?request=/);
    return flow;
  }

  /** The text of the page's alert, or '' when it shows none. */
  async function alertText(page) {
    const alert = page.getByRole('alert');
    return (await alert.count()) > 0 ? alert.innerText() : '';
  }

  /** Redeems the code that arrived at `callbackUrl` with openid-client (ID token verified against JWKS). */
  const redeem = (config, callbackUrl, flow) =>
    client.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });

  /** Signs `email` up in a fresh browser context; resolves to the callback URL and the flow. */
  async function signUp(email) {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const flow = await openSignIn(page);
      await page.getByRole('link', { name: 'Create one' }).click();
      await page.waitForURL(/\/signup\?request=/);
      await page.getByLabel('Email address').fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      const since = smtp.messages.length;
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByLabel('Verification code').waitFor();
      const message = await smtp.waitForMessage(email, { since });
      const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
      await page.getByLabel('Verification code').fill(smtp.passcodeOf(message));
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      await arrived;
      return { callbackUrl: new URL(page.url()), flow };
    } finally {
      await context.close();
    }
  }

  /** Signs `email` in with the password in `context`; resolves to the callback URL and the flow. */
  async function signIn(context, email) {
    const page = await context.newPage();
    try {
      const flow = await openSignIn(page);
      await page.getByLabel('Email address').fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await arrived;
      return { callbackUrl: new URL(page.url()), flow };
    } finally {
      await page.close();
    }
  }

  /** A fresh authorization code from Dana's single sign-on session (no form). */
  async function ssoCode() {
    const page = await ssoContext.newPage();
    try {
      const flow = await authorizationUrl();
      const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
      await page.goto(flow.url.href);
      await arrived;
      return { callbackUrl: new URL(page.url()), flow };
    } finally {
      await page.close();
    }
  }

  /** Posts an authorization code to the token endpoint of replica `replica`; resolves to { status, body }. */
  async function redeemOn(replica, code, verifier) {
    const response = await fetch(configs.spa.serverMetadata().token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', [REPLICA_HEADER]: String(replica) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: ids.spa, code_verifier: verifier }),
    });
    return { status: response.status, body: await response.json() };
  }

  /** Replica `replica`'s JWKS as served through the front. */
  async function jwksOf(replica) {
    const response = await fetch(configs.spa.serverMetadata().jwks_uri, { headers: { [REPLICA_HEADER]: String(replica) } });
    assert.equal(response.status, 200);
    return response.json();
  }

  /**
   * Polls `probe(replica)` on each replica until it is truthy, at most PROPAGATION_TIMEOUT_MS
   * from `since`; prints and returns the delay observed on each.
   */
  async function propagated(what, since, probe) {
    const delays = {};
    for (const replica of [1, 2]) {
      await waitFor(() => probe(replica), { what: `${what} on replica ${replica}`, timeoutMs: since + PROPAGATION_TIMEOUT_MS - Date.now(), intervalMs: 50 });
      delays[replica] = Date.now() - since;
    }
    console.log(`# ${what}: seen on replica 1 after ${delays[1]} ms, on replica 2 after ${delays[2]} ms (documented bound ${PROPAGATION_BOUND_MS} ms)`);
    return delays;
  }

  before(async () => {
    smtp = await startSmtpServer();
    deployment = await startReplicas({ env: { CIAM_PASSCODE_LIFETIME_SECONDS: '120', CIAM_PASSCODE_RESEND_SECONDS: '0' } });
    front = deployment.front;
    callback = await startCallbackServer();
    browser = await launchBrowser();
    redirectUri = `${callback.baseUrl}/spa/callback`;

    // Configured through replica 1's admin API only; replica 2 knows it from the database.
    const tenant = await deployment.admin(1, 'PUT', `/admin/v1/tenants/${SUBDOMAIN}`, {
      displayName: 'Contoso',
      countryCode: 'US',
      defaultLocale: 'en',
      email: { fromAddress: 'no-reply@contoso.example' },
      lockout: { threshold: LOCKOUT_THRESHOLD, durationSeconds: LOCKOUT_SECONDS },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    issuer = tenant.body.issuer;
    assert.equal(issuer, `${front.url}/${SUBDOMAIN}/v2.0`, 'the issuer is the front');
    const clients = {
      [ids.api]: {
        displayName: 'Orders API',
        type: 'web',
        exposedApi: { identifierUri: API_URI, scopes: [{ value: 'orders.read' }] },
        clientSecrets: [{ value: randomUUID() }],
      },
      [ids.daemon]: {
        displayName: 'Nightly job',
        type: 'daemon',
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
        clientSecrets: [{ value: daemonSecret }],
      },
      [ids.spa]: {
        displayName: 'Contoso SPA',
        type: 'spa',
        redirectUris: [redirectUri],
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
      },
    };
    for (const [clientId, spec] of Object.entries(clients)) {
      const response = await deployment.admin(1, 'PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${clientId}`, spec);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const smtpSettings = await deployment.admin(1, 'PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, { host: '127.0.0.1', port: smtp.port, tls: 'none' });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    const flow = await deployment.admin(1, 'PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`, {
      displayName: 'Sign up and sign in',
      applications: [ids.spa],
      signIn: { methods: ['emailPassword', 'emailOtp'] },
      attributes: [{ name: 'email', inputType: 'text', required: true }],
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));

    // Every app discovers the tenant through the front, as it would in production; the
    // `name@n` configurations send everything to replica n.
    for (const replica of [undefined, 1, 2]) {
      const suffix = replica === undefined ? '' : `@${replica}`;
      configs[`spa${suffix}`] = await discover(ids.spa, client.None(), replica);
      configs[`daemon${suffix}`] = await discover(ids.daemon, client.ClientSecretBasic(daemonSecret), replica);
    }
    ssoContext = await browser.newContext();
  });

  after(async () => {
    await ssoContext?.close();
    await browser?.close();
    await callback?.close();
    await deployment?.stop();
    await smtp?.close();
  });

  replicaTest('the replicas announce one issuer, and the front alternates between them', async () => {
    const before = front.served.length;
    const documents = [];
    for (let request = 0; request < 4; request += 1) {
      const response = await fetch(`${issuer}/.well-known/openid-configuration`);
      assert.equal(response.status, 200);
      documents.push(await response.json());
    }
    const order = front.served.slice(before).map((entry) => entry.replica);
    assert.ok(order[0] === 1 || order[0] === 2, JSON.stringify(order));
    const other = 3 - order[0];
    assert.deepEqual(order, [order[0], other, order[0], other], 'round robin, one request each in turn');
    for (const document of documents) assert.deepEqual(document, documents[0], 'both replicas describe the tenant alike');
    assert.equal(documents[0].issuer, issuer);
  });

  replicaTest('an account signed up through replica 1 signs in through replica 2, and through both alternately', async () => {
    const signUpStart = front.served.length;
    const signedUp = await front.only(1, () => signUp(dana));
    const signUpPosts = front.served.slice(signUpStart).filter((entry) => entry.method === 'POST');
    assert.ok(signUpPosts.some((entry) => entry.path.startsWith(`/${SUBDOMAIN}/signup`)), 'the sign-up form was posted');
    assert.ok(signUpPosts.every((entry) => entry.replica === 1), 'the whole sign-up ran on replica 1');
    const first = await redeem(configs.spa, signedUp.callbackUrl, signedUp.flow);
    danaSub = first.claims().sub;
    assert.equal(first.claims().email, dana);

    // Sign-in on replica 2 in the browser that keeps Dana's session for the later tests.
    const signInStart = front.served.length;
    const signedIn = await front.only(2, () => signIn(ssoContext, dana));
    const signInPosts = front.served.slice(signInStart).filter((entry) => entry.method === 'POST');
    assert.ok(signInPosts.length > 0 && signInPosts.every((entry) => entry.replica === 2), 'the password was checked on replica 2');
    // openid-client verifies the ID token's signature against the JWKS it found through the front.
    const tokens = await redeem(configs.spa, signedIn.callbackUrl, signedIn.flow);
    assert.equal(tokens.claims().sub, danaSub, 'the same account');
    assert.equal(tokens.claims().iss, issuer);
    const userinfo = await client.fetchUserInfo(onReplica('spa', 1), tokens.access_token, danaSub);
    assert.equal(userinfo.email, dana, 'replica 1 answers userinfo for a token replica 2 issued');

    // Round robin for every request of a sign-in: authorize, page, CSRF, form post, code.
    const context = await browser.newContext();
    const alternatingStart = front.served.length;
    const alternating = await signIn(context, dana).finally(() => context.close());
    const servedBy = new Set(front.served.slice(alternatingStart).map((entry) => entry.replica));
    assert.deepEqual([...servedBy].sort(), [1, 2], 'both replicas served parts of the sign-in');
    assert.equal((await redeem(configs.spa, alternating.callbackUrl, alternating.flow)).claims().sub, danaSub);
  });

  replicaTest('an authorization code redeemed on replica 1 and replayed on replica 2 is invalid_grant and revokes its tokens on both', async () => {
    const { callbackUrl, flow } = await ssoCode();
    const code = callbackUrl.searchParams.get('code');
    const first = await redeemOn(1, code, flow.verifier);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const replay = await redeemOn(2, code, flow.verifier);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    for (const replica of [1, 2]) {
      const on = onReplica('spa', replica);
      assert.equal(await oauthError(() => client.refreshTokenGrant(on, first.body.refresh_token)), 'invalid_grant', `replica ${replica}`);
      assert.equal(await oauthError(() => client.fetchUserInfo(on, first.body.access_token, danaSub)), 'invalid_token', `replica ${replica}`);
    }
  });

  replicaTest('one authorization code redeemed in parallel on both replicas: exactly one wins, and the replay revokes its tokens', async () => {
    for (let round = 0; round < 10; round += 1) {
      const { callbackUrl, flow } = await ssoCode();
      const code = callbackUrl.searchParams.get('code');
      const answers = await Promise.all([redeemOn(1, code, flow.verifier), redeemOn(2, code, flow.verifier)]);
      const summary = JSON.stringify(answers.map(({ status, body }) => ({ status, error: body.error, description: body.error_description })));
      const winners = answers.filter((answer) => answer.status === 200);
      const losers = answers.filter((answer) => answer.status !== 200);
      assert.equal(winners.length, 1, `round ${round}: exactly one redemption succeeds: ${summary}`);
      assert.equal(losers[0].status, 400, summary);
      assert.equal(losers[0].body.error, 'invalid_grant', summary);
      // As for any replayed code (RFC 6749 §4.1.2), what was issued from it is revoked, on both replicas.
      const { refresh_token: refreshToken, access_token: accessToken } = winners[0].body;
      for (const replica of [1, 2]) {
        const on = onReplica('spa', replica);
        assert.equal(await oauthError(() => client.refreshTokenGrant(on, refreshToken)), 'invalid_grant', `round ${round}, replica ${replica}`);
        assert.equal(await oauthError(() => client.fetchUserInfo(on, accessToken, danaSub)), 'invalid_token', `round ${round}, replica ${replica}`);
      }
    }
  });

  replicaTest('a refresh token rotated on replica 1 and replayed on replica 2 revokes the whole family on both', async () => {
    const { callbackUrl, flow } = await ssoCode();
    const tokens = await redeem(configs.spa, callbackUrl, flow);
    const rotated = await client.refreshTokenGrant(onReplica('spa', 1), tokens.refresh_token);
    assert.notEqual(rotated.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
    assert.equal(await oauthError(() => client.refreshTokenGrant(onReplica('spa', 2), tokens.refresh_token)), 'invalid_grant', 'the replay is detected on the other replica');
    for (const replica of [1, 2]) {
      const on = onReplica('spa', replica);
      assert.equal(await oauthError(() => client.refreshTokenGrant(on, rotated.refresh_token)), 'invalid_grant', `the new refresh token is revoked on replica ${replica}`);
      assert.equal(await oauthError(() => client.fetchUserInfo(on, rotated.access_token, danaSub)), 'invalid_token', `the new access token is revoked on replica ${replica}`);
    }
  });

  replicaTest('one refresh token used in parallel on both replicas is spent at most once, and its family is revoked on both', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { callbackUrl, flow } = await ssoCode();
      const tokens = await redeem(configs.spa, callbackUrl, flow);
      const outcomes = await Promise.allSettled([1, 2].map((replica) => client.refreshTokenGrant(onReplica('spa', replica), tokens.refresh_token)));
      const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
      assert.ok(won.length <= 1, `round ${round}: the refresh token was spent twice`);
      for (const outcome of refused) {
        assert.ok(outcome.reason instanceof client.ResponseBodyError, String(outcome.reason));
        assert.equal(outcome.reason.error, 'invalid_grant');
      }
      // Whoever won, the replay revoked the family: the refreshed tokens no longer work anywhere.
      for (const { value } of won) {
        for (const replica of [1, 2]) {
          const on = onReplica('spa', replica);
          assert.equal(await oauthError(() => client.refreshTokenGrant(on, value.refresh_token)), 'invalid_grant', `round ${round}, replica ${replica}`);
          assert.equal(await oauthError(() => client.fetchUserInfo(on, value.access_token, danaSub)), 'invalid_token', `round ${round}, replica ${replica}`);
        }
      }
    }
  });

  replicaTest('wrong passwords alternating between the replicas lock the account at the configured limit, not twice it', async () => {
    const lou = `lou.${Date.now()}@example.com`;
    await signUp(lou);
    const context = await browser.newContext();
    const page = await context.newPage();
    /** Tries `password` on replica `replica`; resolves to the status and the alert. */
    const attempt = (password, replica) =>
      front.only(replica, async () => {
        await page.getByLabel('Password', { exact: true }).fill(password);
        const status = await submit(page, 'Sign in');
        return { status, alert: await alertText(page) };
      });
    try {
      // One failure short of the limit, alternating: not locked, the right password signs in
      // (and clears the count).
      await openSignIn(page);
      await page.getByLabel('Email address').fill(lou);
      for (let failure = 0; failure < LOCKOUT_THRESHOLD - 1; failure += 1) {
        const answer = await attempt(`Wrong-password-${failure}`, (failure % 2) + 1);
        assert.equal(answer.status, 400);
        assert.match(answer.alert, /incorrect/, `failure ${failure + 1} is a wrong password`);
      }
      await front.only(1, async () => {
        const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
        await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await arrived;
      });

      // The limit, alternating (half of it on each replica): locked on both.
      await openSignIn(page);
      await page.getByLabel('Email address').fill(lou);
      for (let failure = 0; failure < LOCKOUT_THRESHOLD; failure += 1) {
        assert.equal((await attempt(`Wrong-password-${failure}`, (failure % 2) + 1)).status, 400);
      }
      for (const replica of [1, 2]) {
        const answer = await attempt(PASSWORD, replica);
        assert.equal(answer.status, 400, `replica ${replica} refuses the right password`);
        assert.match(answer.alert, /locked/, `replica ${replica} counts the failures made on both`);
      }
    } finally {
      await context.close();
    }
  });

  replicaTest('a sign-in code emailed by replica 1 signs the customer in on replica 2', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const since = smtp.messages.length;
      const flow = await front.only(1, async () => {
        const started = await openSignIn(page);
        await page.getByLabel('Email address').fill(dana);
        assert.equal(await submit(page, 'Email me a sign-in code'), 200);
        return started;
      });
      const code = smtp.passcodeOf(await smtp.waitForMessage(dana, { since }));
      const verifiedAt = front.served.length;
      await front.only(2, async () => {
        const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
        await page.getByLabel('Verification code').fill(code);
        await page.getByRole('button', { name: 'Verify', exact: true }).click();
        await arrived;
      });
      assert.ok(front.served.slice(verifiedAt).some((entry) => entry.method === 'POST' && entry.replica === 2), 'the code was checked on replica 2');
      const tokens = await redeem(configs.spa, new URL(page.url()), flow);
      assert.equal(tokens.claims().sub, danaSub);
    } finally {
      await context.close();
    }
  });

  replicaTest('sign-in codes sent alternately by both replicas stop at the limit of unused codes, counted once', async () => {
    // An address without an account: the runtime counts its sends exactly like a known one's
    // (and sends nothing), so the limit shows without filling a mailbox.
    const nobody = `nobody.${Date.now()}@example.com`;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const answers = [];
      for (let send = 0; send <= MAX_UNUSED_PASSCODES; send += 1) {
        await front.only((send % 2) + 1, async () => {
          await openSignIn(page);
          await page.getByLabel('Email address').fill(nobody);
          const status = await submit(page, 'Email me a sign-in code');
          answers.push({ status, alert: await alertText(page) });
        });
      }
      assert.deepEqual(answers.map((answer) => answer.status), [...Array(MAX_UNUSED_PASSCODES).fill(200), 400], JSON.stringify(answers));
      assert.match(answers[MAX_UNUSED_PASSCODES].alert, /Too many codes were sent/);
    } finally {
      await context.close();
    }
  });

  replicaTest('a burst of wrong passcodes across both replicas gets the limit of tries once, then the right code is refused', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const since = smtp.messages.length;
      await front.only(1, async () => {
        await openSignIn(page);
        await page.getByLabel('Email address').fill(dana);
        assert.equal(await submit(page, 'Email me a sign-in code'), 200);
      });
      const code = smtp.passcodeOf(await smtp.waitForMessage(dana, { since }));
      const form = Object.fromEntries(
        await page.locator('form input[type=hidden]').evaluateAll((inputs) => inputs.map((input) => [input.name, input.value])),
      );
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      const verifyUrl = new URL('verify', `${front.url}/${SUBDOMAIN}/`).href;
      const guess = (value, replica) =>
        page.request.post(verifyUrl, { form: { ...form, code: value, action: 'verify' }, headers: { [REPLICA_HEADER]: String(replica) }, maxRedirects: 0 });
      const guesses = 12;
      const answers = await Promise.all(Array.from({ length: guesses }, (_, index) => guess(wrong, (index % 2) + 1)));
      const texts = await Promise.all(answers.map((answer) => answer.text()));
      const compared = texts.filter((text) => text.includes('The code is wrong')).length;
      const refused = texts.filter((text) => text.includes('Too many wrong codes')).length;
      assert.equal(compared, MAX_PASSCODE_ATTEMPTS, 'the guesses compared on both replicas together are the limit');
      assert.equal(refused, guesses - MAX_PASSCODE_ATTEMPTS, 'every other guess was refused unseen');
      for (const replica of [1, 2]) {
        const right = await guess(code, replica);
        assert.equal(right.status(), 400, `replica ${replica}`);
        assert.match(await right.text(), /Too many wrong codes/, `replica ${replica} no longer opens the challenge with the right code`);
      }
    } finally {
      await context.close();
    }
  });

  replicaTest('a key rotation through replica 1 shows in replica 2\'s JWKS within the bound, and tokens from either verify', async () => {
    const keysPath = `/admin/v1/tenants/${SUBDOMAIN}/signing-keys`;
    const scope = `${API_URI}/.default`;
    const beforeToken = await client.clientCredentialsGrant(onReplica('daemon', 2), { scope });
    const oldKid = jwtHeader(beforeToken.access_token).kid;
    // Warm both replicas: each has served the tenant's keys before the rotation.
    for (const replica of [1, 2]) await jwksOf(replica);

    const rotatedAt = Date.now();
    const rotated = await deployment.admin(1, 'POST', `${keysPath}/rotate`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const states = Object.fromEntries(rotated.body.items.map((key) => [key.kid, key.state]));
    assert.equal(states[oldKid], 'retired');
    const currentKid = Object.keys(states).find((kid) => states[kid] === 'current');
    const nextKid = Object.keys(states).find((kid) => states[kid] === 'next');
    assert.ok(currentKid && nextKid && currentKid !== oldKid, JSON.stringify(states));

    await propagated('the rotated JWKS', rotatedAt, async (replica) => {
      const kids = (await jwksOf(replica)).keys.map((key) => key.kid);
      return kids.includes(nextKid) && kids.includes(currentKid) && kids.includes(oldKid);
    });
    const tokens = {};
    await propagated('tokens signed with the new current key', rotatedAt, async (replica) => {
      tokens[replica] = await client.clientCredentialsGrant(onReplica('daemon', replica), { scope });
      return jwtHeader(tokens[replica].access_token).kid === currentKid;
    });
    // An API verifies every token against the JWKS it fetches through the front, whichever
    // replica answers that fetch.
    for (const jwksReplica of [1, 2]) {
      const keySet = jose.createLocalJWKSet(await jwksOf(jwksReplica));
      for (const token of [beforeToken, tokens[1], tokens[2]]) {
        await jose.jwtVerify(token.access_token, keySet, { issuer, audience: ids.api });
      }
    }
    // And a user's ID token redeemed on replica 2 is signed with the new key and verifies in
    // openid-client against replica 2's JWKS.
    const { callbackUrl, flow } = await ssoCode();
    const userTokens = await redeem(onReplica('spa', 2), callbackUrl, flow);
    assert.equal(jwtHeader(userTokens.id_token).kid, currentKid);
  });

  replicaTest('a Branding change through replica 1 shows on replica 2\'s sign-in page within the bound', async () => {
    const { url } = await authorizationUrl();
    const started = await fetch(url, { redirect: 'manual', headers: { [REPLICA_HEADER]: '1' } });
    assert.equal(started.status, 303);
    const signInUrl = new URL(started.headers.get('location'), url);
    assert.match(signInUrl.pathname, /\/signin$/);
    const signInPage = async (replica) => {
      const response = await fetch(signInUrl, { headers: { [REPLICA_HEADER]: String(replica) } });
      assert.equal(response.status, 200);
      return response.text();
    };
    const text = `Welcome to Contoso ${randomUUID().slice(0, 8)}`;
    // Warm both replicas: each has rendered the page before the change.
    for (const replica of [1, 2]) assert.ok(!(await signInPage(replica)).includes(text));

    const changedAt = Date.now();
    const stored = await deployment.admin(1, 'PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, {
      default: { backgroundColor: '#123456', signInPageText: text },
    });
    assert.ok([200, 201].includes(stored.status), JSON.stringify(stored.body));
    await propagated('the Branding change', changedAt, async (replica) => {
      const html = await signInPage(replica);
      return html.includes(text) && html.toLowerCase().includes('#123456');
    });

    // What a customer sees: Chromium on replica 2 shows the text.
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await front.only(2, () => page.goto(signInUrl.href));
      await page.getByText(text).waitFor();
    } finally {
      await context.close();
    }

    const removedAt = Date.now();
    assert.equal((await deployment.admin(1, 'DELETE', `/admin/v1/tenants/${SUBDOMAIN}/branding`)).status, 204);
    await propagated('the Branding removal', removedAt, async (replica) => !(await signInPage(replica)).includes(text));
  });
});
