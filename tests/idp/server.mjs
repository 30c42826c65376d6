// A real OpenID Provider for the browser tests of signing in with the organization's account
// (tests/test_sso_browser.py): panva's oidc-provider, certified by the OpenID Foundation, on 127.0.0.1.
//
//   node tests/idp/server.mjs --port N --redirect http://127.0.0.1:M/v1/session/sso/callback
//
// prints "ready http://127.0.0.1:N" once it listens. It plays two organizations' providers:
//
//   - a single-tenant provider at the issuer http://127.0.0.1:N/single, which (as the OpenID Connect spec has
//     it, and as Feide does) gives the e-mail address from its userinfo endpoint only, not in the ID token;
//   - an Entra-like multi-tenant provider: an issuer per tenant, http://127.0.0.1:N/<tid>/v2.0, whose ID tokens
//     carry the claims the scopes grant (the e-mail address among them) and the tenant's `tid`; and, as Entra's
//     login.microsoftonline.com/organizations/v2.0 does, a discovery document at
//     /organizations/v2.0/.well-known/openid-configuration naming the issuer "http://127.0.0.1:N/{tenantid}/v2.0"
//     (the client puts the ID token's tid in it) with the endpoints of the tenant (here, the one tenant).
//
// Each provider has one client, "servicedesk-forms" (client_secret_post, PKCE S256 required, the one redirect URI
// given), and the same people: a person signs in on the provider's own development login page by typing their
// login name and any password, then confirms the consent page. Everything is kept in memory; signing keys are
// made at start.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import Provider from "oidc-provider";

const CLIENT_ID = "servicedesk-forms";
const CLIENT_SECRET = "idp-client-secret-of-the-browser-tests";
const TENANT = "6d0c5a1e-4b7f-4f52-9a3e-0c1d2e3f4a5b";

// The people, by the login name typed on the login page; `sub` is the login name (the provider's account id).
const PEOPLE = {
  kari: { email: "kari.nordmann@example.no", name: "Kari Nordmann" },
  ola: { email: "ola.utenfor@example.no", name: "Ola Utenfor" },
};

const { values: options } = parseArgs({
  options: { port: { type: "string" }, redirect: { type: "string" }, tenant: { type: "string", default: TENANT } },
});
if (!options.port || !options.redirect) {
  console.error("usage: node tests/idp/server.mjs --port N --redirect <the client's callback URL>");
  process.exit(2);
}
const port = Number(options.port);
const origin = `http://127.0.0.1:${port}`;

function signingKey() {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid: randomBytes(8).toString("hex"), use: "sig", alg: "RS256" };
}

function provider(id, issuer, { tenant, emailInIdToken }) {
  const claims = {
    openid: tenant ? ["sub", "tid"] : ["sub"],
    email: ["email", "email_verified"],
    profile: tenant ? ["name", "preferred_username"] : ["name"],
  };
  return new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [options.redirect],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    pkce: { methods: ["S256"], required: () => true },
    claims,
    conformIdTokenClaims: !emailInIdToken,
    features: { devInteractions: { enabled: true } },
    jwks: { keys: [signingKey()] },
    cookies: {
      keys: [randomBytes(32).toString("hex")],
      // Every provider sits on the same host: each keeps its own cookies.
      names: { session: `_session_${id}`, interaction: `_interaction_${id}`, resume: `_interaction_resume_${id}` },
    },
    async findAccount(ctx, sub) {
      const person = PEOPLE[sub];
      if (!person) return undefined;
      return {
        accountId: sub,
        async claims() {
          const found = { sub, email: person.email, email_verified: true, name: person.name };
          return tenant ? { ...found, tid: tenant, preferred_username: person.email } : found;
        },
      };
    },
  });
}

const tenantIssuer = `${origin}/${options.tenant}/v2.0`;
const mounted = [
  ["/single", provider("single", `${origin}/single`, { emailInIdToken: false })],
  [`/${options.tenant}/v2.0`, provider("tenant", tenantIssuer, { tenant: options.tenant, emailInIdToken: true })],
].map(([path, op]) => [path, op.callback()]);

// Entra's discovery for any tenant: the tenant's own, its issuer a template the client fills in with `tid`.
async function organizationsDiscovery(res) {
  const answer = await fetch(`${tenantIssuer}/.well-known/openid-configuration`);
  const document = await answer.json();
  document.issuer = `${origin}/{tenantid}/v2.0`;
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(document));
}

const server = createServer((req, res) => {
  const path = req.url.split("?")[0];
  console.log(`${req.method} ${path}`); // what was asked, for the tests to read in the log
  if (req.method === "GET" && path === "/organizations/v2.0/.well-known/openid-configuration") {
    organizationsDiscovery(res).catch((error) => {
      res.writeHead(500).end(String(error));
    });
    return;
  }
  for (const [prefix, handle] of mounted) {
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      // As express's app.use(prefix, ...) does: the provider sees its own path, and finds its mount path from
      // originalUrl when it makes its addresses.
      req.originalUrl = req.url;
      req.url = req.url.slice(prefix.length) || "/";
      if (!req.url.startsWith("/")) req.url = `/${req.url}`;
      handle(req, res);
      return;
    }
  }
  res.writeHead(404, { "content-type": "text/plain" }).end("no such provider\n");
});

server.listen(port, "127.0.0.1", () => console.log(`ready ${origin}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
