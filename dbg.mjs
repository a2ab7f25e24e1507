const D = "http://127.0.0.1:18432";
const r = await fetch(D + "/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ capabilities: { alwaysMatch: { browserName: "chrome", "goog:chromeOptions": { binary: "/usr/bin/chromium", args: ["--headless=new", "--no-sandbox"] } } } }) });
const s = (await r.json()).value;
console.log(Object.keys(s));
const S = D + "/session/" + s.sessionId;
await fetch(S + "/url", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ url: "http://127.0.0.1:18431/" }) });
const e = await (await fetch(S + "/element", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ using: "css selector", value: "#mode-dpop" }) })).json();
console.log(JSON.stringify(e));
await fetch(S, { method: "DELETE" });
