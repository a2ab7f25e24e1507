// The one place the page talks to the services. Every answer becomes a plain `result`
// object that keeps what the page wants to show: the status, the replica that answered
// (X-Served-By), the key that verified the token (X-Verified-Kid), the RFC 6750 challenge
// (WWW-Authenticate) and the parsed error envelope.
//
// Bearer and DPoP tokens live in the module variable below and nowhere else: not in
// localStorage, sessionStorage or a cookie, so they are gone when the tab closes or the user
// signs out. In DPoP mode each request also carries a proof signed by the page's key.

import * as dpop from "./dpop.js";
import { isExpired } from "./jwt.js";

let mode = null; // "cookie" | "bearer" | "dpop" | null (signed out)
let tokens = null; // { access, refresh, type } in bearer and DPoP mode only
let refreshing = null; // the one refresh in flight, shared by every request that needs it
// Bumped on every sign-in and sign-out: a refresh that ends after one belongs to a session
// that is gone, and must not install its tokens over the new one's.
let generation = 0;

const hooks = { answer() {}, failure() {}, tokens() {} };

/** Registers callbacks: answer(result) after every response, failure(result) after a
 * failed one that is not `quiet`, tokens() after a successful refresh. */
export function configure(callbacks) {
  Object.assign(hooks, callbacks);
}

export function signedInAs(newMode, newTokens = null) {
  generation += 1;
  mode = newMode;
  tokens = newMode === "bearer" || newMode === "dpop" ? newTokens : null;
  refreshing = null;
}

export function forgetCredentials() {
  generation += 1;
  mode = null;
  tokens = null;
  refreshing = null;
}

/** Resolves once no refresh is in flight: a sign-in waits for it, so that a late refresh
 * answer cannot overwrite the new session's cookies. */
export function settled() {
  return (refreshing || Promise.resolve()).then(
    () => undefined,
    () => undefined,
  );
}

export function currentMode() {
  return mode;
}

export function accessToken() {
  return tokens ? tokens.access : null;
}

/** token_type of the last sign-in or refresh answer ("Bearer", "DPoP"), or null. */
export function tokenType() {
  return tokens ? tokens.type : null;
}

// What a request carries in Authorization: the page's own token (options.auth), or one the
// caller names (options.credential: { scheme, token, key }, the replay demo). `key` signs
// the DPoP proof; null sends none.
function credentialFor(options) {
  if (options.credential) return options.credential;
  if (!options.auth || !tokens || (mode !== "bearer" && mode !== "dpop")) return null;
  if (mode === "bearer") return { scheme: "Bearer", token: tokens.access, key: null };
  return { scheme: "DPoP", token: tokens.access, key: dpop.key() };
}

function header(response, name) {
  const value = response.headers.get(name);
  return value === null || value === "" ? null : value;
}

async function readBody(response) {
  const text = await response.text();
  if (text === "") return null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return JSON.parse(text);
    } catch {
      // A broken body must still be shown as a failure, not crash the page.
    }
  }
  // Something that is not our envelope (an HTML page from a proxy, say): keep a short
  // excerpt so the failure can still be explained.
  return { error: `http_${response.status}`, error_description: text.slice(0, 200) };
}

async function send(method, path, options) {
  const headers = new Headers(options.headers || {});
  headers.set("Accept", "application/json");
  let body;
  if (options.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = new URLSearchParams(options.form);
  }
  const credential = credentialFor(options);
  const sentToken = credential ? credential.token : null;
  if (sentToken) headers.set("Authorization", `${credential.scheme} ${sentToken}`);
  // options.dpop: a proof without a token, for the token endpoints (login, refresh).
  const signer = credential ? credential.key : options.dpop ? dpop.key() : null;

  const result = {
    method,
    path,
    status: 0,
    ok: false,
    servedBy: null,
    kid: null,
    challenge: null,
    retryAfter: null,
    headers: null,
    body: null,
    sentToken,
    scheme: credential ? credential.scheme : null,
    proof: Boolean(signer),
    nonce: null,
    auth: Boolean(options.auth),
    at: new Date(),
  };
  if (signer) {
    try {
      headers.set("DPoP", await dpop.proof(await signer, method, path, sentToken));
    } catch (error) {
      result.body = { error: "dpop_unavailable", error_description: String((error && error.message) || error) };
      return result;
    }
  }
  let response;
  try {
    // same-origin credentials: in cookie mode the browser attaches the HttpOnly cookies
    // itself; the page never touches them.
    response = await fetch(path, {
      method,
      headers,
      body,
      credentials: "same-origin",
      cache: options.cache || "no-store",
      redirect: "error",
    });
  } catch (error) {
    result.body = { error: "network_error", error_description: String((error && error.message) || error) };
    return result;
  }
  result.status = response.status;
  result.ok = response.ok;
  result.headers = response.headers;
  result.servedBy = header(response, "X-Served-By");
  result.kid = header(response, "X-Verified-Kid");
  result.challenge = header(response, "WWW-Authenticate");
  result.retryAfter = header(response, "Retry-After");
  // Any answer may hand out the server's next nonce, a refusal or not.
  result.nonce = header(response, "DPoP-Nonce");
  dpop.rememberNonce(path, result.nonce);
  try {
    result.body = await readBody(response);
  } catch (error) {
    result.body = { error: "network_error", error_description: String((error && error.message) || error) };
    result.ok = false;
  }
  return result;
}

// A server that wants a nonce refuses the first proof and sends one: sign a new proof with
// it, once. A second demand means something else is wrong, and is shown as it is.
async function exchange(method, path, options) {
  const result = await send(method, path, options);
  if (!result.proof || !dpop.asksForNonce(result)) return result;
  const retried = await send(method, path, options);
  retried.nonceRetried = true;
  return retried;
}

// "expired", or "must be renewed": a token older than the revocation list's horizon, which
// a fresh one replaces.
function saysExpired(result) {
  const description = (result.body && result.body.error_description) || result.challenge || "";
  return /expired|must be renewed/i.test(description);
}

// Only an expired access token is worth renewing. A revoked one, or one whose session
// ended, must stay refused: that refusal is what the page demonstrates.
function worthRefreshing(result) {
  if (result.status !== 401 || mode === null) return false;
  const code = result.body && result.body.error;
  if (mode === "bearer" || mode === "dpop") {
    return tokens !== null && code === "invalid_token" && (saysExpired(result) || isExpired(result.sentToken));
  }
  // In cookie mode the browser drops the access cookie when its Max-Age ends, so the
  // request arrives with no token at all ("unauthorized"); the refresh cookie remains.
  return code === "unauthorized" || (code === "invalid_token" && saysExpired(result));
}

async function doRefresh() {
  const startedIn = mode;
  const started = generation;
  const form =
    startedIn === "cookie"
      ? { grant_type: "refresh_token" }
      : { grant_type: "refresh_token", refresh_token: tokens.refresh };
  // A DPoP-bound refresh token is redeemed only with a proof of the same key.
  const result = await exchange("POST", "/oauth/token", { form, dpop: startedIn === "dpop" });
  hooks.answer(result);
  if (generation !== started) return false; // signed out or in again while it ran
  if (!result.ok) {
    hooks.failure(result);
    // Only a refused grant ends the session; an issuer that is down (0, 429, 5xx) does not,
    // and the credentials stay for the next try.
    if (result.status !== 400 && result.status !== 401) result.issuerUnavailable = true;
    lastRefreshFailure = result;
    return false;
  }
  if (startedIn !== "cookie") {
    // Refresh tokens rotate: the old one is now spent, and sending it again would look
    // like theft and end the session.
    tokens = {
      access: result.body.access_token,
      refresh: result.body.refresh_token || tokens.refresh,
      type: result.body.token_type || tokens.type,
    };
  }
  hooks.tokens();
  return true;
}

let lastRefreshFailure = null;

/** The failed refresh behind the last refusal, if the issuer was unavailable. */
export function takeRefreshFailure() {
  const failure = lastRefreshFailure;
  lastRefreshFailure = null;
  return failure && failure.issuerUnavailable ? failure : null;
}

function renew(sentToken) {
  // Another request already renewed the token this one was sent with: just retry.
  if (tokens && sentToken && tokens.access !== sentToken) return Promise.resolve(true);
  if (!refreshing) {
    // One refresh at a time: two with the same refresh token would trip reuse detection.
    refreshing = doRefresh().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Sends one request. Options: json (a body to send as JSON), form (an object sent as
 * application/x-www-form-urlencoded), headers, auth (send the page's token in bearer or DPoP
 * mode, and renew an expired token once), dpop (sign a proof with the page's key, for the
 * token endpoints), credential (send this { scheme, token, key } instead), quiet (do not
 * report a failure), cache. Either way a demand for a DPoP nonce is met once.
 */
export async function request(method, path, options = {}) {
  let result = await exchange(method, path, options);
  if (options.auth && worthRefreshing(result) && (await renew(result.sentToken))) {
    result = await exchange(method, path, options);
  }
  hooks.answer(result);
  if (!result.ok && !options.quiet) hooks.failure(result);
  return result;
}
