// Turns a failed result into one sentence a person can act on. The wire details (status,
// challenge, envelope) are shown beside it, so this only has to say what they mean.

const STATUS_TEXT = {
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** "401 Unauthorized": HTTP/2 answers carry no reason phrase, so the page supplies one. */
export function statusLine(status) {
  if (status === 0) return "no answer (network error)";
  const text = STATUS_TEXT[status];
  return text ? `${status} ${text}` : String(status);
}

/** Whether a refusal means the token's session (or the token itself) was ended. */
export function meansSessionEnded(result) {
  const body = result.body || {};
  const text = `${body.error_description || ""} ${result.challenge || ""}`;
  return /revoked|ended/i.test(text);
}

function retrySeconds(result) {
  if (result.retryAfter && /^\d+$/.test(result.retryAfter)) return result.retryAfter;
  const match = /retry in (\d+)/i.exec((result.body && result.body.error_description) || "");
  return match ? match[1] : null;
}

function detailsText(body) {
  if (!Array.isArray(body.details) || body.details.length === 0) return "";
  return body.details.map((d) => `${d.field}: ${d.message}`).join("; ");
}

/** One plain sentence for a failed result. */
export function explain(result) {
  const body = result.body || {};
  const code = body.error || "";
  // The services' descriptions have no final stop; strip one anyway so none is doubled.
  const description = (body.error_description || "").replace(/\.+$/, "");
  const wait = retrySeconds(result);
  const status = result.status;

  if (status === 0 && code === "dpop_unavailable") {
    return `No DPoP proof could be signed, so nothing was sent: ${description || "WebCrypto is unavailable"}.`;
  }
  if (status === 0) return `The request never got an answer: ${description || "the network failed"}.`;
  if ((status === 400 || status === 401) && code === "invalid_dpop_proof") {
    return `The DPoP proof was refused: ${description || "it is not valid"}. A bound token counts only with a fresh proof from its key.`;
  }
  if (code === "use_dpop_nonce") {
    return "The server still wants a fresh DPoP nonce after the page retried with the one it sent.";
  }
  if (status === 401 && code === "invalid_token") {
    const why = meansSessionEnded(result)
      ? " Its session was ended, and every verifier learned of that from auth-service's revocation feed."
      : "";
    return `The token was refused: ${description || "it is not valid"}.${why}`;
  }
  if (status === 401 && code === "invalid_credentials") return "The email or password is wrong.";
  if (status === 401) return "No token came with the request: you are signed out, or the access cookie expired.";
  if (status === 403 && code === "insufficient_scope") {
    return `The token is genuine but lacks the scope or role this action needs: ${description}.`;
  }
  if (status === 403 && code === "cross_site_request") {
    return "Refused as a possible cross-site request: a change made with a cookie token must come from this page's own origin.";
  }
  if (status === 429) return `Too many attempts, retry after ${wait || "a few"} s.`;
  if (status === 409) return `That already exists: ${description || "conflict"}.`;
  if (status === 422 || (status === 400 && detailsText(body))) {
    return `Some values were not accepted: ${detailsText(body) || description}.`;
  }
  if (status === 400 && code === "invalid_grant") {
    const key = result.proof ? ", or the proof was signed by another key than the one it is bound to" : "";
    return `The refresh token was refused (expired, already used, or its session ended${key}): sign in again.`;
  }
  if (status === 400) return `The request was malformed: ${description || code}.`;
  if (status === 404) return `Not found: ${description || "nothing is there"}.`;
  if (status === 503) {
    return `The service is temporarily unavailable: ${description || "try again"}${wait ? `; retry after ${wait} s` : ""}.`;
  }
  if (status >= 500) return `The server failed: ${description || "no details"}.`;
  return `The request failed: ${description || code || statusLine(status)}.`;
}

/** What one attempt of the stolen-token replay shows. kind: "owner" | "bearer" | "other-key". */
export function explainReplay(kind, result) {
  if (kind === "owner") {
    return result.ok
      ? "The page itself: the token with a fresh proof signed by its own key. Accepted."
      : `The page itself was refused too: ${explain(result)}`;
  }
  if (result.ok) {
    return "Accepted: this token is not bound to a key, so anyone who holds it can use it, just like a bearer token.";
  }
  if (result.status !== 401) return `Not a refusal of the token: ${explain(result)}`;
  return kind === "bearer"
    ? "As a plain bearer token, with no proof: refused. A DPoP-bound token is not a bearer token."
    : "With a valid proof signed by a fresh key of the thief's own: refused, because that key is not the one the token's cnf.jkt names.";
}
