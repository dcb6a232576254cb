// MSAL Node (@azure/msal-node) against the real runtime behind a local TLS front, configured
// as docs/migrating-from-entra.md tells an app team migrating from Entra External ID:
// `authority` = the tenant's authority, `knownAuthorities` = its host. Client credentials with
// a secret and with a certificate, authorization code + PKCE in query and form_post mode with
// the customer signing up in Chromium, and acquireTokenSilent after the access token expired.
//
// Runs against SQLite by default, or against CIAM_TEST_DATABASE_URL (PostgreSQL).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import * as msal from '@azure/msal-node';
import * as jose from 'jose';

import { startMsalEnvironment } from './lib/relying-party.js';
import { waitFor } from './lib/runtime.js';
import { createClientCertificate, trustingNetworkClient } from './lib/tls-front.js';

const MISSING_CLIENT_INFO = /No client info in response/;

describe(`MSAL Node behind TLS (${process.env.CIAM_TEST_DATABASE_URL ? 'PostgreSQL' : 'SQLite'})`, () => {
  let env;
  let jwks;

  /**
   * A ConfidentialClientApplication configured as the migration guide says, trusting the
   * test CA; `logs` collects every line MSAL logs, `sent` every request it makes.
   */
  function msalApp(clientId, credential) {
    const logs = [];
    const networkClient = trustingNetworkClient(env.certificates.ca);
    const app = new msal.ConfidentialClientApplication({
      auth: { clientId, authority: env.authority, knownAuthorities: [env.front.host], ...credential },
      system: {
        networkClient,
        loggerOptions: {
          loggerCallback: (level, message) => logs.push({ level, message }),
          logLevel: msal.LogLevel.Verbose,
          piiLoggingEnabled: false,
        },
      },
    });
    return { app, logs, sent: networkClient.sent };
  }

  /** Verifies an access token's signature with the tenant's JWKS and its issuer; returns the claims. */
  async function verifiedClaims(token, audience) {
    const { payload } = await jose.jwtVerify(token, jwks, { issuer: env.issuer, audience });
    return payload;
  }

  /** The token requests (POSTs to the token endpoint) an app sent, their bodies parsed. */
  const tokenRequests = (sent) =>
    sent
      .filter((request) => request.method === 'POST' && request.url.startsWith(`${env.authority}oauth2/v2.0/token`))
      .map((request) => ({ ...request, form: Object.fromEntries(new URLSearchParams(request.body)) }));

  /**
   * Runs an authorization code flow with PKCE for the web app in `responseMode`: MSAL builds
   * the URL, the customer signs up or in in Chromium, the answer arrives at the callback
   * server, MSAL redeems the code. Returns the MSAL app, its result and what arrived.
   */
  async function authorizationCodeFlow(responseMode) {
    const client = msalApp(env.ids.web, { clientSecret: env.secrets.web });
    const cryptoProvider = new msal.CryptoProvider();
    const { verifier, challenge } = await cryptoProvider.generatePkceCodes();
    const state = cryptoProvider.createNewGuid();
    const redirectUri = responseMode === 'form_post' ? env.redirect.formPost : env.redirect.query;
    const scopes = [`${env.apiUri}/orders.read`];
    const authUrl = await client.app.getAuthCodeUrl({
      scopes,
      redirectUri,
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      state,
      responseMode,
    });
    const arrival = await env.signInThroughPages(authUrl, new URL(redirectUri).pathname);
    const answer = arrival.method === 'POST' ? arrival.form : arrival.query;
    assert.ok(answer.code, `an authorization code arrived: ${JSON.stringify(answer)}`);
    const result = await client.app.acquireTokenByCode(
      { code: answer.code, redirectUri, scopes, codeVerifier: verifier, state },
      { code: answer.code, state: answer.state },
    );
    return { ...client, result, arrival, authUrl, state };
  }

  // The query-mode flow once, shared by the tests that look at different parts of it.
  let queryFlow;
  const queryModeFlow = () => {
    queryFlow ??= authorizationCodeFlow('query');
    return queryFlow;
  };

  before(async () => {
    env = await startMsalEnvironment('woodgrove');
    const keys = await (await fetch(`${env.runtime.listenUrl}/${env.subdomain}/discovery/v2.0/keys`)).json();
    jwks = jose.createLocalJWKSet(keys);
  });

  after(async () => {
    await env?.stop();
  });

  test('client credentials with a secret: discovery and token request over https, an access token for the API with its roles', async () => {
    const { app, sent, logs } = msalApp(env.ids.daemon, { clientSecret: env.secrets.daemon });
    const result = await app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] });
    assert.ok(result?.accessToken, `MSAL returned an access token: ${logs.map((line) => line.message).join('\n')}`);
    assert.equal(result.tokenType, 'Bearer');
    assert.ok(
      sent.some((request) => request.method === 'GET' && request.url === `${env.authority}v2.0/.well-known/openid-configuration`),
      'MSAL read the discovery document under the authority',
    );
    assert.equal(tokenRequests(sent).length, 1);
    assert.equal(tokenRequests(sent)[0].form.grant_type, 'client_credentials');
    const claims = await verifiedClaims(result.accessToken, env.ids.api);
    assert.equal(claims.azp, env.ids.daemon);
    assert.equal(claims.sub, env.ids.daemon);
    assert.equal(claims.tid, env.tenantId);
    assert.equal(claims.ver, '2.0');
    assert.deepEqual(claims.roles, ['orders.read']);
    const again = await app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] });
    assert.equal(again.fromCache, true, 'the second call is served from MSAL\'s cache');
    assert.equal(tokenRequests(sent).length, 1);
  });

  test('client credentials with a wrong secret: MSAL reports invalid_client', async () => {
    const { app } = msalApp(env.ids.daemon, { clientSecret: 'not-the-secret' });
    await assert.rejects(app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] }), (error) => {
      assert.equal(error.errorCode, 'invalid_client');
      return true;
    });
  });

  /** Registers a daemon with a new certificate (and `assertionReuse` when given) and its MSAL app. */
  async function certificateDaemon(name, assertionReuse) {
    const certificate = await createClientCertificate(name);
    const clientId = randomUUID();
    const registered = await env.putClient(clientId, {
      displayName: `${name} with a certificate`,
      type: 'daemon',
      apiPermissions: [{ resourceAppId: env.ids.api, scopes: ['orders.read'] }],
      certificates: [{ pem: certificate.certificatePem }],
      ...(assertionReuse ? { assertionReuse } : {}),
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const { app, sent } = msalApp(clientId, {
      clientCertificate: {
        thumbprintSha256: certificate.thumbprintSha256,
        privateKey: certificate.privateKeyPem,
        x5c: certificate.certificatePem,
      },
    });
    return { clientId, app, sent };
  }

  test('client credentials with a certificate (PS256, x5t#S256 and x5c); with assertionReuse MSAL may send its assertion again', async () => {
    const { clientId, app, sent } = await certificateDaemon('woodgrove nightly job', 'AllowUntilExpiry');
    const result = await app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] });
    const [request] = tokenRequests(sent);
    assert.equal(request.form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(request.form.client_secret, undefined);
    const header = jose.decodeProtectedHeader(request.form.client_assertion);
    assert.equal(header.alg, 'PS256');
    assert.ok(header['x5t#S256'] && header.x5c, 'MSAL sent the SHA-256 thumbprint and the certificate');
    const claims = await verifiedClaims(result.accessToken, env.ids.api);
    assert.equal(claims.azp, clientId);
    assert.deepEqual(claims.roles, ['orders.read']);

    // MSAL keeps one signed assertion for ten minutes and sends it again with the next token
    // request of the same app (ClientAssertion.getJwt); `AllowUntilExpiry` accepts that.
    const second = await app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`], skipCache: true });
    const requests = tokenRequests(sent);
    assert.equal(requests.length, 2);
    assert.equal(requests[1].form.client_assertion, requests[0].form.client_assertion, 'MSAL Node reused its assertion');
    assert.ok(second.accessToken);
  });

  test('by default an assertion works once: MSAL\'s reused assertion is refused with a message that says so', async () => {
    const { app, sent } = await certificateDaemon('one-time job');
    const first = await app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] });
    assert.ok(first.accessToken);
    await assert.rejects(
      app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`], skipCache: true }),
      (error) => {
        assert.equal(error.errorCode, 'invalid_client');
        assert.match(error.errorMessage, /client assertion was already used/);
        return true;
      },
    );
    const requests = tokenRequests(sent);
    assert.equal(requests.length, 2);
    assert.equal(requests[1].form.client_assertion, requests[0].form.client_assertion, 'the same assertion was sent twice');
  });

  test('client credentials with a certificate the client does not have: invalid_client', async () => {
    const registeredCertificate = await createClientCertificate('registered');
    const otherCertificate = await createClientCertificate('someone else');
    const clientId = randomUUID();
    const registered = await env.putClient(clientId, {
      displayName: 'Job with one certificate',
      type: 'daemon',
      apiPermissions: [{ resourceAppId: env.ids.api, scopes: ['orders.read'] }],
      certificates: [{ pem: registeredCertificate.certificatePem }],
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const { app } = msalApp(clientId, {
      clientCertificate: { thumbprintSha256: otherCertificate.thumbprintSha256, privateKey: otherCertificate.privateKeyPem },
    });
    await assert.rejects(app.acquireTokenByClientCredential({ scopes: [`${env.apiUri}/.default`] }), (error) => {
      assert.equal(error.errorCode, 'invalid_client');
      return true;
    });
  });

  test('authorization code + PKCE in query mode: MSAL redeems the code and caches the customer\'s account', async () => {
    const { app, result, arrival, state } = await queryModeFlow();
    assert.equal(arrival.method, 'GET');
    assert.equal(arrival.query.state, state);
    assert.equal(arrival.query.iss, env.issuer, 'the answer names its issuer (RFC 9207)');
    const access = await verifiedClaims(result.accessToken, env.ids.api);
    assert.equal(access.azp, env.ids.web);
    assert.equal(access.scp, 'orders.read');
    assert.equal(access.tid, env.tenantId);
    const id = result.idTokenClaims;
    assert.equal(id.iss, env.issuer);
    assert.equal(id.aud, env.ids.web);
    assert.equal(id.tid, env.tenantId);
    assert.equal(id.oid, access.oid);
    assert.equal(result.account.username, env.email);
    assert.equal(result.account.localAccountId, id.oid);
    assert.equal(result.account.tenantId, env.tenantId);
    assert.equal(result.account.environment, env.front.host);
    const accounts = await app.getTokenCache().getAllAccounts();
    assert.equal(accounts.length, 1);
    assert.equal(accounts[0].username, env.email);
  });

  test('query mode: client_info gives homeAccountId <oid>.<tid> and MSAL logs no missing client info', async () => {
    const { result, logs, sent } = await queryModeFlow();
    const [redemption] = tokenRequests(sent);
    assert.equal(redemption.form.client_info, '1', 'MSAL asks for client_info');
    const clientInfo = JSON.parse(Buffer.from(redemption.response.client_info ?? '', 'base64url').toString('utf8') || '{}');
    assert.deepEqual(clientInfo, { uid: result.idTokenClaims.oid, utid: env.tenantId });
    assert.equal(result.account.homeAccountId, `${result.idTokenClaims.oid}.${env.tenantId}`);
    assert.deepEqual(logs.filter((line) => MISSING_CLIENT_INFO.test(line.message)), []);
  });

  test('acquireTokenSilent after the access token expired redeems the refresh token: a new token for the same account', async () => {
    const { app, result, sent } = await queryModeFlow();
    const first = jose.decodeJwt(result.accessToken);
    await waitFor(() => Date.now() / 1000 > first.exp + 1, { what: 'the access token to expire', timeoutMs: 30_000, intervalMs: 250 });
    const [account] = await app.getTokenCache().getAllAccounts();
    const redemptions = tokenRequests(sent).length;
    const silent = await app.acquireTokenSilent({ account, scopes: [`${env.apiUri}/orders.read`] });
    assert.equal(silent.fromCache, false);
    const requests = tokenRequests(sent);
    assert.equal(requests.length, redemptions + 1, 'one request went to the token endpoint');
    assert.equal(requests.at(-1).form.grant_type, 'refresh_token');
    assert.notEqual(silent.accessToken, result.accessToken);
    const renewed = await verifiedClaims(silent.accessToken, env.ids.api);
    assert.ok(renewed.exp > Date.now() / 1000, 'the new access token is valid');
    assert.equal(renewed.oid, first.oid);
    assert.equal(silent.account.homeAccountId, account.homeAccountId, 'the same cached account');
    assert.equal((await app.getTokenCache().getAllAccounts()).length, 1, 'no second account appeared');
    assert.notEqual(requests.at(-1).response.refresh_token, requests.at(-1).form.refresh_token, 'the refresh token rotated');
  });

  test('the refresh-token response carries client_info too', async () => {
    const { app, logs, sent } = await queryModeFlow();
    const [account] = await app.getTokenCache().getAllAccounts();
    await app.acquireTokenSilent({ account, scopes: [`${env.apiUri}/orders.read`], forceRefresh: true });
    const refresh = tokenRequests(sent).at(-1);
    assert.equal(refresh.form.grant_type, 'refresh_token');
    assert.equal(refresh.form.client_info, '1');
    const clientInfo = JSON.parse(Buffer.from(refresh.response.client_info ?? '', 'base64url').toString('utf8') || '{}');
    assert.deepEqual(clientInfo, { uid: account.localAccountId, utid: env.tenantId });
    assert.deepEqual(logs.filter((line) => MISSING_CLIENT_INFO.test(line.message)), []);
  });

  test('authorization code + PKCE with response_mode=form_post: the code arrives in a POST, homeAccountId is <oid>.<tid>', async () => {
    const { result, arrival, logs, state, authUrl } = await authorizationCodeFlow('form_post');
    assert.equal(new URL(authUrl).searchParams.get('response_mode'), 'form_post');
    assert.equal(arrival.method, 'POST');
    assert.match(arrival.contentType, /^application\/x-www-form-urlencoded/);
    assert.deepEqual(arrival.query, {}, 'nothing in the redirect URI\'s query');
    assert.equal(arrival.form.state, state);
    assert.equal(arrival.form.iss, env.issuer);
    assert.equal(result.idTokenClaims.aud, env.ids.web);
    assert.equal(result.account.username, env.email);
    assert.equal(result.account.homeAccountId, `${result.idTokenClaims.oid}.${env.tenantId}`);
    assert.deepEqual(logs.filter((line) => MISSING_CLIENT_INFO.test(line.message)), []);
  });
});
