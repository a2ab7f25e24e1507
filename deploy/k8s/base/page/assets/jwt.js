// Reading a JWT needs no key: the header and payload are only base64url-encoded JSON.
// The signature is what makes the token trustworthy, and only the services check it.
// This module decodes and never verifies, to show that anyone holding a token can read it.

function base64urlToBytes(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error("a segment is not base64url");
  // atob is forgiving about missing "=" padding, which base64url leaves out.
  const binary = atob(segment.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function decodeJson(segment) {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(base64urlToBytes(segment));
  return JSON.parse(text);
}

/** { header, payload, signatureBytes } of a compact JWS, unverified. Throws on garbage. */
export function decodeJwt(token) {
  const parts = String(token).split(".");
  if (parts.length !== 3) throw new Error("a JWT has three parts separated by dots");
  return {
    header: decodeJson(parts[0]),
    payload: decodeJson(parts[1]),
    signatureBytes: base64urlToBytes(parts[2]).length,
  };
}

/** Whether the token's exp has passed (false when it cannot be read). */
export function isExpired(token, nowMs = Date.now()) {
  try {
    const { payload } = decodeJwt(token);
    return typeof payload.exp === "number" && payload.exp * 1000 <= nowMs;
  } catch {
    return false;
  }
}
