// Entry point: wires the forms and buttons to the services. The page is the demo: every
// panel shows what one side (browser, auth-service, a verifier) holds or decides.

import * as api from "./api.js";
import * as dpop from "./dpop.js";
import { byId, pretty } from "./dom.js";
import { explain, statusLine } from "./explain.js";
import * as lists from "./lists.js";
import * as session from "./session.js";
import * as views from "./views.js";

api.configure({
  // Any answer may have set or cleared a cookie; show what script can see right away.
  answer: () => views.renderCookie(),
  failure: (result) => views.renderError(result),
  tokens: () => {
    session.renderHolds();
    session.loadWhoami();
  },
});

function idempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID exists only in secure contexts (https, localhost): build the same v4 shape.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// One action at a time per control, so a double click cannot send two logins, two orders
// or two refreshes. The control stays enabled (and focused) for keyboard users.
const busy = new WeakSet();
function guarded(node, action) {
  return async (event) => {
    if (event) event.preventDefault();
    if (busy.has(node)) return;
    busy.add(node);
    node.setAttribute("aria-busy", "true");
    try {
      await action();
    } finally {
      busy.delete(node);
      node.removeAttribute("aria-busy");
    }
  };
}

function on(id, type, action) {
  const node = byId(id);
  node.addEventListener(type, guarded(node, action));
}

async function loadKeys() {
  const [keys, jwks] = await Promise.all([
    api.request("GET", "/v1/keys"),
    // no-cache: revalidate every time, so the ETag shown is the issuer's current one.
    api.request("GET", "/.well-known/jwks.json", { cache: "no-cache" }),
  ]);
  lists.renderKeys(keys, session.tokenKid());
  lists.renderJwks(jwks);
}

on("register-form", "submit", async () => {
  const email = byId("register-email").value;
  const password = byId("register-password").value;
  const result = await api.request("POST", "/v1/users", { json: { email, password } });
  if (result.ok) {
    views.renderOutcome("register-result", `Account created for ${email}. Sign in below.`, true);
    if (!byId("login-email").value) byId("login-email").value = email;
  } else {
    views.renderOutcome("register-result", `Not created: ${explain(result)}`, false);
  }
});

on("login-form", "submit", async () => {
  const mode = session.selectedMode();
  if (mode === "cookie" && !window.isSecureContext) {
    views.renderAuthStatus(
      "signed out: cookie mode needs https:// or localhost, because the cookies are Secure; use bearer mode here",
      "signed-out",
    );
    return;
  }
  if (mode === "dpop" && !dpop.available()) {
    views.renderAuthStatus(
      "signed out: DPoP mode needs https:// or localhost, where WebCrypto can make the key; use bearer mode here",
      "signed-out",
    );
    return;
  }
  // A refresh still running for an earlier session must not land after this sign-in.
  await api.settled();
  const email = byId("login-email").value;
  const password = byId("login-password").value;
  const result = await api.request("POST", "/v1/login", {
    // "cookie": tokens only in HttpOnly cookies, none in the body; "body": no cookies.
    json: { email, password, token_delivery: mode === "cookie" ? "cookie" : "body" },
    // The proof asks auth-service to bind the tokens to the page's key.
    dpop: mode === "dpop",
  });
  if (!result.ok) {
    if (!session.current()) {
      views.renderAuthStatus(`signed out: sign-in failed (${statusLine(result.status)})`, "signed-out");
    }
    return;
  }
  const body = result.body || {};
  if (mode === "dpop" && !/^dpop$/i.test(body.token_type || "")) {
    // Sending an unbound token as DPoP would only be refused later, and more obscurely.
    if (!session.current()) {
      views.renderAuthStatus(`signed out: asked for a DPoP-bound token, got token_type ${body.token_type}`, "refused");
    }
    return;
  }
  const tokens = { access: body.access_token, refresh: body.refresh_token, type: body.token_type };
  session.signIn(mode, email, mode === "cookie" ? null : tokens);
});

on("logout", "click", async () => {
  const result = await session.authed("POST", "/v1/logout");
  if (result.stale || result.refused) return;
  const text = result.ok
    ? "signed out"
    : `signed out on this page; the server did not confirm (${statusLine(result.status)})`;
  session.endLocally(text, "signed-out");
});

on("logout-everywhere", "click", async () => {
  const result = await session.authed("DELETE", "/v1/sessions");
  if (result.stale || result.refused || !result.ok) return;
  session.endLocally(
    "signed out everywhere: every session ended, and other browsers are refused within about a second",
    "signed-out",
  );
});

async function endSession(id, isCurrent) {
  const result = await session.authed("DELETE", `/v1/sessions/${encodeURIComponent(id)}`);
  if (result.stale || result.refused || !result.ok) return;
  if (isCurrent) {
    session.endLocally("signed out: this session ended here", "ended");
    return;
  }
  views.renderOutcome(
    "sessions-result",
    `Session ${id} ended. A browser still using it is refused within about a second.`,
    true,
  );
  await session.loadSessions();
  // The button that had focus is gone with its row; keep the keyboard user nearby.
  byId("refresh-sessions").focus();
}

byId("sessions").addEventListener("click", (event) => {
  const button = event.target.closest("button.end-session");
  const row = button && button.closest("li[data-session-id]");
  if (!row) return;
  guarded(button, () => endSession(row.dataset.sessionId, row.dataset.current === "true"))();
});

on("order-form", "submit", async () => {
  const sku = byId("order-sku").value;
  const raw = byId("order-quantity").value;
  const number = raw.trim() === "" ? null : Number(raw);
  // Whatever was typed goes to the server, which is the one that validates and explains.
  const quantity = number === null || Number.isFinite(number) ? number : raw;
  const result = await session.authed("POST", "/v1/orders", {
    json: { items: [{ sku, quantity }] },
    // One key per order, reused by the retry after a token refresh: never two orders.
    headers: { "Idempotency-Key": idempotencyKey() },
  });
  lists.renderOrderAnswer(result);
  if (result.ok && !result.stale) await session.loadOrders();
});

// The point of DPoP: the same token, sent the two ways a thief could, next to the page's own
// request. The thief may fetch a server nonce like anyone; only the key is out of reach.
on("dpop-replay", "click", async () => {
  if (api.currentMode() !== "dpop") {
    lists.renderReplay([], "unavailable", "Sign in in DPoP mode first: only a DPoP-bound token shows the difference.");
    return;
  }
  const path = "/v1/orders?limit=1";
  const started = session.current();
  const owner = await session.authed("GET", path, { quiet: true });
  if (owner.stale || owner.refused) return;
  const token = api.accessToken();
  const bearer = await api.request("GET", path, { credential: { scheme: "Bearer", token, key: null }, quiet: true });
  const thief = await dpop.newKey();
  const otherKey = await api.request("GET", path, { credential: { scheme: "DPoP", token, key: thief }, quiet: true });
  if (session.current() !== started) return; // signed out, or in again, meanwhile
  const replays = [bearer, otherKey];
  const refused = owner.ok && replays.every((r) => r.status === 401);
  const accepted = replays.some((r) => r.ok);
  lists.renderReplay(
    [
      { kind: "owner", result: owner },
      { kind: "bearer", result: bearer },
      { kind: "other-key", result: otherKey },
    ],
    refused ? "refused" : accepted ? "accepted" : "failed",
    refused
      ? "Both replays refused, the page's own request accepted: without the key, the token is worth nothing."
      : accepted
        ? "A replay was accepted: this token is not bound to a key."
        : "Not the expected picture: see each answer below.",
  );
});

on("list-orders", "click", () => session.loadOrders());
on("refresh-sessions", "click", () => session.loadSessions());
on("refresh-keys", "click", loadKeys);

on("rotate-keys", "click", async () => {
  const result = await session.authed("POST", "/v1/admin/keys/rotate");
  if (result.stale) return;
  byId("rotate-result").textContent = result.ok
    ? `Rotated (answered by ${result.servedBy || "auth-service"}):\n${pretty((result.body && result.body.rotation) || result.body)}`
    : `Not rotated: ${explain(result)}`;
  await loadKeys();
});

for (const id of ["mode-cookie", "mode-bearer", "mode-dpop"]) byId(id).addEventListener("change", session.renderHolds);

// Chromium announces cookie changes; other browsers still get a refresh after each answer.
if (window.cookieStore && typeof window.cookieStore.addEventListener === "function") {
  window.cookieStore.addEventListener("change", views.renderCookie);
}

async function start() {
  session.renderHolds();
  views.renderWhoami(null);
  loadKeys();
  // A reload keeps the HttpOnly cookies: ask the server whether they still open a session
  // (as cookie mode, so an expired access cookie is renewed with the refresh cookie).
  if (!session.hadCookieSession()) return;
  api.signedInAs("cookie");
  const result = await api.request("GET", "/v1/sessions/current", { auth: true, quiet: true });
  if (session.current()) return; // the user signed in meanwhile; that sign-in wins
  if (result.ok && result.body && result.body.credential === "cookie") {
    byId("mode-cookie").checked = true;
    session.signIn("cookie", null, null);
  } else {
    session.endLocally("signed out", "signed-out");
  }
}

start();
