// Renders the lists that come from the services: order answers, the stolen-token replay,
// orders, notifications, sessions and signing keys. Every network value goes in as text.

import { byId, el, entry, timeEl } from "./dom.js";
import { explainReplay, statusLine } from "./explain.js";

const MAX_LOG = 25;

function itemsText(items) {
  return (items || []).map((item) => `${item.quantity} × ${item.sku}`).join(", ");
}

/** Prepends one answer of POST /v1/orders: which replica served it, which key verified. */
export function renderOrderAnswer(result) {
  const log = byId("order-log");
  const body = result.body || {};
  const outcome = result.ok
    ? `order ${body.id} (${itemsText(body.items)}) ${body.status || ""}`.trim()
    : `${body.error || "failed"}: ${body.error_description || ""}`;
  const li = el(
    "li",
    {
      "data-status": result.status,
      "data-served-by": result.servedBy || "",
      "data-kid": result.kid || "",
      class: result.ok ? "good" : "bad",
    },
    el("strong", {}, statusLine(result.status)),
    ` · served by ${result.servedBy || "(no X-Served-By)"}`,
    ` · verified with kid ${result.kid || "(none)"}`,
    ` · ${outcome}`,
  );
  log.prepend(li);
  while (log.children.length > MAX_LOG) log.lastElementChild.remove();
}

const REPLAY_ROWS = {
  owner: "The page, with its key",
  bearer: "The thief, as Bearer, no proof",
  "other-key": "The thief, as DPoP, proof signed by another key",
};

/** attempts: [{ kind, result }] of the stolen-token replay; outcome for the test and styling. */
export function renderReplay(attempts, outcome, summary) {
  const list = byId("dpop-replay-result");
  list.dataset.outcome = outcome;
  list.replaceChildren(
    ...attempts.map(({ kind, result }) => {
      const body = result.body || {};
      return el(
        "li",
        {
          "data-attempt": kind,
          "data-status": result.status,
          "data-challenge": result.challenge || "",
          class: (kind === "owner" ? result.ok : result.status === 401) ? "good" : "bad",
        },
        el("strong", {}, `${REPLAY_ROWS[kind]}: ${statusLine(result.status)}`),
        el("p", { class: "plain" }, explainReplay(kind, result)),
        el(
          "dl",
          { class: "wire" },
          ...entry("Sent", el("code", {}, `${result.method} ${result.path}`), ` with Authorization: ${result.scheme}`),
          ...entry("WWW-Authenticate", el("code", {}, result.challenge || "(none)")),
          ...entry("error", el("code", {}, body.error || "(none)")),
          ...entry("error_description", body.error_description || "(none)"),
          ...entry("Served by", result.servedBy || "(no X-Served-By)"),
        ),
      );
    }),
  );
  const line = byId("dpop-replay-summary");
  line.textContent = summary;
  line.dataset.outcome = outcome === "refused" ? "ok" : "failed";
}

export function clearReplay() {
  const list = byId("dpop-replay-result");
  delete list.dataset.outcome;
  list.replaceChildren();
  const line = byId("dpop-replay-summary");
  delete line.dataset.outcome;
  line.textContent = "";
}

export function clearOrders() {
  byId("orders").replaceChildren();
  byId("orders-meta").textContent = "";
}

export function renderOrders(result) {
  const body = result.body || {};
  const items = Array.isArray(body.items) ? body.items : [];
  byId("orders").replaceChildren(
    ...items.map((order) =>
      el(
        "li",
        { "data-order-id": order.id },
        el("span", { class: "mono" }, order.id),
        ` · ${itemsText(order.items)} · ${order.status} · `,
        timeEl(order.created_at),
      ),
    ),
  );
  byId("orders-meta").textContent =
    `${items.length === 0 ? "No orders yet." : `${items.length} shown.`} ` +
    `Listed by ${result.servedBy || "(unknown)"}, token verified with kid ${result.kid || "(none)"}.`;
}

let knownNotifications = new Set();

export function clearNotifications() {
  knownNotifications = new Set();
  byId("notifications").replaceChildren();
  byId("notifications-news").textContent = "";
}

/** Re-renders only when something changed, and announces just the new arrivals, so a
 * screen reader is not read the whole list every second. */
export function renderNotifications(items) {
  const list = byId("notifications");
  const fresh = items.filter((n) => !knownNotifications.has(n.id));
  const sameIds = list.children.length === items.length && fresh.length === 0;
  if (sameIds) return;
  knownNotifications = new Set(items.map((n) => n.id));
  list.replaceChildren(
    ...items.map((n) =>
      el(
        "li",
        { "data-notification-id": n.id, "data-kind": n.kind },
        el("span", { class: "message" }, n.message || n.kind),
        el("span", { class: "aside" }, ` · ${n.kind} from ${n.source || "?"} · `),
        timeEl(n.created_at),
      ),
    ),
  );
  if (fresh.length > 0) {
    byId("notifications-news").textContent =
      fresh.length === 1 ? `New notification: ${fresh[0].message || fresh[0].kind}` : `${fresh.length} new notifications`;
  }
}

export function clearSessions() {
  byId("sessions").replaceChildren();
}

export function renderSessions(sessions) {
  byId("sessions").replaceChildren(
    ...sessions.map((s, index) => {
      const describedBy = `session-desc-${index}`;
      return el(
        "li",
        { "data-session-id": s.id, "data-current": s.current ? "true" : "false", class: s.current ? "current" : "" },
        el(
          "p",
          { id: describedBy },
          el("strong", {}, s.current ? "This browser's session" : "Another session"),
          el("span", { class: "mono" }, ` ${s.id}`),
        ),
        el(
          "p",
          { class: "aside" },
          `client ${s.client_id} · started `,
          timeEl(s.created_at),
          " · last seen ",
          timeEl(s.last_seen_at),
          " · expires ",
          timeEl(s.expires_at),
        ),
        el("p", { class: "aside" }, `user agent: ${s.user_agent || "(none)"}`),
        el("button", { type: "button", class: "end-session", "aria-describedby": describedBy }, "End this session"),
      );
    }),
  );
}

const KEY_COLUMNS = ["created_at", "activate_after", "activated_at", "retired_at", "remove_after"];

/** result: GET /v1/keys; tokenKid: the kid of the signed-in token, to point at its key. */
export function renderKeys(result, tokenKid) {
  const body = (result && result.ok && result.body) || {};
  const keys = Array.isArray(body.keys) ? body.keys : [];
  byId("keys")
    .querySelector("tbody")
    .replaceChildren(
      ...keys.map((key) =>
        el(
          "tr",
          { "data-kid": key.kid, "data-state": key.state },
          el("th", { scope: "row", class: "mono" }, key.kid),
          el("td", {}, el("span", { class: `state state-${key.state}` }, key.state)),
          ...KEY_COLUMNS.map((column) => el("td", {}, timeEl(key[column]))),
        ),
      ),
    );
  markTokenKey(tokenKid);
  const meta = byId("keys-meta");
  if (!result || !result.ok) {
    meta.textContent = "The key list could not be loaded (see the last failure).";
    return;
  }
  const next = body.next_rotation_at ? new Date(body.next_rotation_at).toLocaleString() : "none scheduled";
  meta.textContent = `${keys.length} keys. Verifiers may cache the JWKS for ${body.jwks_max_age} s. Next rotation: ${next}.`;
}

/** Points at the key that signed the signed-in token (the key list and the token load
 * independently, so either may arrive first). */
export function markTokenKey(kid) {
  for (const row of byId("keys").querySelectorAll("tr[data-kid]")) {
    const mine = kid !== null && row.dataset.kid === kid;
    row.classList.toggle("mine", mine);
    const cell = row.querySelector("th");
    const tag = cell.querySelector(".tag");
    if (mine && !tag) cell.append(el("span", { class: "tag" }, "your token"));
    if (!mine && tag) tag.remove();
  }
}

export function renderJwks(result) {
  const headers = result.headers;
  byId("jwks-cache-control").textContent = (headers && headers.get("Cache-Control")) || "(none)";
  byId("jwks-etag").textContent = (headers && headers.get("ETag")) || "(none)";
  const keys = result.ok && result.body && Array.isArray(result.body.keys) ? result.body.keys : [];
  byId("jwks-kids").textContent = result.ok
    ? keys.map((k) => `${k.kid} (${k.kty} ${k.alg || ""})`.replace(" )", ")")).join(", ") || "(none)"
    : `not loaded: ${statusLine(result.status)}`;
}
