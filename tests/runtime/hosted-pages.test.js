// End-to-end tests of the hosted pages' defences and languages: passcode tries and sends are
// limited however fast they arrive, a locked account cannot be reset around its lock, pages
// outside a sign-in speak the customer's language, sign-up records consents with their time
// and checks lengths on the server. A real runtime process, a real SMTP listener, Debian's
// Chromium through playwright-core, and openid-client for the app's side.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import { launchBrowser, startCallbackServer, submit } from './lib/browser.js';
import { queryDatabase, startRuntime } from './lib/runtime.js';
import { startSmtpServer } from './lib/smtp.js';

const SUBDOMAIN = 'fabrikam';
const PASSWORD = 'Corr3ct-Horse-Battery';
const LOCKOUT_THRESHOLD = 8;
// Long enough that no lock set by one test runs out while it is being checked.
const LOCKOUT_SECONDS = 300;
// Passcodes tried per code and unused codes sent per address, as the runtime defines them.
const MAX_PASSCODE_ATTEMPTS = 5;
const MAX_UNUSED_PASSCODES = 5;

describe(`hosted pages: limits, languages and consents (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let smtp;
  let browser;
  let callback;
  let config;
  let redirectUri;
  const clientId = randomUUID();
  const orphanId = randomUUID();
  const known = `kim.${Date.now()}@example.com`;

  /** Starts an authorization and waits for the sign-in page; `extra` adds parameters. */
  async function openSignIn(page, extra = {}) {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
      prompt: 'login',
      ...extra,
    });
    await page.goto(url.href);
    await page.waitForURL(/\/signin\?request=/);
  }

  /** The hidden fields of the page's form (request, CSRF token, challenge). */
  const hiddenFields = async (page) =>
    Object.fromEntries(
      await page.locator('form input[type=hidden]').evaluateAll((inputs) => inputs.map((input) => [input.name, input.value])),
    );

  /** Asks for a passwordless sign-in code for `address`; returns the status and the alert text, if any. */
  async function requestSignInCode(page, address) {
    await openSignIn(page);
    await page.getByLabel('Email address').fill(address);
    const status = await submit(page, 'Email me a sign-in code');
    const alert = page.getByRole('alert');
    return { status, alert: (await alert.count()) > 0 ? await alert.innerText() : null };
  }

  before(async () => {
    smtp = await startSmtpServer();
    runtime = await startRuntime({ env: { CIAM_PASSCODE_LIFETIME_SECONDS: '60', CIAM_PASSCODE_RESEND_SECONDS: '0' } });
    callback = await startCallbackServer();
    browser = await launchBrowser();
    redirectUri = `${callback.baseUrl}/callback`;

    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, {
      displayName: 'Fabrikam',
      countryCode: 'DE',
      defaultLocale: 'en',
      supportedLocales: ['en', 'fr', 'de'],
      customAttributes: [
        { name: 'newsletter', dataType: 'boolean' },
        { name: 'termsOfUse', dataType: 'boolean' },
      ],
      email: { fromAddress: 'no-reply@fabrikam.example' },
      lockout: { threshold: LOCKOUT_THRESHOLD, durationSeconds: LOCKOUT_SECONDS },
    });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    for (const [id, displayName] of [[clientId, 'Fabrikam Shop'], [orphanId, 'Fabrikam Labs']]) {
      const registered = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${id}`, {
        displayName,
        type: 'spa',
        redirectUris: [redirectUri],
      });
      assert.equal(registered.status, 201, JSON.stringify(registered.body));
    }
    const smtpSettings = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/smtp`, { host: '127.0.0.1', port: smtp.port, tls: 'none' });
    assert.equal(smtpSettings.status, 201, JSON.stringify(smtpSettings.body));
    const flow = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/shop`, {
      displayName: 'Shop',
      applications: [clientId],
      signIn: { methods: ['emailPassword', 'emailOtp'] },
      attributes: [
        { name: 'email', inputType: 'text', required: true },
        { name: 'displayName', inputType: 'text', required: false },
        { name: 'newsletter', label: 'Send me offers', inputType: 'boolean', required: false },
        { name: 'termsOfUse', label: 'I accept the [terms](https://fabrikam.example/terms)', inputType: 'checkboxSingleSelect', required: true },
      ],
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
    config = await client.discovery(new URL(tenant.body.issuer), clientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    });
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    await runtime?.stop();
    await smtp?.close();
  });

  test('sign-up checks lengths on the server, focuses the error summary, and records only the required consent with its time', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await openSignIn(page);
    await page.getByRole('link', { name: 'Create one' }).click();
    await page.waitForURL(/\/signup\?request=/);
    const displayName = page.getByLabel('Display name (optional)');
    assert.equal(await displayName.getAttribute('maxlength'), '256', 'the browser is told Entra\'s limit');
    // A client that ignores maxlength: the server refuses the value next to the field.
    await displayName.evaluate((input) => input.removeAttribute('maxlength'));
    await displayName.fill('x'.repeat(257));
    await page.getByLabel('Email address').fill(known);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    assert.equal(await submit(page, 'Create account'), 400);
    assert.equal(await page.locator('#error-field-displayName').innerText(), 'This value is too long.');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'error-summary', 'the error summary takes the focus');
    assert.match(await page.locator('#error-summary').innerText(), /must accept/);

    await page.getByLabel('Display name (optional)').fill('Kim');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Send me offers').check();
    await page.getByLabel('I accept the terms').check();
    const since = smtp.messages.length;
    const before = Math.floor(Date.now() / 1000);
    assert.equal(await submit(page, 'Create account'), 200);
    assert.match(await page.getByText(/It expires in/).innerText(), /It expires in 1 minute\./, 'one minute, not "1 minutes"');
    const message = await smtp.waitForMessage(known, { since });
    assert.match(message.body, /It expires in 1 minute\./);
    await page.getByLabel('Verification code').fill(smtp.passcodeOf(message));
    const arrived = page.waitForURL((current) => current.href.startsWith(redirectUri));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await arrived;
    const [user] = await queryDatabase(runtime.database, `SELECT attributes, consents FROM users WHERE email = '${known}'`);
    const consents = JSON.parse(user.consents);
    assert.deepEqual(Object.keys(consents), ['termsOfUse'], 'the optional newsletter box is a value, not a consent');
    assert.ok(consents.termsOfUse >= before && consents.termsOfUse <= Math.ceil(Date.now() / 1000), 'the consent carries its time');
    assert.equal(JSON.parse(user.attributes).newsletter, true);
    await context.close();
  });

  test('a burst of parallel wrong passcodes gets no more tries than the limit, and then the right code is refused too', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const since = smtp.messages.length;
    assert.equal((await requestSignInCode(page, known)).status, 200);
    const code = smtp.passcodeOf(await smtp.waitForMessage(known, { since }));
    const form = await hiddenFields(page);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    const verifyUrl = new URL('verify', `${runtime.publicUrl}/${SUBDOMAIN}/`).href;
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => page.request.post(verifyUrl, { form: { ...form, code: wrong, action: 'verify' }, maxRedirects: 0 })),
    );
    const texts = await Promise.all(answers.map((answer) => answer.text()));
    const compared = texts.filter((text) => text.includes('The code is wrong'));
    const refused = texts.filter((text) => text.includes('Too many wrong codes'));
    assert.equal(compared.length, MAX_PASSCODE_ATTEMPTS, 'exactly the allowed number of guesses were compared');
    assert.equal(refused.length, 12 - MAX_PASSCODE_ATTEMPTS, 'every other guess was refused unseen');
    const right = await page.request.post(verifyUrl, { form: { ...form, code, action: 'verify' }, maxRedirects: 0 });
    assert.equal(right.status(), 400);
    assert.match(await right.text(), /Too many wrong codes/, 'the right code no longer opens a challenge that ran out of tries');
    await context.close();
  });

  test('codes to one address stop after the limit of unused ones, alike for unknown addresses, on every page that sends one', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const unknown = `nobody.${Date.now()}@example.com`;
    const answers = {};
    for (const address of [known, unknown]) {
      answers[address] = [];
      for (let attempt = 0; attempt <= MAX_UNUSED_PASSCODES; attempt += 1) {
        answers[address].push(await requestSignInCode(page, address));
      }
    }
    // The previous test left one unused code for the known address.
    const knownRefusedAt = answers[known].findIndex((answer) => answer.status !== 200);
    assert.equal(knownRefusedAt, MAX_UNUSED_PASSCODES - 1);
    assert.match(answers[known][knownRefusedAt].alert, /Too many codes were sent to this address/);
    assert.deepEqual(
      answers[unknown].map((answer) => answer.status),
      [...Array(MAX_UNUSED_PASSCODES).fill(200), 400],
      'an unknown address is limited exactly like a known one',
    );
    assert.equal(answers[unknown][MAX_UNUSED_PASSCODES].alert, answers[known][knownRefusedAt].alert);
    const sentToKnown = smtp.messages.filter((message) => message.to.includes(known)).length;
    // The password reset page refuses as well, and nothing more is sent.
    await openSignIn(page);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(known);
    assert.equal(await submit(page, 'Send code'), 400);
    assert.match(await page.getByRole('alert').innerText(), /Too many codes/);
    assert.equal(smtp.messages.filter((message) => message.to.includes(known)).length, sentToKnown, 'no email past the limit');
    await context.close();
  });

  test('a locked account cannot reset its password around the lock', async () => {
    const locked = `lee.${Date.now()}@example.com`;
    const context = await browser.newContext();
    const page = await context.newPage();
    await openSignIn(page);
    await page.getByLabel('Email address').fill(locked);
    for (let attempt = 0; attempt < LOCKOUT_THRESHOLD; attempt += 1) {
      await page.getByLabel('Password', { exact: true }).fill(`Wrong-password-${attempt}`);
      assert.equal(await submit(page, 'Sign in'), 400);
    }
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    assert.equal(await submit(page, 'Sign in'), 400);
    assert.match(await page.getByRole('alert').innerText(), /locked/, 'the threshold was reached');
    await openSignIn(page);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(locked);
    const since = smtp.messages.length;
    assert.equal(await submit(page, 'Send code'), 400);
    assert.match(await page.getByRole('alert').innerText(), /temporarily locked/);
    assert.equal(await page.getByLabel('Verification code').count(), 0, 'no passcode page');
    assert.ok(!smtp.messages.slice(since).some((message) => message.to.includes(locked)), 'no code is sent to a locked address');
    await context.close();
  });

  test('pages outside a sign-in speak the customer\'s language', async () => {
    const context = await browser.newContext({ locale: 'fr-FR', extraHTTPHeaders: { 'accept-language': 'fr-FR,fr;q=0.9' } });
    const page = await context.newPage();
    // An expired or forged sign-in link.
    const expired = await page.goto(`${runtime.publicUrl}/${SUBDOMAIN}/signin?request=forged`);
    assert.equal(expired.status(), 400);
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    assert.match(await page.getByRole('alert').innerText(), /Ce lien de connexion a expiré/);
    assert.match(await page.title(), /Fabrikam/);
    // A tenant that does not exist.
    const missing = await page.goto(`${runtime.publicUrl}/no-such-tenant/signin?request=x`);
    assert.equal(missing.status(), 404);
    assert.match(await page.getByRole('alert').innerText(), /Ce locataire n’existe pas/);
    // An authorization request with a redirect URI the app never registered: shown, not
    // redirected, in French, with the OAuth error code.
    const unregistered = await page.goto(`${runtime.publicUrl}/${SUBDOMAIN}/oauth2/v2.0/authorize?client_id=${clientId}&response_type=code&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`);
    assert.equal(unregistered.status(), 400);
    assert.equal(await page.locator('[data-error]').getAttribute('data-error'), 'invalid_request');
    assert.match(await page.getByRole('alert').innerText(), /Le redirect_uri n’est pas enregistré pour cette application/);
    // Signed out without a redirect, in German by Accept-Language: without id_token_hint the
    // question comes first, and the answer signs out.
    const german = await browser.newContext({ locale: 'de-DE', extraHTTPHeaders: { 'accept-language': 'de' } });
    const germanPage = await german.newPage();
    await germanPage.goto(`${runtime.publicUrl}/${SUBDOMAIN}/oauth2/v2.0/logout`);
    assert.equal(await germanPage.getByRole('heading', { level: 1 }).innerText(), 'Abmelden?');
    assert.equal(await submit(germanPage, 'Abmelden'), 200);
    assert.equal(await germanPage.getByRole('heading', { level: 1 }).innerText(), 'Sie sind abgemeldet');
    // An app in no user flow, in German by ui_locales although the browser asks for French.
    const orphan = await client.discovery(new URL(config.serverMetadata().issuer), orphanId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const url = client.buildAuthorizationUrl(orphan, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      ui_locales: 'de',
    });
    await page.goto(url.href);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Anmeldung nicht verfügbar');
    assert.equal(await page.getByRole('link', { name: 'Zurück zur Anwendung' }).count(), 1);
    // The passcode page in German: "1 Minute", not "1 Minuten".
    await openSignIn(germanPage, { ui_locales: 'de' });
    await germanPage.getByLabel('E-Mail-Adresse').fill(`neu.${Date.now()}@example.com`);
    await germanPage.getByRole('button', { name: 'Anmeldecode per E-Mail senden' }).click();
    await germanPage.getByLabel('Bestätigungscode').waitFor();
    assert.match(await germanPage.getByText(/läuft in/).innerText(), /Er läuft in 1 Minute ab\./);
    await german.close();
    await context.close();
  });

  test('attribute labels are translated by the Branding\'s strings, and an unknown string key is refused by name', async () => {
    const refused = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, { strings: { fr: { SignIn_Titel: 'typo' } } });
    assert.equal(refused.status, 422);
    assert.deepEqual(refused.body.errors.map((error) => error.field), ['strings.fr.SignIn_Titel']);
    const stored = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, {
      strings: { fr: { Attribute_newsletter: 'Envoyez-moi des offres', Attribute_DisplayName: 'Nom affiché' } },
    });
    assert.ok([200, 201].includes(stored.status), JSON.stringify(stored.body));
    const context = await browser.newContext();
    const page = await context.newPage();
    await openSignIn(page, { ui_locales: 'fr' });
    await page.getByRole('link', { name: 'Créez-en un' }).click();
    await page.waitForURL(/\/signup\?request=/);
    assert.equal(await page.getByLabel('Envoyez-moi des offres').count(), 1, 'the flow\'s English label gives way to the French one');
    assert.equal(await page.getByLabel('Nom affiché (facultatif)').count(), 1, 'built-in labels take Entra\'s key too');
    await context.close();
  });
});
