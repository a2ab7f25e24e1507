// Small DOM helpers. Everything from the network goes in as text nodes (append with a
// string, or textContent), never as HTML, so a hostile value cannot inject markup.

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** el("li", { "data-id": 1 }, "text", childNode): attributes are set as strings. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function toDate(value) {
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A <time> for an RFC 3339 string or unix seconds, in the reader's local time. */
export function timeEl(value) {
  if (value === null || value === undefined || value === "") return el("span", {}, "–");
  const date = toDate(value);
  if (!date) return el("span", {}, String(value));
  return el("time", { datetime: date.toISOString() }, date.toLocaleString());
}

/** "in 4 min 10 s" / "2 min ago", for expiries. */
export function relative(value) {
  const date = toDate(value);
  if (!date) return "";
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const size = Math.abs(seconds);
  const text = size >= 60 ? `${Math.floor(size / 60)} min ${size % 60} s` : `${size} s`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

/** A <dl> row pair. */
export function entry(term, ...description) {
  return [el("dt", {}, term), el("dd", {}, ...description)];
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}
