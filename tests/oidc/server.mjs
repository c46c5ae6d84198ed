// A real OpenID Connect provider for the tests: panva's `oidc-provider` (OpenID-certified), pinned in
// package.json, with a small static configuration. It is not an imitation: discovery, JWKS,
// authorization (state, nonce, PKCE S256), interactions, token exchange and ID-token signing are
// all the library's own code. Only the login/consent pages and the user table are ours.
//
//   node tests/oidc/server.mjs [config.json]      (or OIDC_CONFIG='{"...": ...}' in the environment)
//
// It listens on 127.0.0.1 (port 0 = a free one, picked before the issuer is fixed) and prints ONE
// line of JSON to stdout once it accepts connections: {"issuer": ..., "port": ..., "pid": ...}.
// Everything else (warnings, logs) goes to stderr. SIGTERM/SIGINT stop it.
//
// Config (all keys optional; see README.md):
//   host, port                 where to listen (127.0.0.1, 0)
//   issuer                     override the issuer string ("lying provider"); default http://host:port
//   clients                    [{client_id, client_secret, redirect_uris, ...oidc-provider client metadata}]
//   users                      {"alice": {"password": ..., "email": ..., "groups": [...], ...}}
//   id_token_ttl               seconds (integer >= 1), default 300
//   clock_skew_s               shift this process's clock (e.g. -600: tokens come out already expired)
//   keys_file                  private JWKS file: read if present, else generated and written there
//                              (two instances given the same file sign with the same key)
//   auto_consent               true: no consent page (like a first-party app at most corporate IdPs)
//   pkce_required              default true (S256 is the only method the library accepts)
//   token_endpoint_auth_method default for clients that do not say (client_secret_basic)
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// node_modules lives beside this file (npm ci --prefix tests/oidc), or wherever
// OIDC_PROVIDER_NODE_MODULES points (a cache directory installed from the same package-lock.json).
async function loadProvider() {
  const dir = process.env.OIDC_PROVIDER_NODE_MODULES;
  if (!dir) return (await import('oidc-provider')).default;
  const entry = createRequire(join(dir, '..', 'noop.js')).resolve('oidc-provider');
  return (await import(pathToFileURL(entry).href)).default;
}

const DEFAULT_USERS = {
  alice: {
    password: 'alice-pw', email: 'alice@example.com', email_verified: true,
    name: 'Alice Example', groups: ['hr', 'staff'],
  },
  bob: {
    password: 'bob-pw', email: 'bob@example.com', email_verified: true,
    name: 'Bob Example', groups: ['sales'],
  },
  carol: { // no groups claim at all, unverified email
    password: 'carol-pw', email: 'carol@example.com', email_verified: false, name: 'Carol Example',
  },
};

const DEFAULT_CLIENTS = [
  { client_id: 'gptu', client_secret: 'gptu-secret', redirect_uris: ['http://127.0.0.1:8000/v1/auth/sso/callback'] },
  { client_id: 'other-app', client_secret: 'other-secret', redirect_uris: ['http://127.0.0.1:8000/v1/auth/sso/callback'] },
];

function readConfig() {
  if (process.argv[2]) return JSON.parse(readFileSync(process.argv[2], 'utf8'));
  if (process.env.OIDC_CONFIG) return JSON.parse(process.env.OIDC_CONFIG);
  return {};
}

function signingKeys(file) {
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const jwks = { keys: [{ ...jwk, kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
  if (file) writeFileSync(file, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>`
  + `<body><h1>${esc(title)}</h1>${body}</body></html>`;

function loginPage(uid, clientId, error, loginHint) {
  return page('Sign-in', `${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<p>Sign in to continue to ${esc(clientId)}</p>
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label>Username <input type="text" name="username" value="${esc(loginHint || '')}" required autofocus></label>
  <label>Password <input type="password" name="password" required></label>
  <button type="submit">Sign in</button>
</form>
<a href="/interaction/${esc(uid)}/abort">Cancel</a>`);
}

function consentPage(uid, clientId, scopes) {
  return page('Authorize', `<p>${esc(clientId)} asks for: ${esc(scopes.join(' '))}</p>
<form method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="get" action="/interaction/${esc(uid)}/abort"><button type="submit">Deny</button></form>`);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function main() {
  const cfg = readConfig();
  if (cfg.clock_skew_s) {
    const realNow = Date.now;
    Date.now = () => realNow() + cfg.clock_skew_s * 1000;
  }
  // Cookie expiry is computed with the (skewed) clock and checked by the browser with the real one.
  const slack = Math.abs(cfg.clock_skew_s || 0);
  const Provider = await loadProvider();
  const host = cfg.host || '127.0.0.1';
  const users = cfg.users || DEFAULT_USERS;
  const authMethod = cfg.token_endpoint_auth_method || 'client_secret_basic';
  const clients = (cfg.clients || DEFAULT_CLIENTS).map((c) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: authMethod,
    ...c,
  }));

  // Listen first: the issuer needs the port, the port is free only once bound.
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port || 0, host, resolve);
  });
  const { port } = server.address();
  const issuer = cfg.issuer || `http://${host}:${port}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: signingKeys(cfg.keys_file),
    // Cookies are scoped by host, not port: the API on 127.0.0.1:<other port> sees these too, so
    // they get names of their own, with the port in them so that two providers on 127.0.0.1 do not
    // overwrite each other's (the library's defaults are _session, _interaction, _interaction_resume).
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      names: { session: `op${port}_session`, interaction: `op${port}_interaction`, resume: `op${port}_resume` },
    },
    // Scope -> claims. Custom `groups` scope carries the `groups` claim.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Put scope-requested claims (email, groups...) in the ID token even for response_type=code.
    // The library's default (true) returns them only from the userinfo endpoint.
    conformIdTokenClaims: false,
    pkce: { required: () => cfg.pkce_required !== false },
    ttl: {
      IdToken: cfg.id_token_ttl || 300,
      AccessToken: 300,
      AuthorizationCode: cfg.code_ttl || 60,
      Interaction: 600 + slack,
      Session: 3600 + slack,
      Grant: 3600 + slack,
    },
    features: {
      devInteractions: { enabled: false }, // our own pages below, with a password check
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          const { password, ...claims } = user;
          return { sub: id, preferred_username: id, ...claims };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!cfg.auto_consent) return undefined;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(ctx.oidc.requestParamScopes ? [...ctx.oidc.requestParamScopes].join(' ') : 'openid');
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre class="error">${esc(JSON.stringify(out))}</pre>`);
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const m = req.url.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?(?:\?.*)?$/);
    if (!m) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const { uid, prompt, params, session } = details;
      const [, , action] = m;
      if (!action && req.method === 'GET') {
        if (prompt.name === 'login') return send(res, 200, loginPage(uid, params.client_id, null, params.login_hint));
        const scopes = String(params.scope || '').split(' ');
        return send(res, 200, consentPage(uid, params.client_id, scopes));
      }
      if (action === 'abort') {
        return provider.interactionFinished(req, res, {
          error: 'access_denied', error_description: 'End-User aborted interaction',
        }, { mergeWithLastSubmission: false });
      }
      if (!action || req.method !== 'POST') return send(res, 405, page('Error', 'method not allowed'));
      const form = await readForm(req);
      if (action === 'login') {
        if (prompt.name !== 'login') return send(res, 400, page('Error', 'not at the login step'));
        const user = users[form.username];
        if (!user || user.password !== form.password) {
          return send(res, 200, loginPage(uid, params.client_id, 'Invalid username or password', form.username));
        }
        return provider.interactionFinished(req, res, { login: { accountId: form.username } },
          { mergeWithLastSubmission: false });
      }
      // confirm
      if (prompt.name !== 'consent') return send(res, 400, page('Error', 'not at the consent step'));
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
      if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
      if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
      for (const [indicator, s] of Object.entries(missingResourceScopes || {})) {
        grant.addResourceScope(indicator, s.join(' '));
      }
      return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: true });
    } catch (err) {
      // unknown/expired interaction (cookie missing, uid mismatch, TTL over)
      return send(res, 400, page('Error', `${esc(err.name)}: ${esc(err.message)}`));
    }
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections(); // keep-alive connections would hold close() for seconds
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ issuer, port, pid: process.pid })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
