// Local OpenID provider standing in for Microsoft Entra ID (docs/local-gateway.md).
//
// A real OpenID provider (npm oidc-provider) with Entra's v2.0 endpoint paths under /<tenant>/:
//   /<tenant>/oauth2/v2.0/authorize, /<tenant>/oauth2/v2.0/token, /<tenant>/discovery/v2.0/keys
// One confidential client, the app registration APIM signs users in with. Like the real app it
// has no secret: the token endpoint accepts a client assertion from the gateway's managed
// identity (workload identity federation), checked against a federated credential (issuer,
// subject, audience api://AzureADTokenExchange) and the identity's public key.
//
// Usage: node local/idp/server.js <config.json>
//   config: { port, tenantId, clientId, redirectUris: [...], scopes: [...],
//             federation: { issuer, subject, keyFile }, autoLogin: "<user name>" | null,
//             appRolesFile: "<path>" | undefined }
//   appRolesFile: JSON { "default": [role values], "users": { "<user name>": [role values] } },
//   read at every token, so a test can take a role away between sign-in and refresh. Without
//   it every user holds Snippets.Write, as the deploying user does after azd up.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = `http://127.0.0.1:${cfg.port}`;
const t = cfg.tenantId;
const TOKEN_PATH = `/${t}/oauth2/v2.0/token`;
const AUTHORIZE_PATH = `/${t}/oauth2/v2.0/authorize`;
const FIC_AUDIENCE = 'api://AzureADTokenExchange';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

// The only secret the provider knows the client by; it never leaves this process. A verified
// federated assertion is exchanged for it before oidc-provider authenticates the client.
const internalSecret = crypto.randomBytes(32).toString('base64url');

// Users: an object id (oid, the stable subject Entra reports) derived from the user name.
function oidFor(name) {
  const h = crypto.createHash('sha256').update(`local-idp user ${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const accounts = new Map();

// App roles assigned to a user, as Entra reports them in the ID token's `roles` claim (absent
// when the user holds none).
function appRoles(name) {
  if (!cfg.appRolesFile) return ['Snippets.Write'];
  const assigned = JSON.parse(fs.readFileSync(cfg.appRolesFile, 'utf8'));
  const roles = Object.hasOwn(assigned.users || {}, name) ? assigned.users[name] : assigned.default || [];
  return roles.length ? roles : undefined;
}
function account(name) {
  const oid = oidFor(name);
  accounts.set(oid, name);
  return oid;
}

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
signingKey.kid = crypto.randomBytes(8).toString('hex');
signingKey.use = 'sig';
signingKey.alg = 'RS256';

const provider = new Provider(`${base}/${t}/v2.0`, {
  clients: [
    {
      client_id: cfg.clientId,
      client_secret: internalSecret,
      token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: cfg.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  routes: {
    authorization: AUTHORIZE_PATH,
    token: TOKEN_PATH,
    jwks: `/${t}/discovery/v2.0/keys`,
    userinfo: `/${t}/openid/userinfo`,
    end_session: `/${t}/oauth2/v2.0/logout`,
  },
  scopes: cfg.scopes,
  claims: { openid: ['sub', 'roles'], profile: ['name', 'preferred_username', 'oid'] },
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    if (!accounts.has(id)) return undefined;
    const name = accounts.get(id);
    return {
      accountId: id,
      async claims() {
        return { sub: id, oid: id, name, preferred_username: `${name}@local.test`, tid: t, roles: appRoles(name) };
      },
    };
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Entra issues a refresh token whenever offline_access is granted; it rotates on use.
  issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  rotateRefreshToken: true,
  pkce: { required: () => false },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  jwks: { keys: [signingKey] },
  ttl: { AuthorizationCode: 300, IdToken: 3600, AccessToken: 3600, RefreshToken: 86400, Session: 86400, Interaction: 600, Grant: 86400 },
});
provider.on('server_error', (ctx, err) => console.error('local-idp: server_error', err));

// Entra rotates refresh tokens but does not revoke the one redeemed ("The Microsoft identity
// platform doesn't revoke old refresh tokens when used to fetch new access tokens",
// learn.microsoft.com/entra/identity-platform/refresh-tokens). oidc-provider marks a redeemed
// token consumed and revokes the whole grant when it comes back, which Entra never does: a
// gateway whose refresh timed out after Entra had answered would lose the user's Entra session
// here and nowhere else. Redeemed tokens therefore stay valid until they expire, as in Entra.
provider.RefreshToken.prototype.consume = async function consume() {};

// --- Federated credential ---------------------------------------------------------------------

function federationKey() {
  const jwk = JSON.parse(fs.readFileSync(cfg.federation.keyFile, 'utf8'));
  const { kty, n, e } = jwk;
  return jose.importJWK({ kty, n, e }, 'RS256');
}

async function verifyFederatedAssertion(assertion, clientId) {
  if (clientId !== cfg.clientId) throw new Error(`AADSTS700016: application ${clientId} not found in the directory`);
  const { payload } = await jose.jwtVerify(assertion, await federationKey(), {
    algorithms: ['RS256'],
    issuer: cfg.federation.issuer,
    audience: FIC_AUDIENCE,
    subject: cfg.federation.subject,
    maxTokenAge: '1h',
    clockTolerance: 30,
  });
  return payload;
}

// --- HTTP -------------------------------------------------------------------------------------

function readBody(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function signInPage(uid, details) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - local Entra ID stand-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}
label,input,button{display:block;font-size:1rem;margin:.5rem 0}input{padding:.4rem;width:100%}</style></head>
<body><h1>Sign in</h1>
<p>Local stand-in for Microsoft Entra ID. Any user name signs in; its object id is derived from it.</p>
<p>Application: <code>${esc(details.params.client_id)}</code></p>
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="username">User name</label><input id="username" name="username" value="alice" autofocus required maxlength="64" pattern="[A-Za-z0-9._\\-]+">
<button type="submit" id="signin">Sign in</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit" id="cancel">Cancel</button></form>
</body></html>`;
}

async function finishConsent(req, res, details) {
  // Admin consent is granted to the app in the tenant: no consent screen.
  const { prompt: { details: missing }, params, session, grantId } = details;
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
  }
  const id = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId: id } }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/);
  if (!m) return send(res, 404, 'text/plain', 'not found');
  const details = await provider.interactionDetails(req, res);
  const action = m[2];
  if (req.method === 'GET' && !action) {
    if (details.prompt.name === 'login') {
      if (cfg.autoLogin) {
        return provider.interactionFinished(req, res, { login: { accountId: account(cfg.autoLogin) } }, { mergeWithLastSubmission: false });
      }
      return send(res, 200, 'text/html; charset=utf-8', signInPage(m[1], details), { 'X-Frame-Options': 'DENY' });
    }
    if (details.prompt.name === 'consent') return finishConsent(req, res, details);
    return send(res, 400, 'text/plain', `unsupported prompt ${details.prompt.name}`);
  }
  if (req.method === 'POST' && action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const name = form.get('username') || '';
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) return send(res, 400, 'text/plain', 'invalid user name');
    return provider.interactionFinished(req, res, { login: { accountId: account(name) } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'abort') {
    await readBody(req);
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, 'text/plain', 'method not allowed');
}

const handle = provider.callback();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, base);
  try {
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (url.pathname === '/health') return send(res, 200, 'application/json', JSON.stringify({ ok: true, issuer: provider.issuer }));
    if (req.method === 'GET' && url.pathname === AUTHORIZE_PATH) {
      // Entra grants offline_access without an explicit consent prompt; oidc-provider follows
      // OpenID Connect Core 11 and drops it unless prompt=consent. Add it, so the refresh token
      // is issued as Entra would (the consent interaction itself is granted automatically).
      const scope = url.searchParams.get('scope') || '';
      if (scope.split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
        url.searchParams.set('prompt', 'consent');
        req.url = url.pathname + url.search;
      }
    }
    if (req.method === 'POST' && url.pathname === TOKEN_PATH) {
      const form = new URLSearchParams(await readBody(req));
      if (form.get('client_assertion_type') === JWT_BEARER) {
        try {
          await verifyFederatedAssertion(form.get('client_assertion') || '', form.get('client_id') || '');
        } catch (e) {
          console.error(`local-idp: federated assertion rejected: ${e.message}`);
          return send(res, 401, 'application/json', JSON.stringify({
            error: 'invalid_client',
            error_description: `AADSTS700213: no matching federated identity record found for the presented assertion (${e.message})`,
          }));
        }
        form.delete('client_assertion');
        form.delete('client_assertion_type');
        form.set('client_secret', internalSecret);
      } else if (form.has('client_secret')) {
        return send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_client', error_description: 'AADSTS7000215: this application has no client secrets' }));
      }
      // Entra requires `scope` on every grant; oidc-provider only accepts it on refresh.
      if (form.get('grant_type') === 'authorization_code') form.delete('scope');
      req.body = form.toString(); // the stream is consumed; oidc-provider reads req.body
    }
    return handle(req, res);
  } catch (e) {
    console.error('local-idp: error', e);
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error');
    else res.end();
  }
});

server.listen(cfg.port, '127.0.0.1', () => {
  console.log(`local-idp: listening on ${base} (issuer ${provider.issuer}, client ${cfg.clientId}, auto-login ${cfg.autoLogin || 'off'})`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());
