// DPoP (RFC 9449): tokens bound to a key that only this page holds. Every request that
// carries a DPoP-bound token also carries a proof, a small JWT signed with that key for this
// one method and URL, so a token copied out of the page is useless without the key.
//
// The key is generated non-extractable: script can sign with it but never read the private
// half, and it lives in memory only, so it is gone, with the tokens bound to it, when the
// tab closes or reloads.

const encoder = new TextEncoder();

let pageKey = null; // the promise of this page load's one key
const nonces = new Map(); // the latest DPoP-Nonce per server, see nonceScope()

/** Whether this browser can sign proofs: WebCrypto exists only in secure contexts. */
export function available() {
  return Boolean(window.isSecureContext && globalThis.crypto && crypto.subtle && crypto.randomUUID);
}

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlJson(value) {
  return base64url(encoder.encode(JSON.stringify(value)));
}

async function sha256(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** A new ES256 key: { privateKey, jwk }, the jwk reduced to the public members. */
export async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  // The export carries key_ops and ext too; the servers accept the public members only.
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const jwk = { kty, crv, x, y };
  // RFC 7638: the required members in lexicographic order, no whitespace; cnf.jkt is this.
  const thumbprint = base64url(await sha256(JSON.stringify({ crv, kty, x, y })));
  return { privateKey: pair.privateKey, jwk, thumbprint };
}

/** This page load's key, created on first use and never replaced. */
export function key() {
  if (!pageKey) pageKey = newKey();
  return pageKey;
}

// Nonces are issued per server, and a nonce one server sealed is refused by another, so
// each is kept under the path that reaches its server: "/v1/orders", "/v1/notifications",
// "/v1/sessions", "/oauth". A few extra nonce round trips are cheaper than a wrong nonce.
function nonceScope(path) {
  const [first = "", second = ""] = new URL(path, location.origin).pathname.split("/").filter(Boolean);
  return first === "v1" ? `/v1/${second}` : `/${first}`;
}

/** Keeps the DPoP-Nonce of an answer to `path`, if it carried one. */
export function rememberNonce(path, nonce) {
  if (nonce) nonces.set(nonceScope(path), nonce);
}

/**
 * A proof for one request: the JWS compact form of { jti, htm, htu, iat, ath?, nonce? },
 * signed with `signer` (a key from newKey()). `accessToken` is set on resource requests
 * only: ath ties the proof to that one token.
 */
export async function proof(signer, method, path, accessToken = null) {
  const url = new URL(path, location.origin);
  const claims = {
    jti: crypto.randomUUID(),
    htm: method,
    // Origin and path only: the servers ignore the query, and RFC 9449 leaves it out.
    htu: `${url.origin}${url.pathname}`,
    iat: Math.floor(Date.now() / 1000),
  };
  if (accessToken) claims.ath = base64url(await sha256(accessToken));
  const nonce = nonces.get(nonceScope(path));
  if (nonce) claims.nonce = nonce;
  const input = `${base64urlJson({ typ: "dpop+jwt", alg: "ES256", jwk: signer.jwk })}.${base64urlJson(claims)}`;
  // WebCrypto's ECDSA signature is already r‖s, 64 bytes, the form JWS uses (no DER).
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    signer.privateKey,
    encoder.encode(input),
  );
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/** Whether an answer asks for the request again with a server nonce it just sent. */
export function asksForNonce(result) {
  if (!result.nonce) return false;
  const code = result.body && result.body.error;
  if (result.status === 400) return code === "use_dpop_nonce";
  return result.status === 401 && (code === "use_dpop_nonce" || /use_dpop_nonce/.test(result.challenge || ""));
}
