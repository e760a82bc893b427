// Sign-in: OpenID Connect authorization code flow with PKCE (RFC 7636) at [app] oidc_issuer.
// The tokens live in this module's memory only; what must survive the redirect to the
// provider (verifier, state, nonce) is kept in sessionStorage and removed on return.
const PENDING = 'ehp.signin';

let session = null; // { accessToken, name, expiresAt }

export class SignInError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

function redirectUri() {
  return new URL('./', window.location.href).href.split('?')[0];
}

function randomText(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes) {
  let text = '';
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function discover(issuer) {
  const base = issuer.replace(/\/$/, '');
  const response = await fetch(`${base}/.well-known/openid-configuration`);
  if (!response.ok) throw new SignInError('provider-unreachable');
  const document = await response.json();
  if (document.issuer.replace(/\/$/, '') !== base) throw new SignInError('wrong-issuer');
  return document;
}

/** Go to the identity provider's sign-in page. */
export async function signIn(config) {
  const provider = await discover(config.issuer);
  const verifier = randomText(48);
  const state = randomText(24);
  const nonce = randomText(24);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: redirectUri(),
    scope: 'openid',
    state,
    nonce,
    code_challenge: base64url(digest),
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.href);
}

function claimsOf(idToken) {
  const payload = idToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  const text = atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '='));
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** On return from the provider: check state, exchange the code, check the ID token. */
export async function completeSignIn(config) {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  window.history.replaceState(null, '', redirectUri()); // the code leaves the address bar
  if (!pending || params.get('state') !== pending.state) throw new SignInError('state');
  if (params.has('error')) throw new SignInError(params.get('error'));
  const provider = await discover(config.issuer);
  const response = await fetch(provider.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: redirectUri(),
      client_id: config.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok || !tokens.access_token || !tokens.id_token) throw new SignInError('token');
  // Received straight from the token endpoint: the claims are checked, the TLS channel vouches
  // for the signature (OpenID Connect Core 3.1.3.7).
  const claims = claimsOf(tokens.id_token);
  const audience = [].concat(claims.aud);
  if (claims.iss !== provider.issuer || !audience.includes(config.clientId)) {
    throw new SignInError('id-token');
  }
  if (claims.nonce !== pending.nonce) throw new SignInError('nonce');
  if (claims.exp * 1000 < Date.now()) throw new SignInError('expired');
  session = {
    accessToken: tokens.access_token,
    name: claims.name || claims.sub,
    expiresAt: Date.now() + (tokens.expires_in || 3600) * 1000,
  };
  return session;
}

export function currentSession() {
  return session && session.expiresAt > Date.now() ? session : null;
}

export function signOut() {
  session = null;
}
