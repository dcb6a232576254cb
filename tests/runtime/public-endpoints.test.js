// End-to-end tests of the public listener's defences before authentication: bounded form
// bodies on every public POST, the same Argon2 work whatever the account state, failed client
// authentication counted and logged without the secret, and RP-initiated logout that asks the
// user before ending a session it cannot attribute to an app. A real runtime process and a
// real SMTP listener; the browser's part is played over HTTP with a small cookie jar, so
// every status, header and cookie is visible to the assertions.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { startRuntime, waitFor } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const SUBDOMAIN = 'northwind';
const PASSWORD = 'Corr3ct-Horse-Battery';
const API_URI = 'api://northwind-orders';
// The limits the runtime documents (src/runtime/form.rs).
const MAX_FORM_BYTES = 64 * 1024;
const MAX_OAUTH_PARAMETERS = 64;
const MAX_PAGE_PARAMETERS = 256;

const randomSecret = () => randomBytes(32).toString('base64url');
const sha256Hex = (value) => `sha256:${createHash('sha256').update(value).digest('hex')}`;
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A browser's cookie store for one site, with `fetch` that sends and keeps cookies and never follows redirects. */
function cookieJar() {
  const cookies = new Map();
  return {
    has: (name) => cookies.has(name),
    async fetch(url, { headers = {}, ...options } = {}) {
      const cookieHeader = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      const response = await fetch(url, {
        ...options,
        headers: cookieHeader ? { ...headers, cookie: cookieHeader } : headers,
        redirect: 'manual',
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';').map((part) => part.trim());
        const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
        if (value === '' || attributes.some((attribute) => attribute.toLowerCase() === 'max-age=0')) cookies.delete(name);
        else cookies.set(name, value);
      }
      return response;
    },
  };
}

/** Decodes the character references the page templates escape with. */
const htmlDecode = (text) =>
  text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, decimal) => String.fromCodePoint(Number(decimal)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');

/** The hidden fields of the first form in `html`. */
function hiddenFields(html) {
  return Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(([, name, value]) => [name, htmlDecode(value)]),
  );
}

/** The OAuth error code and message of an error page. */
function pageError(html) {
  const found = html.match(/data-error="([^"]+)">([^<]*)</);
  return found ? { code: found[1], message: found[2] } : null;
}

/**
 * POSTs `body` with node:http. With `expectContinue` the body goes out only if the server asks
 * for it (`Expect: 100-continue`, as HTTP clients do for large bodies), so a server that
 * refuses by Content-Length answers without racing the upload. Resolves to { status, headers, text }.
 */
function rawPost(url, body, { headers = {}, expectContinue = false } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        ...(expectContinue ? { expect: '100-continue' } : {}),
        ...headers,
      },
    });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, text }));
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (expectContinue) {
      request.on('continue', () => request.end(body));
      request.flushHeaders();
    } else {
      request.end(body);
    }
  });
}

/** Sums the samples of metric `name` whose labels include `labels`. */
async function metricValue(runtime, name, labels = {}) {
  const text = await (await fetch(`${runtime.adminUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/);
    if (!sample || sample[1] !== name) continue;
    const sampleLabels = Object.fromEntries([...(sample[2] || '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => sampleLabels[key] === value)) total += Number(sample[3]);
  }
  return total;
}

describe(`public endpoints: bounded work before authentication, equal work for every account, confirmed logout (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let smtp;
  let base;
  let tokenUrl;
  const ids = { api: randomUUID(), daemon: randomUUID(), web: randomUUID(), spa: randomUUID() };
  const secrets = { api: randomSecret(), daemon: randomSecret(), web: randomSecret() };
  const redirect = {
    web: 'http://127.0.0.1:9/web/callback',
    spa: 'http://127.0.0.1:9/spa/callback',
    signedOut: 'http://127.0.0.1:9/signed-out',
  };
  const withPassword = `pat.${Date.now()}@example.com`;
  const passwordless = `lee.${Date.now()}@example.com`;

  /** Client-credentials parameters of the daemon (client_secret_post). */
  const daemonParameters = () => ({
    grant_type: 'client_credentials',
    client_id: ids.daemon,
    client_secret: secrets.daemon,
    scope: `${API_URI}/.default`,
  });

  /** Starts an authorization in `jar`; resolves to the redirect's URL and the PKCE verifier. */
  async function authorize(jar, clientId, redirectUri, extra = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${base}/oauth2/v2.0/authorize`);
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid email',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: randomSecret(),
      ...extra,
    }).toString();
    const response = await jar.fetch(url);
    assert.equal(response.status, 303, await response.text());
    return { location: new URL(response.headers.get('location'), url), verifier };
  }

  /** Opens the sign-in (or, with `path`, another) page of a new authorization; resolves to its hidden fields. */
  async function openPage(jar, clientId, redirectUri, path = 'signin') {
    const { location } = await authorize(jar, clientId, redirectUri, { prompt: 'login' });
    assert.match(location.pathname, /\/signin$/);
    const page = await jar.fetch(new URL(`${path}${location.search}`, location));
    assert.equal(page.status, 200);
    return hiddenFields(await page.text());
  }

  /** POSTs a hosted-page form in `jar`. */
  const postForm = (jar, path, fields) => jar.fetch(`${base}/${path}`, { method: 'POST', body: new URLSearchParams(fields) });

  /** Signs up `address` (with `password` when the flow collects one) through `clientId`'s flow, entering the mailed passcode. */
  async function signUp(jar, clientId, redirectUri, address, password) {
    const fields = await openPage(jar, clientId, redirectUri, 'signup');
    const since = smtp.messages.length;
    const sent = await postForm(jar, 'signup', { ...fields, email: address, ...(password ? { password } : {}) });
    assert.equal(sent.status, 200, await sent.clone().text());
    const challenge = hiddenFields(await sent.text());
    const code = smtp.passcodeOf(await smtp.waitForMessage(address, { since }));
    const verified = await postForm(jar, 'verify', { ...challenge, code, action: 'verify' });
    assert.equal(verified.status, 303, await verified.text());
    assert.ok(verified.headers.get('location').startsWith(redirectUri));
  }

  /** Tries a password sign-in through the web app's page; resolves to the response. */
  async function signInWithPassword(jar, address, password) {
    const fields = await openPage(jar, ids.web, redirect.web);
    return postForm(jar, 'signin', { ...fields, email: address, password, method: 'password' });
  }

  /** Whether `jar` holds a live session: an authorization goes straight back to the app. */
  async function signedIn(jar) {
    const { location } = await authorize(jar, ids.web, redirect.web);
    return location.href.startsWith(redirect.web) && location.searchParams.has('code');
  }

  before(async () => {
    smtp = await startSmtpServer();
    runtime = await startRuntime({ env: { CIAM_PASSCODE_RESEND_SECONDS: '0' } });
    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, {
      displayName: 'Northwind',
      countryCode: 'US',
      defaultLocale: 'en',
      email: { fromAddress: 'no-reply@northwind.example' },
      // High enough that the failures these tests cause never lock anyone out.
      lockout: { threshold: 100, durationSeconds: 60 },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    base = `${runtime.publicUrl}/${SUBDOMAIN}`;
    tokenUrl = `${base}/oauth2/v2.0/token`;
    const clients = {
      [ids.api]: {
        displayName: 'Orders API',
        type: 'web',
        exposedApi: { identifierUri: API_URI, scopes: [{ value: 'orders.read' }] },
        clientSecrets: [{ hash: sha256Hex(secrets.api) }],
      },
      [ids.daemon]: {
        displayName: 'Nightly job',
        type: 'daemon',
        apiPermissions: [{ resourceAppId: ids.api, scopes: ['orders.read'] }],
        clientSecrets: [{ hash: sha256Hex(secrets.daemon) }],
      },
      [ids.web]: {
        displayName: 'Northwind Web',
        type: 'web',
        redirectUris: [redirect.web],
        postLogoutRedirectUris: [redirect.signedOut],
        clientSecrets: [{ hash: sha256Hex(secrets.web) }],
      },
      [ids.spa]: { displayName: 'Northwind Passwordless', type: 'spa', redirectUris: [redirect.spa] },
    };
    for (const [clientId, spec] of Object.entries(clients)) {
      const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${clientId}`, spec);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const smtpSettings = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, { host: '127.0.0.1', port: smtp.port, tls: 'none' });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    const flows = {
      password: { displayName: 'Password', applications: [ids.web], signIn: { methods: ['emailPassword', 'emailOtp'] } },
      passwordless: { displayName: 'Passwordless', applications: [ids.spa], signIn: { methods: ['emailOtp'] } },
    };
    for (const [name, flow] of Object.entries(flows)) {
      const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/${name}`, {
        ...flow,
        attributes: [{ name: 'email', inputType: 'text', required: true }],
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
  });

  after(async () => {
    await runtime?.stop();
    await smtp?.close();
  });

  test('the token endpoint answers a body over the size or parameter limit with invalid_request naming the limit, still refuses a repeated parameter, and serves the next request', async () => {
    const oversize = await rawPost(tokenUrl, `${new URLSearchParams(daemonParameters())}&padding=${'x'.repeat(1024 * 1024)}`, { expectContinue: true });
    assert.equal(oversize.status, 400, oversize.text);
    assert.equal(JSON.parse(oversize.text).error, 'invalid_request');
    assert.match(JSON.parse(oversize.text).error_description, new RegExp(`at most ${MAX_FORM_BYTES} bytes`));

    const padding = Array.from({ length: MAX_OAUTH_PARAMETERS + 1 - 4 }, (_, index) => [`extension_${index}`, 'x']);
    const crowded = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams([...Object.entries(daemonParameters()), ...padding]) });
    assert.equal(crowded.status, 400);
    const crowdedBody = await crowded.json();
    assert.equal(crowdedBody.error, 'invalid_request');
    assert.match(crowdedBody.error_description, new RegExp(`at most ${MAX_OAUTH_PARAMETERS} parameters`));

    const repeated = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams([...Object.entries(daemonParameters()), ['scope', `${API_URI}/.default`]]) });
    assert.equal(repeated.status, 400);
    assert.deepEqual(await repeated.json(), { error: 'invalid_request', error_description: 'the parameter scope is repeated' });

    // At the limit exactly, and right after the refusals, a token is issued.
    const atLimit = Array.from({ length: MAX_OAUTH_PARAMETERS - 4 }, (_, index) => [`extension_${index}`, 'x']);
    const normal = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams([...Object.entries(daemonParameters()), ...atLimit]) });
    assert.equal(normal.status, 200, await normal.clone().text());
    assert.equal((await normal.json()).token_type, 'Bearer');
  });

  test('hosted pages, logout and userinfo refuse forms over the limits with an answer naming the limit', async () => {
    const tooMany = (limit) => Array.from({ length: limit + 1 }, (_, index) => `field_${index}=x`).join('&');
    const big = `email=a%40example.com&padding=${'x'.repeat(MAX_FORM_BYTES)}`;
    for (const page of ['signin', 'signup', 'verify', 'reset']) {
      const crowded = await rawPost(`${base}/${page}`, tooMany(MAX_PAGE_PARAMETERS));
      assert.equal(crowded.status, 400, `${page}: ${crowded.text}`);
      assert.deepEqual(pageError(crowded.text)?.code, 'invalid_request', page);
      assert.match(pageError(crowded.text).message, new RegExp(`at most ${MAX_PAGE_PARAMETERS} fields`), page);
      const oversize = await rawPost(`${base}/${page}`, big, { expectContinue: true });
      assert.equal(oversize.status, 413, `${page}: ${oversize.text}`);
      assert.match(pageError(oversize.text).message, new RegExp(`at most ${MAX_FORM_BYTES} bytes`), page);
    }
    const logout = await rawPost(`${base}/oauth2/v2.0/logout`, tooMany(MAX_OAUTH_PARAMETERS));
    assert.equal(logout.status, 400, logout.text);
    assert.match(pageError(logout.text).message, new RegExp(`at most ${MAX_OAUTH_PARAMETERS} fields`));
    const userinfo = await rawPost(`${base}/openid/v2.0/userinfo`, big, { expectContinue: true, headers: { authorization: 'Bearer x' } });
    assert.equal(userinfo.status, 400, userinfo.text);
    assert.equal(JSON.parse(userinfo.text).error, 'invalid_request');
    assert.match(JSON.parse(userinfo.text).error_description, new RegExp(`at most ${MAX_FORM_BYTES} bytes`));
  });

  test('a password sign-in costs one Argon2 verification for an unknown address, a passwordless account and a wrong password alike', async () => {
    await signUp(cookieJar(), ids.web, redirect.web, withPassword, PASSWORD);
    await signUp(cookieJar(), ids.spa, redirect.spa, passwordless, null);
    const jar = cookieJar();
    const verifications = () => metricValue(runtime, 'ciam_runtime_password_verifications_total');
    const cost = {};
    for (const [label, address, password] of [
      ['unknown address', `nobody.${Date.now()}@example.com`, PASSWORD],
      ['passwordless account', passwordless, PASSWORD],
      ['wrong password', withPassword, `${PASSWORD}-wrong`],
    ]) {
      const before = await verifications();
      const answer = await signInWithPassword(jar, address, password);
      assert.equal(answer.status, 400, label);
      assert.match(await answer.text(), /The email address or password is incorrect/, label);
      cost[label] = (await verifications()) - before;
    }
    assert.deepEqual(cost, { 'unknown address': 1, 'passwordless account': 1, 'wrong password': 1 });
    // The right password still signs in.
    const right = await signInWithPassword(jar, withPassword, PASSWORD);
    assert.equal(right.status, 303);
    assert.ok(right.headers.get('location').startsWith(redirect.web));
  });

  test('a failed client authentication is counted per tenant and logged with client ID, method and reason, never the secret', async () => {
    const failures = (labels) => metricValue(runtime, 'ciam_runtime_client_authentication_failures_total', { tenant: SUBDOMAIN, ...labels });
    const wrongSecret = randomSecret();
    const scope = `${API_URI}/.default`;
    const beforeBasic = await failures({ method: 'client_secret_basic', reason: 'wrong_secret' });
    const viaBasic = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic(ids.daemon, wrongSecret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
    });
    assert.equal(viaBasic.status, 401);
    assert.equal((await viaBasic.json()).error, 'invalid_client');
    assert.equal(await failures({ method: 'client_secret_basic', reason: 'wrong_secret' }), beforeBasic + 1);

    const beforePost = await failures({ method: 'client_secret_post', reason: 'wrong_secret' });
    const viaPost = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ ...daemonParameters(), client_secret: wrongSecret }) });
    assert.equal(viaPost.status, 401);
    assert.equal(await failures({ method: 'client_secret_post', reason: 'wrong_secret' }), beforePost + 1);

    const unknownId = randomUUID();
    const beforeUnknown = await failures({ reason: 'unknown_client' });
    const unknown = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ ...daemonParameters(), client_id: unknownId }) });
    assert.equal(unknown.status, 401);
    assert.equal(await failures({ reason: 'unknown_client' }), beforeUnknown + 1);

    const logged = await waitFor(
      async () => {
        const lines = (await readFile(runtime.logPath, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line));
        const found = lines.filter((line) => line.message === 'client authentication failed');
        return found.length >= 3 && found;
      },
      { what: 'the client authentication failures in the log', timeoutMs: 10_000 },
    );
    const entry = (method, reason, clientId) => logged.find((line) => line.method === method && line.reason === reason && line.client_id === clientId);
    for (const [method, reason, clientId] of [
      ['client_secret_basic', 'wrong_secret', ids.daemon],
      ['client_secret_post', 'wrong_secret', ids.daemon],
      ['client_secret_post', 'unknown_client', unknownId],
    ]) {
      assert.equal(entry(method, reason, clientId)?.tenant, SUBDOMAIN, `${method} ${reason} logged with the tenant`);
    }
    const log = await readFile(runtime.logPath, 'utf8');
    for (const secret of [wrongSecret, encodeURIComponent(wrongSecret), secrets.daemon, basic(ids.daemon, wrongSecret).slice(6)]) {
      assert.ok(!log.includes(secret), 'a client secret appeared in the runtime log');
    }
  });

  test('logout without id_token_hint asks the user and ends the session only on the confirmation POST with its CSRF token', async () => {
    const jar = cookieJar();
    const signIn = await signInWithPassword(jar, withPassword, PASSWORD);
    assert.equal(signIn.status, 303);
    assert.ok(jar.has('ciam_session'));

    // A bare GET, as an <img> on another site would send it: a question, not a sign-out.
    const asked = await jar.fetch(`${base}/oauth2/v2.0/logout`);
    assert.equal(asked.status, 200);
    const question = await asked.text();
    assert.match(question, /<form method="post"/);
    assert.match(question, /<button type="submit"[^>]*>Sign out<\/button>/);
    assert.doesNotMatch(question, /<script/);
    const fields = hiddenFields(question);
    assert.ok(fields.csrf_token, 'the form carries a CSRF token');
    assert.ok(await signedIn(jar), 'the GET left the session alone');

    // A POST without the page's token (a cross-site form) is asked again, not obeyed.
    for (const forged of [{}, { csrf_token: 'forged' }]) {
      const refused = await jar.fetch(`${base}/oauth2/v2.0/logout`, { method: 'POST', body: new URLSearchParams(forged) });
      assert.equal(refused.status, 200);
      assert.match(await refused.text(), /<button type="submit"[^>]*>Sign out<\/button>/);
      assert.ok(await signedIn(jar), 'a POST without the CSRF token left the session alone');
    }

    const confirmed = await jar.fetch(`${base}/oauth2/v2.0/logout`, { method: 'POST', body: new URLSearchParams(fields) });
    assert.equal(confirmed.status, 200);
    assert.match(await confirmed.text(), /You have signed out/);
    assert.ok(!jar.has('ciam_session'), 'the session cookie is cleared');
    assert.ok(!(await signedIn(jar)), 'the session has ended');
  });

  test('logout with client_id and a registered post_logout_redirect_uri confirms, then redirects with state; an unidentified redirect is refused; a valid id_token_hint signs out at once', async () => {
    const jar = cookieJar();
    assert.equal((await signInWithPassword(jar, withPassword, PASSWORD)).status, 303);

    const unidentified = await jar.fetch(`${base}/oauth2/v2.0/logout?post_logout_redirect_uri=${encodeURIComponent(redirect.signedOut)}`);
    assert.equal(unidentified.status, 400);
    assert.equal(pageError(await unidentified.text()).code, 'invalid_request');
    const elsewhere = await jar.fetch(`${base}/oauth2/v2.0/logout?client_id=${ids.web}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`);
    assert.equal(elsewhere.status, 400);
    assert.ok(await signedIn(jar), 'refused logouts left the session alone');

    const asked = await jar.fetch(`${base}/oauth2/v2.0/logout?${new URLSearchParams({ client_id: ids.web, post_logout_redirect_uri: redirect.signedOut, state: 'bye' })}`);
    assert.equal(asked.status, 200);
    const confirmation = hiddenFields(await asked.text());
    assert.equal(confirmation.post_logout_redirect_uri, redirect.signedOut);
    assert.ok(await signedIn(jar), 'asking left the session alone');
    const confirmed = await jar.fetch(`${base}/oauth2/v2.0/logout`, { method: 'POST', body: new URLSearchParams(confirmation) });
    assert.equal(confirmed.status, 303);
    const back = new URL(confirmed.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, redirect.signedOut);
    assert.equal(back.searchParams.get('state'), 'bye');
    assert.ok(!(await signedIn(jar)), 'the confirmed logout ended the session');

    // With an ID token of this tenant as hint, the app has identified itself: no question.
    assert.equal((await signInWithPassword(jar, withPassword, PASSWORD)).status, 303);
    const sso = await authorize(jar, ids.web, redirect.web);
    const redeemed = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic(ids.web, secrets.web) },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: sso.location.searchParams.get('code'),
        redirect_uri: redirect.web,
        code_verifier: sso.verifier,
      }),
    });
    assert.equal(redeemed.status, 200, await redeemed.clone().text());
    const idToken = (await redeemed.json()).id_token;
    const hinted = await jar.fetch(`${base}/oauth2/v2.0/logout?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: redirect.signedOut })}`);
    assert.equal(hinted.status, 303);
    assert.ok(hinted.headers.get('location').startsWith(redirect.signedOut));
    assert.ok(!(await signedIn(jar)), 'the hinted logout ended the session at once');
  });
});
