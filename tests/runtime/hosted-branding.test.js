// End-to-end tests of what a customer sees of a tenant's Branding on the hosted pages, for the
// fields runtime.test.js's branding test leaves out: header colour and default header, the
// background image, square logos for light and dark schemes, the custom reset link, every
// text visibility flag, the vertical split layout, hidden header and footer, Entra string
// keys in a second language, and custom CSS that tries to load from another origin.
//
// A real runtime process, Debian's Chromium through playwright-core. Images on the tenant's
// (allowed) https host are answered by the browser's router with a 1×1 PNG, so nothing
// depends on the network; every other request off the runtime's origin is recorded and
// refused.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, startCallbackServer } from './lib/browser.js';
import { startRuntime } from './lib/runtime.js';

const SUBDOMAIN = 'fabrikam';
const TENANT_NAME = 'Fabrikam Outdoor';
const ASSETS = 'https://assets.fabrikam.example';
const EVIL_HOST = 'evil.example';
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const TENANT_SPEC = {
  displayName: TENANT_NAME,
  countryCode: 'US',
  defaultLocale: 'en',
  // Wrong passwords are part of the tests (the "reset it now" link); they must not lock.
  lockout: { threshold: 100, durationSeconds: 60 },
};

/** Footer links and texts every visibility test starts from. */
const LINKS = {
  customPrivacyAndCookiesText: 'Fabrikam privacy',
  customPrivacyAndCookiesUrl: 'https://fabrikam.example/privacy',
  customTermsOfUseText: 'Fabrikam terms',
  customTermsOfUseUrl: 'https://fabrikam.example/terms',
  customForgotMyPasswordText: 'Lost your password?',
};

describe(`hosted pages show the tenant's branding (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let runtime;
  let browser;
  let callback;
  let redirectUri;
  const clientId = randomUUID();

  /** Replaces the tenant's branding (an empty object removes it). */
  async function putBranding(branding) {
    const response = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/branding`, branding);
    assert.ok([200, 201].includes(response.status), JSON.stringify(response.body));
  }

  /**
   * A browser context whose requests off the runtime's origin are recorded in `foreign`; the
   * tenant's asset host answers with a PNG, every other host is refused.
   */
  async function newContext(options = {}) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 }, ...options });
    const foreign = [];
    const runtimeOrigin = new URL(runtime.publicUrl).origin;
    context.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin !== runtimeOrigin && !url.protocol.startsWith('data')) foreign.push(url);
    });
    await context.route(
      (url) => url.origin !== runtimeOrigin && url.origin !== new URL(callback.baseUrl).origin,
      (route) => {
        if (new URL(route.request().url()).origin === ASSETS) {
          return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
        }
        return route.abort('blockedbyclient');
      },
    );
    return { context, foreign };
  }

  /** Opens the sign-in page through the authorization endpoint (PKCE, as a SPA does). */
  async function openSignIn(page, extra = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${runtime.publicUrl}/${SUBDOMAIN}/oauth2/v2.0/authorize`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      prompt: 'login',
      ...extra,
    }).toString();
    await page.goto(url.href);
    await page.waitForURL(/\/signin\?request=/);
  }

  /** Signs in with a wrong password and waits for the page that says so. */
  async function failSignIn(page) {
    await page.locator('#email').fill(`nobody.${randomUUID()}@example.com`);
    await page.locator('#password').fill('Wr0ng-password-here');
    await page.locator('button[name=method][value=password]').click();
    await page.locator('#form-error').waitFor();
  }

  /** What of the sign-in page the visibility settings control, as visible booleans. */
  async function signInParts(page) {
    const count = (locator) => locator.count().then((found) => found > 0);
    return {
      privacy: await count(page.locator('footer.page-footer').getByRole('link', { name: 'Fabrikam privacy' })),
      terms: await count(page.locator('footer.page-footer').getByRole('link', { name: 'Fabrikam terms' })),
      forgotPassword: await count(page.getByRole('link', { name: 'Lost your password?' })),
      signUp: await count(page.locator('a[href^="signup?request="]')),
    };
  }

  const resetItNowShown = async (page) => (await page.locator('p.hint a').count()) > 0;
  const box = (page, selector) => page.locator(selector).evaluate((element) => {
    const { left, right, top, bottom, width } = element.getBoundingClientRect();
    return { left, right, top, bottom, width, innerWidth: window.innerWidth, innerHeight: window.innerHeight };
  });

  before(async () => {
    runtime = await startRuntime();
    callback = await startCallbackServer();
    browser = await launchBrowser();
    redirectUri = `${callback.baseUrl}/callback`;
    const tenant = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}`, TENANT_SPEC);
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    const app = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/clients/${clientId}`, {
      displayName: 'Fabrikam Store',
      type: 'spa',
      redirectUris: [redirectUri],
    });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const flow = await runtime.admin('PUT', `/admin/v1/tenants/${SUBDOMAIN}/userflows/sign-up-sign-in`, {
      displayName: 'Sign up and sign in',
      applications: [clientId],
      signIn: { methods: ['emailPassword'] },
      attributes: [
        { name: 'email', inputType: 'text', required: true, hidden: false, editable: true },
        { name: 'city', inputType: 'text', required: true, hidden: false, editable: true },
      ],
    });
    assert.equal(flow.status, 201, JSON.stringify(flow.body));
  });

  after(async () => {
    await browser?.close();
    await callback?.close();
    await runtime?.stop();
  });

  test('without any branding the page has a header with the tenant name; headerBackgroundColor colours it', async () => {
    const { context } = await newContext();
    const page = await context.newPage();
    await openSignIn(page);
    const header = page.locator('header.page-header');
    assert.equal(await header.count(), 1, 'the header is shown by default');
    assert.equal((await header.innerText()).trim(), TENANT_NAME);
    assert.equal(await page.locator('footer').count(), 0, 'no footer without footer links');

    await putBranding({ default: { headerBackgroundColor: '#0f3d5e' } });
    await openSignIn(page);
    assert.equal(await header.evaluate((element) => getComputedStyle(element).backgroundColor), 'rgb(15, 61, 94)');
    assert.equal((await header.innerText()).trim(), TENANT_NAME, 'still the tenant name without a header logo');
    await context.close();
  });

  test('backgroundImage is the page background; squareLogo and squareLogoDark follow the colour scheme', async () => {
    const images = {
      backgroundImage: `${ASSETS}/background.png`,
      squareLogo: `${ASSETS}/square-light.png`,
      squareLogoDark: `${ASSETS}/square-dark.png`,
    };
    await putBranding({ default: images });
    const { context, foreign } = await newContext({ colorScheme: 'light' });
    const page = await context.newPage();
    await openSignIn(page);
    const background = page.locator('img.background');
    assert.equal(await background.getAttribute('src'), images.backgroundImage);
    assert.equal(await background.getAttribute('alt'), '', 'decorative');
    await page.waitForFunction(() => document.querySelector('img.background').naturalWidth === 1);
    assert.deepEqual(
      await background.evaluate((element) => {
        const style = getComputedStyle(element);
        return { position: style.position, objectFit: style.objectFit, zIndex: style.zIndex };
      }),
      { position: 'fixed', objectFit: 'cover', zIndex: '-1' },
      'it covers the page behind the sign-in box',
    );
    const source = page.locator('picture.square-logo source');
    assert.equal(await source.getAttribute('srcset'), images.squareLogoDark);
    assert.equal(await source.getAttribute('media'), '(prefers-color-scheme: dark)');
    assert.equal(await page.locator('picture.square-logo img').getAttribute('src'), images.squareLogo);
    await page.waitForFunction((light) => document.querySelector('picture.square-logo img').currentSrc === light, images.squareLogo);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction((dark) => document.querySelector('picture.square-logo img').currentSrc === dark, images.squareLogoDark);
    assert.ok(foreign.some((url) => url.href === images.backgroundImage), 'foreign requests are observed');
    await context.close();
  });

  test('customAccountResetCredentialsUrl is where both forgot-password links lead', async () => {
    const resetUrl = 'https://account.fabrikam.example/reset';
    await putBranding({ default: { ...LINKS, customAccountResetCredentialsUrl: resetUrl } });
    const { context } = await newContext();
    const page = await context.newPage();
    await openSignIn(page);
    assert.equal(await page.getByRole('link', { name: 'Lost your password?' }).getAttribute('href'), resetUrl);
    await failSignIn(page);
    assert.equal(await page.locator('p.hint a').getAttribute('href'), resetUrl, 'the "reset it now" link as well');

    await putBranding({ default: LINKS });
    await openSignIn(page);
    assert.match(await page.getByRole('link', { name: 'Lost your password?' }).getAttribute('href'), /^reset\?request=/, 'the built-in reset otherwise');
    await context.close();
  });

  test('each loginPageTextVisibilitySettings flag hides its element and only that', async () => {
    const { context } = await newContext();
    const page = await context.newPage();
    const everything = { privacy: true, terms: true, forgotPassword: true, signUp: true };
    await putBranding({ default: LINKS });
    await openSignIn(page);
    assert.deepEqual(await signInParts(page), everything, 'all shown without flags');
    await failSignIn(page);
    assert.equal(await resetItNowShown(page), true);

    const cases = [
      ['hidePrivacyAndCookies', { privacy: false }, true],
      ['hideTermsOfUse', { terms: false }, true],
      ['hideForgotMyPassword', { forgotPassword: false }, false],
      ['hideCannotAccessYourAccount', { forgotPassword: false }, false],
      ['hideSignUp', { signUp: false }, true],
      ['hideResetItNow', {}, false],
    ];
    for (const [flag, hidden, resetItNow] of cases) {
      await putBranding({ default: { ...LINKS, loginPageTextVisibilitySettings: { [flag]: true } } });
      await openSignIn(page);
      assert.deepEqual(await signInParts(page), { ...everything, ...hidden }, flag);
      await failSignIn(page);
      assert.equal(await resetItNowShown(page), resetItNow, `${flag}: the "reset it now" link`);
    }

    await putBranding({
      default: { ...LINKS, loginPageTextVisibilitySettings: { hidePrivacyAndCookies: true, hideTermsOfUse: true } },
    });
    await openSignIn(page);
    assert.equal(await page.locator('footer').count(), 0, 'no empty footer when every link is hidden');
    await context.close();
  });

  test('layoutTemplateType verticalSplit puts the sign-in box full height on one side', async () => {
    const { context } = await newContext();
    const page = await context.newPage();
    await putBranding({ default: { loginPageLayoutConfiguration: { layoutTemplateType: 'default' } } });
    await openSignIn(page);
    assert.equal(await page.locator('body').getAttribute('class'), 'layout-default');
    const centred = await box(page, 'main');
    assert.ok(centred.left > 100, `the default box is centred (left ${centred.left})`);
    assert.ok(Math.abs(centred.left - (centred.innerWidth - centred.right)) <= 1, 'with equal margins');

    await putBranding({ default: { backgroundColor: '#223344', loginPageLayoutConfiguration: { layoutTemplateType: 'verticalSplit' } } });
    await openSignIn(page);
    assert.equal(await page.locator('body').getAttribute('class'), 'layout-vertical-split');
    const split = await box(page, 'main');
    assert.equal(split.left, 0, 'the box sits on the left edge');
    assert.ok(split.width < split.innerWidth / 2 + 1, `and takes at most half the width (${split.width})`);
    assert.ok(split.bottom >= split.innerHeight - 1, `down to the bottom (${split.bottom} of ${split.innerHeight})`);
    const header = await box(page, 'header.page-header');
    assert.equal(split.top, header.bottom, 'right under the header');
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(34, 51, 68)', 'the other side shows the background');
    await context.close();
  });

  test('isHeaderShown false and isFooterShown false hide them, even with a header logo and footer links', async () => {
    const { context } = await newContext();
    const page = await context.newPage();
    const shown = { ...LINKS, headerLogo: `${ASSETS}/header.png` };
    await putBranding({ default: { ...shown, loginPageLayoutConfiguration: { isHeaderShown: true, isFooterShown: true } } });
    await openSignIn(page);
    assert.equal(await page.locator('header.page-header img').getAttribute('src'), shown.headerLogo);
    assert.equal(await page.locator('footer.page-footer a').count(), 2);

    await putBranding({ default: { ...shown, loginPageLayoutConfiguration: { isHeaderShown: false, isFooterShown: false } } });
    await openSignIn(page);
    assert.equal(await page.locator('header').count(), 0, 'an explicit false wins over the header logo');
    assert.equal(await page.locator('footer').count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Fabrikam privacy' }).count(), 0);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Sign in', 'the page itself is there');
    await context.close();
  });

  test('Entra string keys override the built-in text of a second language, and only there', async () => {
    await putBranding({
      strings: {
        fr: {
          SignIn_Title: 'Connexion à Fabrikam',
          SignIn_Description: 'Votre compte Fabrikam Outdoor',
          SignUp_Title: 'Rejoignez Fabrikam',
          Attribute_City: 'Ville de résidence',
        },
      },
    });
    const { context } = await newContext();
    const page = await context.newPage();
    await openSignIn(page, { ui_locales: 'fr' });
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Connexion à Fabrikam');
    assert.match(await page.title(), /^Connexion à Fabrikam – /);
    assert.equal(await page.locator('main h1 + p').innerText(), 'Votre compte Fabrikam Outdoor');
    assert.equal(await page.getByRole('button', { name: 'Se connecter' }).count(), 1, 'strings without an override stay translated');
    await page.locator('a[href^="signup?request="]').click();
    await page.waitForURL(/\/signup\?request=/);
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Rejoignez Fabrikam');
    assert.equal(await page.getByLabel('Ville de résidence').count(), 1);

    await openSignIn(page, { ui_locales: 'en' });
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Sign in', 'English keeps its text');
    await page.locator('a[href^="signup?request="]').click();
    await page.waitForURL(/\/signup\?request=/);
    assert.equal(await page.getByLabel('City').count(), 1);
    await context.close();
  });

  test('custom CSS cannot load from another origin, not even through a url( left open at its end', async () => {
    const hostileCss = [
      // Loads that need an element to apply to: every one of them matches the sign-in page.
      `main { background-image: image-set("https://${EVIL_HOST}/image-set.png" 1x); }`,
      `h1 { cursor: url(https://${EVIL_HOST}/cursor.cur), auto; }`,
      `@font-face { font-family: Evil; src: url(https://${EVIL_HOST}/font.woff2) format("woff2"); }`,
      'label { font-family: Evil, sans-serif; }',
      `.switch { list-style: url(https://${EVIL_HOST}/bullet.png) disc; display: list-item; }`,
      `form { border-image: url( "https://${EVIL_HOST}/border.png" ) 30 round; border: 4px solid; }`,
      `header.page-header { background: u/**/rl(https://${EVIL_HOST}/comment.png); }`,
      `button { background-image: url(/\t/${EVIL_HOST}/tab.png); }`,
      `@import "https://${EVIL_HOST}/import.css";`,
      // Harmless rules keep working, same-origin images too.
      'main { border-top: 6px solid #f59e0b; }',
      `main { background-image: url(/${SUBDOMAIN}/probe.png); }`,
      // Browsers accept a url( that the style sheet ends inside.
      `body { background-image: url(https://${EVIL_HOST}/unterminated.png`,
    ].join('\n');
    await putBranding({ default: { customCSS: hostileCss, loginPageLayoutConfiguration: { isHeaderShown: true } } });
    const { context, foreign } = await newContext();
    const page = await context.newPage();
    const sameOrigin = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === `/${SUBDOMAIN}/probe.png`) sameOrigin.push(request.url());
    });
    await openSignIn(page);
    await page.waitForLoadState('load');
    await page.waitForLoadState('networkidle');
    const computed = await page.evaluate(() => {
      const style = (selector) => getComputedStyle(document.querySelector(selector));
      return {
        body: style('body').backgroundImage,
        main: style('main').backgroundImage,
        mainBorderTop: style('main').borderTopWidth,
        header: style('header.page-header').backgroundImage,
        cursor: style('h1').cursor,
        listStyle: style('.switch').listStyleImage,
        borderImage: style('form').borderImageSource,
        button: style('button').backgroundImage,
      };
    });
    assert.equal(computed.body, 'none', 'the unterminated url( is neutralised');
    assert.match(computed.main, /^url\("http:\/\/127\.0\.0\.1:\d+\/fabrikam\/probe\.png"\)$/, 'the same-origin image stays');
    assert.equal(computed.mainBorderTop, '6px', 'harmless rules apply');
    assert.equal(computed.header, 'none');
    assert.equal(computed.cursor, 'auto');
    assert.equal(computed.listStyle, 'none');
    assert.equal(computed.borderImage, 'none');
    assert.equal(computed.button, 'none');
    assert.ok(sameOrigin.length > 0, 'requests from the style sheet are observed');
    assert.deepEqual(foreign.filter((url) => url.hostname.endsWith(EVIL_HOST)).map((url) => url.href), []);
    assert.deepEqual(foreign.map((url) => url.href), [], 'nothing leaves for another origin');
    const css = await page.locator('#custom-css').textContent();
    assert.ok(!css.includes('@import'), '@import is removed');
    await context.close();
  });
});
