// Renders the account, "what the browser holds" and failure panels. Lists (orders,
// notifications, sessions, keys) are in lists.js.

import { byId, el, entry, pretty, relative, timeEl } from "./dom.js";
import { explain, statusLine } from "./explain.js";
import { decodeJwt } from "./jwt.js";

/** state: "signed-in" | "signed-out" | "ended" | "refused" (for styling only). */
export function renderAuthStatus(text, state) {
  const node = byId("auth-status");
  node.textContent = text;
  node.dataset.state = state;
}

export function renderCookie() {
  // The exact string script can see: the HttpOnly token cookies are never part of it.
  byId("document-cookie").textContent = document.cookie === "" ? "(empty)" : document.cookie;
}

const COOKIE_SENTENCE =
  "The access token is in an HttpOnly cookie, which script on this page cannot read: there is nothing here to decode.";

/** mode: the signed-in mode, or null; selected: the radio's mode; token: the bearer or DPoP
 * token; tokenType: token_type of the answer that gave it. */
export function renderToken(mode, selected, token, email, tokenType) {
  const header = byId("token-header");
  const payload = byId("token-payload");
  const note = byId("token-note");
  byId("token-type").textContent = token ? tokenType || "(none)" : "–";
  if ((mode === "bearer" || mode === "dpop") && token) {
    try {
      const decoded = decodeJwt(token);
      header.textContent = pretty(decoded.header);
      payload.textContent = pretty(decoded.payload);
      note.textContent = privacyNote(decoded.payload, email, decoded.signatureBytes);
    } catch (error) {
      header.textContent = `The token could not be decoded: ${error.message}`;
      payload.textContent = "";
      note.textContent = "";
    }
    return;
  }
  const cookieSide = mode === "cookie" || (mode === null && selected === "cookie");
  header.textContent = cookieSide ? COOKIE_SENTENCE : "Signed out: the page holds no token.";
  payload.textContent = cookieSide
    ? "Ask the server instead: the panel below shows what it read from the cookie."
    : "Sign in in bearer or DPoP mode to see the token decoded here.";
  note.textContent = "";
}

function privacyNote(payload, email, signatureBytes) {
  const text = JSON.stringify(payload).toLowerCase();
  const leak = email && text.includes(email.toLowerCase());
  const emailPart = email
    ? leak
      ? "Warning: the email you signed in with appears in the payload."
      : "The email you signed in with appears nowhere in it."
    : "It carries no email or name.";
  return (
    `Decoded in your browser with base64url only, not verified: anyone holding the token can read it. ` +
    `sub is a random id, not you. ${emailPart} ` +
    `The ${signatureBytes}-byte RS256 signature is what the services check.`
  );
}

// cnf.jkt, the thumbprint of the key a DPoP token is bound to (RFC 9449 §6).
function boundKey(token) {
  try {
    const { cnf } = decodeJwt(token).payload;
    return (cnf && cnf.jkt) || null;
  } catch {
    return null;
  }
}

/** Shows the page's DPoP key (null hides it) and whether `token` is bound to it. */
export function renderDpopKey(key, token) {
  const panel = byId("dpop-key");
  panel.hidden = !key;
  if (!key) return;
  byId("dpop-jwk").textContent = pretty(key.jwk);
  byId("dpop-jkt").textContent = key.thumbprint;
  const jkt = token ? boundKey(token) : null;
  panel.dataset.bound = String(Boolean(jkt) && jkt === key.thumbprint);
  byId("dpop-bound").textContent = !token
    ? "Sign in in DPoP mode: auth-service then binds the token to this key."
    : jkt === key.thumbprint
      ? "The token's cnf.jkt is this thumbprint: the token is bound to this key, and is worth nothing without it."
      : `The token is not bound to this key (cnf.jkt: ${jkt || "none"}).`;
}

/** result: the answer to GET /v1/sessions/current, or null when signed out. */
export function renderWhoami(result) {
  const list = byId("whoami");
  const empty = byId("whoami-empty");
  if (!result || !result.ok || !result.body) {
    list.replaceChildren();
    list.dataset.credential = "";
    list.dataset.sessionId = "";
    empty.hidden = false;
    return;
  }
  const { credential, session = {}, token = {} } = result.body;
  const how =
    credential === "cookie"
      ? "cookie: the browser sent the HttpOnly cookie, the page added nothing"
      : result.scheme === "DPoP"
        ? `${credential}: the page sent Authorization: DPoP, with a proof signed by its own key`
        : "header: the page sent Authorization: Bearer";
  // A DPoP token names its key; a bearer token has no cnf.
  const jkt = token.cnf && token.cnf.jkt;
  const cnf = jkt ? entry("Bound to key (cnf.jkt)", el("span", { class: "mono" }, jkt)) : [];
  list.dataset.credential = credential;
  list.dataset.sessionId = session.id || token.sid || "";
  list.replaceChildren(
    ...entry("Credential", how),
    ...entry("Session id (sid)", session.id || token.sid || "–"),
    ...entry("Subject (sub)", token.sub || "–", el("span", { class: "aside" }, " a random id, no email")),
    ...entry("Role", token.role || "–"),
    ...entry("Scope", Array.isArray(token.scope) ? token.scope.join(" ") : token.scope || "–"),
    ...entry("Audience (aud)", Array.isArray(token.aud) ? token.aud.join(", ") : String(token.aud || "–")),
    ...entry("Key id (kid)", token.kid || "–"),
    ...cnf,
    ...entry("Token id (jti)", token.jti || "–"),
    ...entry("Issued (iat)", timeEl(token.iat)),
    ...entry("Expires (exp)", timeEl(token.exp), ` (${relative(token.exp)})`),
    ...entry("Session started", timeEl(session.created_at)),
    ...entry("Session expires", timeEl(session.expires_at)),
    ...entry("Answered by", result.servedBy || "–", result.kid ? `, verified with kid ${result.kid}` : ""),
  );
  empty.hidden = true;
}

/** Shows one failed request: the plain sentence first, then the wire details verbatim. */
export function renderError(result) {
  const node = byId("last-error");
  const body = result.body || {};
  const details = Array.isArray(body.details)
    ? el("ul", {}, ...body.details.map((d) => el("li", {}, `${d.field}: ${d.message}`)))
    : "(none)";
  const time = result.at ? result.at.toLocaleTimeString() : "";
  node.dataset.status = String(result.status);
  node.dataset.error = body.error || "";
  node.replaceChildren(
    el("p", { class: "plain" }, explain(result)),
    el(
      "dl",
      { class: "wire" },
      ...entry("Request", el("code", {}, `${result.method} ${result.path}`), time ? ` at ${time}` : ""),
      ...entry("Status", statusLine(result.status)),
      ...entry("WWW-Authenticate", el("code", {}, result.challenge || "(none)")),
      ...entry("error", el("code", {}, body.error || "(none)")),
      ...entry("error_description", body.error_description || "(none)"),
      ...entry("details", details),
      ...(result.retryAfter ? entry("Retry-After", `${result.retryAfter} s`) : []),
      ...entry("Served by", result.servedBy || "(no X-Served-By)"),
    ),
  );
}

/** Empties the failure panel: what it showed belongs to a session that is over. */
export function clearError() {
  const node = byId("last-error");
  delete node.dataset.status;
  delete node.dataset.error;
  node.replaceChildren(el("p", {}, "No failure yet."));
}

export function renderPollStatus(result) {
  const node = byId("poll-status");
  node.dataset.status = String(result.status);
  const time = result.at.toLocaleTimeString();
  node.textContent = `Last poll at ${time}: ${statusLine(result.status)}, served by ${result.servedBy || "(unknown)"}${
    result.kid ? `, verified with kid ${result.kid}` : ""
  }.`;
}

export function renderPollStopped() {
  const node = byId("poll-status");
  if (!node.dataset.status) node.textContent = "Not polling: signed out.";
  else if (!node.textContent.includes("Polling stopped")) node.textContent += " Polling stopped.";
}

/** A short outcome line under a form or button row. */
export function renderOutcome(id, text, good) {
  const node = byId(id);
  node.textContent = text;
  node.dataset.outcome = good ? "ok" : "failed";
}
