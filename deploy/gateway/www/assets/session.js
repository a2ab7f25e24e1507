// The signed-in state and everything that follows it: loading the panels after sign-in,
// polling notifications, and forgetting it all when the session ends, here or elsewhere.

import * as api from "./api.js";
import * as dpop from "./dpop.js";
import { meansSessionEnded } from "./explain.js";
import { byId } from "./dom.js";
import * as lists from "./lists.js";
import * as views from "./views.js";

const POLL_MS = 1000;
// Remembers only that this tab signed in with cookies (never a token), so that a reload
// asks the server whether the HttpOnly cookies still open a session, while a fresh visit
// sends no request that is bound to be refused.
const COOKIE_HINT = "signed-in-with-cookies";

function setCookieHint(on) {
  try {
    if (on) sessionStorage.setItem(COOKIE_HINT, "1");
    else sessionStorage.removeItem(COOKIE_HINT);
  } catch {
    // Storage disabled: a reload then simply starts signed out.
  }
}

export function hadCookieSession() {
  try {
    return sessionStorage.getItem(COOKIE_HINT) === "1";
  } catch {
    return false;
  }
}

let session = null; // { mode, email, current } while signed in
let pollTimer = null;
let lastPollFailure = "";

export function current() {
  return session;
}

/** The mode the radios pick for the next sign-in: "cookie", "bearer" or "dpop". */
export function selectedMode() {
  const checked = document.querySelector("input[name='mode']:checked");
  return checked ? checked.value : "cookie";
}

export function tokenKid() {
  return (session && session.current && session.current.token && session.current.token.kid) || null;
}

export function renderHolds() {
  const mode = session && session.mode;
  views.renderCookie();
  views.renderToken(mode, selectedMode(), api.accessToken(), session && session.email, api.tokenType());
  if (!showsKey()) return views.renderDpopKey(null);
  // The key is created on first use: render once it exists, as things stand by then.
  dpop.key().then(
    (key) => views.renderDpopKey(showsKey() ? key : null, api.currentMode() === "dpop" ? api.accessToken() : null),
    () => views.renderDpopKey(null),
  );
}

// The DPoP key is shown while signed in in DPoP mode, or signed out with DPoP selected.
function showsKey() {
  const mode = session && session.mode;
  return dpop.available() && (mode === "dpop" || (!mode && selectedMode() === "dpop"));
}

/**
 * An authenticated request. `stale` is true when the page signed out (or in again) while it
 * ran: its answer then belongs to a session that is gone and must not touch the panels.
 * A 401 while signed in means the services no longer accept this session: the page signs
 * out and `refused` is true.
 */
export async function authed(method, path, options = {}) {
  const started = session;
  const result = await api.request(method, path, { ...options, auth: true });
  result.stale = session !== started;
  // A 401 only because the issuer could not renew an expired token is not a refusal of the
  // session: the credentials stay, and the next request tries again.
  result.issuerDown = result.status === 401 ? api.takeRefreshFailure() : null;
  result.refused = !result.stale && started !== null && result.status === 401 && !result.issuerDown;
  if (result.refused) refused(result);
  return result;
}

/** Clears what the previous session's actions left on the page. */
function clearOutcomes() {
  for (const id of ["order-log", "rotate-result", "sessions-result"]) byId(id).replaceChildren();
  lists.clearReplay();
  views.clearError();
}

export function signIn(mode, email, tokens) {
  stopPolling();
  clearOutcomes();
  api.signedInAs(mode, tokens);
  session = { mode, email, current: null };
  setCookieHint(mode === "cookie");
  // A sign-in while signed in starts another session: nothing of the old one may linger.
  views.renderWhoami(null);
  lists.clearOrders();
  lists.clearNotifications();
  lists.clearSessions();
  views.renderAuthStatus(`signed in, ${mode} mode${email ? ` as ${email}` : ""}`, "signed-in");
  renderHolds();
  loadWhoami();
  loadSessions();
  loadOrders();
  startPolling();
}

/** Forgets the session on this page: stop polling, drop tokens, clear the panels. */
export function endLocally(text, state) {
  stopPolling();
  api.forgetCredentials();
  session = null;
  setCookieHint(false);
  views.renderAuthStatus(text, state);
  views.renderPollStopped();
  views.renderWhoami(null);
  byId("rotate-keys").hidden = true;
  lists.markTokenKey(null);
  lists.clearOrders();
  lists.clearNotifications();
  lists.clearSessions();
  renderHolds();
  // The control that was used (log out, end this session) may be gone or hidden now:
  // focus moves to the status that says what happened.
  byId("auth-status").focus();
}

function refused(result) {
  if (!session) return;
  const by = result.servedBy || result.path;
  const why = (result.body && result.body.error_description) || "no token";
  if (meansSessionEnded(result)) {
    endLocally(`session ended: ${by} refused the token (${why}). You are signed out.`, "ended");
  } else {
    endLocally(`refused: ${by} did not accept the token (${why}). You are signed out.`, "refused");
  }
}

export async function loadWhoami() {
  if (!session) return views.renderWhoami(null);
  const result = await authed("GET", "/v1/sessions/current");
  if (result.stale || !session) return;
  if (!result.ok) return;
  session.current = result.body;
  views.renderWhoami(result);
  const admin = Boolean(result.body && result.body.token && result.body.token.role === "admin");
  byId("rotate-keys").hidden = !admin;
  lists.markTokenKey(tokenKid());
}

export async function loadSessions() {
  const result = await authed("GET", "/v1/sessions");
  if (result.stale) return;
  if (result.ok && result.body && Array.isArray(result.body.sessions)) lists.renderSessions(result.body.sessions);
}

export async function loadOrders() {
  const result = await authed("GET", "/v1/orders?limit=10");
  if (result.stale) return;
  if (result.ok) lists.renderOrders(result);
}

function startPolling() {
  stopPolling();
  const owner = session;
  lastPollFailure = "";
  const tick = async () => {
    if (session !== owner) return;
    // quiet: the same failure every second would flood the live region; report changes only.
    const result = await authed("GET", "/v1/notifications?limit=20", { quiet: true });
    if (result.stale) return;
    views.renderPollStatus(result);
    views.renderCookie();
    if (result.ok) {
      lastPollFailure = "";
      lists.renderNotifications(Array.isArray(result.body && result.body.items) ? result.body.items : []);
    } else {
      const key = `${result.status} ${(result.body && result.body.error) || ""}`;
      if (key !== lastPollFailure || result.status === 401) views.renderError(result);
      lastPollFailure = key;
    }
    // authed() has already signed out on a 401: the loop ends here, and says so.
    // A service that asks for time (429, 503 with Retry-After) gets it.
    const retryAfter = Number(result.retryAfter);
    const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.max(POLL_MS, retryAfter * 1000) : POLL_MS;
    if (session === owner) pollTimer = setTimeout(tick, wait);
    else views.renderPollStopped();
  };
  tick();
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}
