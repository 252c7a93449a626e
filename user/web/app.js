// llmtap dashboard: a single page over the daemon's JSON API, with hash
// routes (#/overview, #/requests?user=bob, #/session/ID ...). No
// framework and nothing from another origin: the daemon's CSP allows
// 'self' alone, so every element is built here, never from HTML text.
"use strict";

const REFRESH_MS = 5000;
// Each window of the selector: live metrics window, series step (s).
const RANGES = { "10m": 10, "1h": 60, "1d": 900 };
const BY_KEYS = ["model", "provider", "process", "exe", "user_id",
  "user", "session", "container"];

const state = { range: "1h", timer: null, calls: [] };

// ---- small helpers -------------------------------------------------

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

function usd(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "$0";
  return "$" + (Math.abs(v) < 0.01 ? v.toFixed(6) : v.toFixed(4));
}

function num(v) {
  if (v === null || v === undefined) return "–";
  return Number(v).toLocaleString("en-US");
}

function pct(v) {
  return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%";
}

function ms(v) {
  if (v === null || v === undefined) return "–";
  return v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(1) + " ms";
}

function when(ts) {
  return ts ? ts.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–";
}

// The daemon's API token (--api-token), when it has one: given once as
// #token=TOKEN, kept for this tab only, and sent as a header.
const TOKEN_KEY = "llmtap-token";

function takeToken() {
  const m = location.hash.match(/^#token=([^&]*)/);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  // Out of the address bar and the history.
  history.replaceState(null, "", location.pathname + location.search +
    "#/");
}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { cache: "no-store", headers });
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const err = new Error((body && body.error) || r.statusText);
    err.status = r.status;
    throw err;
  }
  return body;
}

function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj))
    if (v !== "" && v !== null && v !== undefined) p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

function notice(text) {
  return h("p", { class: "notice" }, text);
}

// A store answer, or a notice when the daemon runs without one.
async function stored(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.status === 503) return { missing: notice(
      "No call store: the daemon runs with --no-db.") };
    throw e;
  }
}

function table(cols, rows, onclick, rowClass) {
  const head = h("tr", null, cols.map((c) =>
    h("th", { class: c.num ? "num" : null }, c.title)));
  const body = rows.map((row, i) => h("tr", {
    class: [onclick ? "link" : "", rowClass ? rowClass(row) : ""]
      .join(" ").trim() || null,
    onclick: onclick ? () => onclick(row, i) : null,
  }, cols.map((c) => h("td", { class: c.num ? "num" : null },
    c.get(row)))));
  return h("table", null, h("thead", null, head),
    h("tbody", null, body));
}

function card(label, id, value, cls) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label),
    h("div", { class: "value " + (cls || ""), id }, value));
}

function kv(pairs) {
  return h("table", { class: "kv" }, h("tbody", null, pairs.map(
    ([k, v]) => h("tr", null, h("td", null, k), h("td", null, v)))));
}

function bar(frac) {
  const el = h("span", { class: "bar" });
  el.style.width = Math.max(1, Math.round(120 * (frac || 0))) + "px";
  return el;
}

// ---- charts: a line over time on a canvas ---------------------------

function drawChart(canvas, points, key, fmt, color) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, hgt = canvas.clientHeight || 170;
  canvas.width = w * dpr;
  canvas.height = hgt * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  const pad = { l: 64, r: 10, t: 10, b: 22 };
  const vals = points.map((p) => p[key]);
  const max = Math.max(0, ...vals.filter((v) => v !== null)) || 1;
  const x = (i) => pad.l + (w - pad.l - pad.r) * i /
    Math.max(1, points.length - 1);
  const y = (v) => hgt - pad.b - (hgt - pad.t - pad.b) * v / max;

  g.fillStyle = "#ffffff";
  g.fillRect(0, 0, w, hgt);
  g.strokeStyle = "#dde2ec";
  g.fillStyle = "#6b7385";
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = max * k / 4;
    g.beginPath();
    g.moveTo(pad.l, y(v) + 0.5);
    g.lineTo(w - pad.r, y(v) + 0.5);
    g.stroke();
    g.textAlign = "right";
    g.fillText(fmt(v), pad.l - 6, y(v) + 4);
  }
  const ticks = [[0, "left"], [Math.floor(points.length / 2), "center"],
    [points.length - 1, "right"]];
  for (const [i, align] of ticks) {
    if (!points[i]) continue;
    const d = new Date(points[i].t * 1000);
    g.textAlign = align;
    g.fillText(d.toISOString().slice(11, 16), x(i), hgt - 6);
  }
  if (!points.length) return;

  // The area under the line, then the line; null values are gaps.
  g.fillStyle = color + "33";
  g.beginPath();
  g.moveTo(x(0), y(0));
  vals.forEach((v, i) => g.lineTo(x(i), y(v || 0)));
  g.lineTo(x(vals.length - 1), y(0));
  g.fill();
  g.strokeStyle = color;
  g.lineWidth = 2;
  g.beginPath();
  let pen = false;
  vals.forEach((v, i) => {
    if (v === null) { pen = false; return; }
    if (pen) g.lineTo(x(i), y(v)); else g.moveTo(x(i), y(v));
    pen = true;
  });
  g.stroke();
}

// Axis labels: whole numbers as they are, others with one decimal.
function count(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function chart(title, points, key, fmt, color) {
  const canvas = h("canvas", { id: "chart-" + key });
  const el = h("div", { class: "panel chart" }, h("h3", null, title),
    canvas);
  // Drawn once laid out, when the canvas has its size.
  requestAnimationFrame(() => drawChart(canvas, points, key, fmt, color));
  return el;
}

// ---- pages -----------------------------------------------------------

function liveTotal(range) {
  return api("/api/v1/metrics" + qs({ window: range }))
    .then((m) => m.groups[0] || { requests: 0, errors: 0, cost_usd: 0,
      input_tokens: 0, output_tokens: 0, error_rate: 0,
      latency_ms: null });
}

async function pageOverview(main) {
  const range = state.range;
  const [t, series, users] = await Promise.all([
    liveTotal(range),
    stored("/api/v1/timeseries" + qs({ window: range,
      step: RANGES[range] })),
    stored("/api/v1/users" + qs({ since: range, top: 5 })),
  ]);
  const tokens = (t.input_tokens || 0) + (t.output_tokens || 0);
  const top = users.users && users.users[0];
  const cards = h("div", { class: "cards" },
    card("Requests", "total-requests", num(t.requests)),
    card("Errors", "total-errors", num(t.errors),
      t.errors ? "bad" : ""),
    card("Error rate", "error-rate", pct(t.error_rate)),
    card("Cost", "total-cost", usd(t.cost_usd)),
    card("Tokens", "total-tokens", num(tokens)),
    card("p95 latency", "p95-latency",
      ms(t.latency_ms && t.latency_ms.p95)),
    card("Top user (cost)", "top-user", top ? (top.user_id === null ?
      "(none)" : top.user_id) : "–", "small"));
  const kids = [h("h2", null, "Last " + range + " (live)"), cards];

  if (series.missing) {
    kids.push(series.missing);
  } else {
    const p = series.points;
    const tok = p.map((q) => Object.assign({}, q,
      { tokens: q.input_tokens + q.output_tokens }));
    kids.push(h("div", { class: "charts" },
      chart("Requests per step", p, "requests", count,
        "#2f6fdf"),
      chart("Error rate", p, "error_rate", (v) => pct(v), "#d64545"),
      chart("Cost (USD)", p, "cost_usd", (v) => "$" + v.toPrecision(2),
        "#2b9a5b"),
      chart("Tokens", tok, "tokens", count, "#8a56d8"),
      chart("p95 latency (ms)", p, "p95_ms", (v) => v.toFixed(0),
        "#e08a1e")));
  }
  if (users.users) {
    kids.push(h("h2", null, "Top users"), usersTable(users.users));
  }
  main.replaceChildren(...kids);
}

function metricsCols(first) {
  return [
    { title: first, get: (g) => g.group === null ? "(none)" : g.group },
    { title: "requests", num: 1, get: (g) => num(g.requests) },
    { title: "errors", num: 1, get: (g) => num(g.errors) },
    { title: "error rate", num: 1, get: (g) => pct(g.error_rate) },
    { title: "input tok", num: 1, get: (g) => num(g.input_tokens) },
    { title: "output tok", num: 1, get: (g) => num(g.output_tokens) },
    { title: "cost", num: 1, get: (g) => usd(g.cost_usd) },
    { title: "p50", num: 1, get: (g) => ms(g.latency_ms &&
      g.latency_ms.p50) },
    { title: "p95", num: 1, get: (g) => ms(g.latency_ms &&
      g.latency_ms.p95) },
  ];
}

async function pageBreakdown(main, params) {
  const by = params.get("by") || "model";
  const prop = by.startsWith("property:") ? by.slice(9) : "";
  const m = await api("/api/v1/metrics" + qs({ by, window: state.range }));
  const maxCost = Math.max(0, ...m.groups.map((g) => g.cost_usd || 0));
  const cols = metricsCols(by);
  cols.splice(7, 0, { title: "share", get: (g) =>
    bar(maxCost ? (g.cost_usd || 0) / maxCost : 0) });
  const sel = h("select", { id: "by" }, BY_KEYS.map((k) =>
    h("option", { value: k, selected: k === by ? "" : null }, k)));
  const propIn = h("input", { id: "by-property", placeholder:
    "property name", value: prop });
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const v = propIn.value.trim();
    location.hash = "#/breakdown" + qs({ by: v ? "property:" + v :
      sel.value });
  } }, "group by ", sel, " or property ", propIn,
  h("button", { type: "submit" }, "Show"));
  sel.addEventListener("change", () => { propIn.value = ""; });
  main.replaceChildren(h("h2", null, "By " + by + ", last " +
    state.range + " (live)"), form, table(cols, m.groups));
}

function usersTable(users, os) {
  const cols = [
    { title: "user", get: (u) => os ? (u.user || u.uid) :
      (u.user_id === null ? "(none)" : u.user_id) },
    { title: "requests", num: 1, get: (u) => num(u.requests) },
    { title: "errors", num: 1, get: (u) => num(u.errors) },
    { title: "error rate", num: 1, get: (u) => pct(u.error_rate) },
    { title: "cost", num: 1, get: (u) => usd(u.cost_usd) },
    { title: "tokens", num: 1, get: (u) => num(u.total_tokens) },
    { title: "active days", num: 1, get: (u) => num(u.active_days) },
    { title: "cost / day", num: 1, get: (u) =>
      usd(u.cost_per_active_day) },
    { title: "last seen", get: (u) => when(u.last_seen) },
  ];
  return table(cols, users, os ? null : (u) => {
    location.hash = "#/requests" + qs({ user: u.user_id });
  }, (u) => u.errors ? "error" : "");
}

async function pageUsers(main, params) {
  const os = params.get("os") === "1";
  const u = await stored("/api/v1/users" + qs({ top: 200,
    os: os ? 1 : "" }));
  if (u.missing) return main.replaceChildren(u.missing);
  const toggle = h("a", { href: os ? "#/users" : "#/users?os=1" },
    os ? "by user id" : "by OS user");
  main.replaceChildren(h("h2", null, "Users (stored, costliest first) "),
    h("p", null, toggle), usersTable(u.users, os));
}

async function pageSessions(main) {
  const s = await stored("/api/v1/sessions?top=200");
  if (s.missing) return main.replaceChildren(s.missing);
  const cols = [
    { title: "session", get: (x) => x.id },
    { title: "name", get: (x) => x.name || "" },
    { title: "inferred", get: (x) => x.inferred ? "yes" : "" },
    { title: "user", get: (x) => x.user_id || "" },
    { title: "requests", num: 1, get: (x) => num(x.requests) },
    { title: "cost", num: 1, get: (x) => usd(x.cost_usd) },
    { title: "duration", num: 1, get: (x) => ms(x.duration_ms) },
    { title: "ok", get: (x) => x.success ? "✓" : "✗" },
    { title: "started", get: (x) => when(x.first_seen) },
  ];
  main.replaceChildren(h("h2", null, "Sessions (newest first)"),
    table(cols, s.sessions, (x) => {
      location.hash = "#/session/" + encodeURIComponent(x.id);
    }, (x) => x.success ? "" : "error"));
}

function treeNode(n) {
  const calls = (n.calls || []).map((c) => h("li", null,
    h("span", { class: c.error_type || c.status >= 400 ? "bad" :
      "muted" }, when(c.ts) + "  " + (c.model || "") + "  " +
      c.status + "  " + usd(c.cost_usd) + "  " + ms(c.duration_ms))));
  return h("li", null,
    h("span", { class: "node" }, h("span", { class: "name" },
      n.name || "/"),
    h("span", null, num(n.requests) + " calls"),
    h("span", null, "cost " + usd(n.cost_usd)),
    h("span", null, "latency " + ms(n.duration_ms)),
    h("span", { class: "muted" }, "subtree " +
      num(n.total_requests) + " calls, " + usd(n.total_cost_usd))),
    h("ul", null, calls, (n.children || []).map(treeNode)));
}

async function pageSession(main, params, id) {
  const s = await stored("/api/v1/sessions/" + encodeURIComponent(id));
  if (s.missing) return main.replaceChildren(s.missing);
  main.replaceChildren(h("h2", null, "Session " + id),
    kv([["name", s.name || "–"], ["user", s.user_id || "–"],
      ["inferred", s.inferred ? "yes" : "no"],
      ["requests", num(s.requests)], ["cost", usd(s.cost_usd)],
      ["duration", ms(s.duration_ms)],
      ["success", s.success ? "yes" : "no"]]),
    h("h2", null, "Steps"),
    h("div", { class: "tree", id: "session-tree" },
      h("ul", null, treeNode(s.tree))),
    h("p", null, h("a", { href: "#/requests" + qs({ session: id }) },
      "this session's requests")));
}

const CALL_FILTERS = ["user", "session", "model", "provider", "process",
  "since"];
const PAGE_SIZE = 50;

function callCols() {
  return [
    { title: "time", get: (c) => when(c.ts) },
    { title: "process", get: (c) => c.process.comm + " " +
      c.process.pid },
    { title: "provider", get: (c) => c.provider },
    { title: "model", get: (c) => c.model || "" },
    { title: "status", num: 1, get: (c) => c.http.status },
    { title: "in", num: 1, get: (c) => num(c.usage &&
      c.usage.input_tokens) },
    { title: "out", num: 1, get: (c) => num(c.usage &&
      c.usage.output_tokens) },
    { title: "cost", num: 1, get: (c) => usd(c.cost_usd) },
    { title: "duration", num: 1, get: (c) => ms(c.duration_ms) },
    { title: "user", get: (c) => c.user_id || "" },
    { title: "error", get: (c) => c.error ? c.error.type :
      (c.incomplete ? "incomplete" : "") },
  ];
}

function isError(c) {
  return c.error || c.http.status >= 400;
}

async function pageRequests(main, params) {
  const f = {};
  for (const k of CALL_FILTERS) f[k] = params.get(k) || "";
  const offset = Number(params.get("offset") || 0);
  const r = await stored("/api/v1/calls" + qs(Object.assign({
    limit: PAGE_SIZE, offset: offset || "" }, f)));
  if (r.missing) return main.replaceChildren(r.missing);
  state.calls = r.calls;
  const inputs = CALL_FILTERS.map((k) => h("input", { name: k,
    placeholder: k === "since" ? "since (15m, 2h)" : k, value: f[k] }));
  const go = (off) => {
    const q = {};
    inputs.forEach((i) => { q[i.name] = i.value.trim(); });
    q.offset = off || "";
    location.hash = "#/requests" + qs(q);
  };
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault(); go(0);
  } }, inputs, h("button", { type: "submit" }, "Filter"));
  const pager = h("p", null,
    offset ? h("button", { onclick: () => go(Math.max(0,
      offset - PAGE_SIZE)) }, "newer") : null, " ",
    offset + r.calls.length < r.total ? h("button", { onclick: () =>
      go(offset + PAGE_SIZE) }, "older") : null,
    h("span", { class: "muted", id: "calls-total" }, " " +
      (r.total ? offset + 1 : 0) + "–" + (offset + r.calls.length) +
      " of " + num(r.total)));
  main.replaceChildren(h("h2", null, "Requests (newest first)"), form,
    table(callCols(), r.calls, (c, i) => {
      location.hash = "#/request/" + i;
    }, (c) => isError(c) ? "error" : ""), pager);
}

function headersTable(hs) {
  if (!hs) return h("p", { class: "muted" },
    "not captured (run the daemon with --bodies)");
  const rows = Array.isArray(hs) ? hs : Object.entries(hs);
  return kv(rows.map((x) => Array.isArray(x) ? x : [x.name, x.value]));
}

function bodyBlock(text, cut) {
  if (text === undefined || text === null)
    return h("p", { class: "muted" },
      "not captured (run the daemon with --bodies)");
  let shown = typeof text === "string" ? text : JSON.stringify(text);
  try { shown = JSON.stringify(JSON.parse(shown), null, 2); } catch (e) {
    // Streams and non-JSON bodies are shown as they came.
  }
  return h("div", null, cut ? h("p", { class: "bad" }, "truncated") :
    null, h("pre", null, shown));
}

async function pageRequest(main, params, idx) {
  // A link opened afresh: the newest page of calls, as listed first.
  if (!state.calls.length) {
    const r = await stored("/api/v1/calls" + qs({ limit: PAGE_SIZE }));
    state.calls = r.calls || [];
  }
  const c = state.calls[Number(idx)];
  if (!c) {
    location.hash = "#/requests";
    return;
  }
  const u = c.usage || {};
  main.replaceChildren(
    h("p", null, h("a", { href: "#/requests" }, "← requests")),
    h("h2", null, (c.model || "call") + " at " + when(c.ts)),
    kv([["process", c.process.comm + " (pid " + c.process.pid +
      ", " + (c.process.exe || "") + ", user " + c.process.user + ")"],
    ["http", c.http.method + " " + c.http.host + c.http.path +
      " → " + c.http.status + " (HTTP/" + c.http.version + ")"],
    ["provider / operation", c.provider + " / " + c.operation],
    ["model / response model", (c.model || "–") + " / " +
      (c.response_model || "–")],
    ["tokens in / out / cached", num(u.input_tokens) + " / " +
      num(u.output_tokens) + " / " + num(u.cached_input_tokens)],
    ["cost", usd(c.cost_usd)],
    ["duration / ttft", ms(c.duration_ms) + " / " + ms(c.ttft_ms)],
    ["user", c.user_id || "–"],
    ["session", c.session ? c.session.id + " " + (c.session.path ||
      "") : "–"],
    ["request id", c.request_id || "–"],
    ["error", c.error ? c.error.type + ": " + c.error.message : "–"],
    ["incomplete", c.incomplete ? (c.incomplete_reason || "yes") :
      "no"]]),
    h("h2", null, "Request headers (redacted)"),
    headersTable(c.request_headers),
    h("h2", null, "Request body"),
    bodyBlock(c.request_body, c.request_body_truncated),
    h("h2", null, "Response headers (redacted)"),
    headersTable(c.response_headers),
    h("h2", null, "Response body"),
    bodyBlock(c.response_body, c.response_body_truncated),
    h("h2", null, "Record"), h("pre", null, JSON.stringify(c, null, 2)));
}

async function pageCache(main) {
  const c = await stored("/api/v1/cache");
  if (c.missing) return main.replaceChildren(c.missing);
  const rep = c.repeats || {};
  const models = c.by_model || [];
  const modelCols = Object.keys(models[0] || {}).map((k) => ({
    title: k, num: typeof models[0][k] === "number",
    get: (row) => typeof row[k] === "number" ? (/usd/.test(k) ?
      usd(row[k]) : /rate/.test(k) ? pct(row[k]) : num(row[k])) :
      row[k] === null ? "–" : String(row[k]) }));
  const topCols = Object.keys((rep.top || [])[0] || {}).map((k) => ({
    title: k, get: (row) => typeof row[k] === "number" && /usd/.test(k) ?
      usd(row[k]) : row[k] === null ? "–" : String(row[k]) }));
  main.replaceChildren(h("h2", null, "Prompt cache"),
    h("div", { class: "cards" },
      card("Hit rate", "cache-hit-rate", pct(c.hit_rate)),
      card("Cached input tokens", "cache-tokens",
        num(c.cached_input_tokens)),
      card("Saved", "cache-saved", usd(c.saved_usd))),
    h("h2", null, "By model"),
    models.length ? table(modelCols, models) : h("p", { class: "muted" },
      "no calls"),
    h("h2", null, "Exact repeats (response cache of " +
      num(rep.ttl_s) + " s)"),
    h("div", { class: "cards" },
      card("Repeats", "cache-repeats", num(rep.repeats)),
      card("Repeat rate", "cache-repeat-rate", pct(rep.repeat_rate)),
      card("Would save", "cache-repeat-saved", usd(rep.saved_usd))),
    (rep.top || []).length ? table(topCols, rep.top) : null);
}

function flat(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === "object" && !Array.isArray(v))
      flat(v, prefix + k + ".", out);
    else out.push([prefix + k, Array.isArray(v) ? v.join(", ") :
      String(v)]);
  }
  return out;
}

async function pageHealth(main) {
  const hz = await api("/healthz");
  const losses = hz.losses || {};
  const lost = Object.values(losses).some((v) => v > 0);
  const kids = [h("h2", null, "Capture health"),
    h("div", { class: "cards" },
      card("Status", "health-status", hz.status,
        hz.status === "ok" ? "good" : "bad"),
      card("Uptime", "health-uptime", num(hz.uptime_s) + " s"),
      card("Calls seen", "health-calls", num(hz.calls)),
      card("Losses", "health-losses", lost ? "yes" : "none",
        lost ? "bad" : "good")),
    h("h2", null, "Details"), kv(flat(hz, "", []))];
  if (Array.isArray(hz.targets)) {
    kids.push(h("h2", null, "Attached targets"), table(
      Object.keys(hz.targets[0] || {}).map((k) => ({ title: k,
        get: (t) => String(t[k]) })), hz.targets));
  }
  main.replaceChildren(...kids);
}

async function pageAlerts(main) {
  let a;
  try {
    a = await api("/api/v1/alerts");
  } catch (e) {
    if (e.status === 404 || e.status === 503) {
      return main.replaceChildren(h("h2", null, "Alerts"),
        h("p", { class: "notice", id: "alerts-none" },
          "No alerts configured."));
    }
    throw e;
  }
  const list = Array.isArray(a) ? a : (a.alerts || a.rules || []);
  if (!list.length) {
    return main.replaceChildren(h("h2", null, "Alerts"),
      h("p", { class: "notice", id: "alerts-none" },
        "No alerts configured."));
  }
  const keys = [...new Set(list.flatMap((x) => Object.keys(x)))];
  main.replaceChildren(h("h2", null, "Alerts"), table(keys.map((k) => ({
    title: k, get: (x) => x[k] === null || x[k] === undefined ? "" :
      typeof x[k] === "object" ? JSON.stringify(x[k]) : String(x[k]) })),
  list));
}

// ---- routing ---------------------------------------------------------

const PAGES = {
  overview: pageOverview, breakdown: pageBreakdown, users: pageUsers,
  sessions: pageSessions, session: pageSession, requests: pageRequests,
  request: pageRequest, cache: pageCache, health: pageHealth,
  alerts: pageAlerts,
};
// Pages that follow live data on their own.
const LIVE = new Set(["overview", "breakdown", "health"]);

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const [path, query] = hash.split("?");
  const [name, ...rest] = path.split("/");
  const page = PAGES[name] ? name : "overview";
  return { page, arg: decodeURIComponent(rest.join("/")),
    params: new URLSearchParams(query || "") };
}

async function render() {
  const r = route();
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll("#nav a")) {
    const p = a.dataset.page;
    a.classList.toggle("active", p === r.page ||
      (p + "s" === r.page) || (r.page === p.replace(/s$/, "")));
  }
  clearTimeout(state.timer);
  try {
    await PAGES[r.page](main, r.params, r.arg);
    document.getElementById("status").textContent = "updated " +
      new Date().toISOString().slice(11, 19) + " UTC";
  } catch (e) {
    main.replaceChildren(notice(e.status === 401 ?
      "This daemon wants its API token: open /#token=TOKEN once." :
      "Cannot load this page: " + e.message));
  }
  if (LIVE.has(r.page)) {
    state.timer = setTimeout(() => {
      // A person typing in a form is not interrupted.
      if (!document.activeElement ||
        document.activeElement.tagName !== "INPUT") render();
      else state.timer = setTimeout(render, REFRESH_MS);
    }, REFRESH_MS);
  }
}

function start() {
  takeToken();
  const sel = document.getElementById("range");
  sel.value = state.range;
  sel.addEventListener("change", () => {
    state.range = sel.value;
    render();
  });
  window.addEventListener("hashchange", render);
  render();
}

document.addEventListener("DOMContentLoaded", start);
