// urumi's dashboard: a view of the /v1 API for store owners and admins.
// No framework and no build step; every value from the server goes into
// the page as text (textContent, attributes), never as markup.
"use strict";

const tokenKey = "urumi.token";
const busy = new Set(["QUEUED", "PROVISIONING", "UPGRADING", "DELETING"]);
const $ = (id) => document.getElementById(id);
const svgNS = "http://www.w3.org/2000/svg";

// Lists show a page, and one more for each press of More; refreshes
// reload as many pages as are shown.
const pageSize = 100;

let me = null; // {name, admin} of the signed-in token
let timer = null;
let pagesShown = 1; // of the owner's store list
let fleetPages = 1;
let fleetFilter = {};
let queueSamples = []; // [time, depth] while the metrics view is open
let drawing = 0; // the latest refresh: an older one that ends after it is dropped

// api calls the API with the tab's token. It resolves to the parsed body,
// or throws an Error carrying the API's own message and status.
async function api(method, path, body) {
  return (await call(method, path, body)).data;
}

// call is api that also returns the next page's token of a list (null on
// the last page).
async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(tokenKey) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("the server did not answer: " + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = new Error(data && data.error ? data.error.message : `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.code = data && data.error ? data.error.code : "";
    throw err;
  }
  return { data, next: res.headers.get("Urumi-Continue") };
}

// pages reads up to n pages of a list, following its continue tokens.
async function pages(path, n) {
  const items = [];
  let next = null;
  for (let i = 0; i < n; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await call("GET", next ? `${path}${sep}continue=${encodeURIComponent(next)}` : path);
    items.push(...page.data);
    next = page.next;
    if (!next) break;
  }
  return { items, next };
}

let fade = null;

// show puts a message above the page: an error stays until the next one,
// a note ("info") fades after a few seconds.
function show(msg, kind) {
  const m = $("message");
  clearTimeout(fade);
  m.textContent = msg;
  m.className = kind || "";
  m.hidden = !msg;
  if (msg && kind === "info") fade = setTimeout(() => { m.hidden = true; }, 8000);
}

function signedIn(who) {
  me = who;
  const yes = who !== null;
  $("signin").hidden = yes;
  $("nav").hidden = !yes;
  $("signout").hidden = !yes;
  $("who").hidden = !yes;
  $("who").textContent = yes ? who.name + (who.admin ? " (admin)" : "") : "";
  for (const el of document.querySelectorAll(".admin-only")) el.hidden = !(yes && who.admin);
  if (!yes) {
    clearTimeout(timer);
    sessionStorage.removeItem(tokenKey);
    for (const v of document.querySelectorAll(".view")) v.hidden = true;
    hideSecret();
  }
}

// failed handles an API error: a token that no longer works signs out.
function failed(err) {
  if (err.status === 401) {
    signedIn(null);
    show("Your token was not accepted: " + err.message);
    return;
  }
  show(err.message);
}

// el makes an element with text (or children) and a class.
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  if (text !== undefined) td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(label, title, onClick, secondary) {
  const b = el("button", label, secondary ? "secondary" : "");
  b.type = "button";
  b.title = title;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (e) { failed(e); } finally { b.disabled = false; }
  });
  return b;
}

function badge(status) {
  return el("span", status, "status status-" + status);
}

function when(t) {
  return t ? new Date(t).toLocaleString() : "";
}

function ms(n) {
  if (n < 1000) return n + " ms";
  if (n < 60000) return (n / 1000).toFixed(1) + " s";
  return (n / 60000).toFixed(1) + " min";
}

// storeLink links a store's name to its page.
function storeLink(name) {
  const a = el("a", name);
  a.href = "#/stores/" + encodeURIComponent(name);
  return a;
}

// address links a store's URL while it serves (a DEGRADED store still does).
function address(s) {
  if (!s.url || (s.status !== "READY" && s.status !== "DEGRADED")) return null;
  const a = el("a", s.url);
  a.href = s.url;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  return a;
}

// planDescription is the operator's description of a plan, from the page.
function planDescription(name) {
  for (const o of $("plan").options) {
    if (o.value === name) return o.dataset.description;
  }
  return "";
}

// ---- the owner's stores ----

function renderStores(stores) {
  const body = $("store-table").tBodies[0];
  body.replaceChildren();
  $("empty").hidden = stores.length > 0;
  $("store-table").hidden = stores.length === 0;
  for (const s of stores) {
    const row = body.insertRow();
    row.dataset.store = s.name;
    cell(row).append(storeLink(s.name));
    cell(row, s.plan).title = planDescription(s.plan);
    const st = cell(row);
    st.append(badge(s.status));
    if (s.error) st.append(el("span", s.error, "error"));
    const a = address(s);
    const addr = cell(row);
    if (a) addr.append(a);
    cell(row, when(s.createdAt));
    const actions = cell(row, undefined, "actions");
    if (s.status === "FAILED") actions.append(retryButton(s));
    if (s.status !== "DELETING") actions.append(deleteButton(s));
  }
}

function retryButton(s) {
  return button("Retry", "Provision " + s.name + " again from where it stopped", async () => {
    await api("POST", `/v1/stores/${encodeURIComponent(s.name)}/retry`, {});
    show(`Retrying ${s.name}.`, "info");
    await refresh();
  });
}

function deleteButton(s) {
  return button("Delete", "Delete " + s.name + " and everything in it", async () => {
    if (!confirm(`Delete ${s.name}? Its shop, database and files are removed for good.`)) return;
    await api("DELETE", `/v1/stores/${encodeURIComponent(s.name)}`);
    show(`Deleting ${s.name}.`, "info");
    await refresh();
  }, true);
}

async function showStores(r, current) {
  const [list, quota] = await Promise.all([
    pages(`/v1/stores?limit=${pageSize}`, pagesShown),
    api("GET", "/v1/quotas/" + encodeURIComponent(me.name)),
  ]);
  if (!current()) return false;
  renderStores(list.items);
  $("more").hidden = !list.next;
  $("quota").textContent = `You have ${quota.used} of ${quota.maxStores} stores.`;
  return list.items.some((s) => busy.has(s.status));
}

// ---- one store ----

let secretFor = null;

function hideSecret() {
  $("secret").hidden = true;
  $("secret-user").textContent = "";
  $("secret-password").textContent = "";
  secretFor = null;
}

function showSecret(name, creds) {
  $("secret-user").textContent = creds.username;
  $("secret-password").textContent = creds.password;
  $("secret").hidden = false;
  secretFor = name;
}

// credentialsAction calls the reveal or reset route; a server without it
// says so plainly.
async function credentialsAction(name, what) {
  try {
    return await api("POST", `/v1/stores/${encodeURIComponent(name)}/${what}`, {});
  } catch (e) {
    if (e.status === 404 && e.code === "not_found" && e.message.startsWith("no such endpoint")) {
      throw new Error("this server cannot hand over store passwords: it is older than this feature");
    }
    throw e;
  }
}

function storeActions(s) {
  const box = $("store-actions");
  box.replaceChildren();
  const name = encodeURIComponent(s.name);
  const serves = s.status === "READY" || s.status === "DEGRADED";
  if (s.status === "FAILED") box.append(retryButton(s));
  if (serves) {
    box.append(button("Reveal admin password", "Show the WordPress administrator's user and password once (audited)", async () => {
      if (!confirm(`Show the administrator password of ${s.name}? This is written to the audit log.`)) return;
      showSecret(s.name, await credentialsAction(s.name, "credentials"));
      await refresh();
    }, true));
    box.append(button("Reset admin password", "Set a new random administrator password (audited)", async () => {
      if (!confirm(`Set a new administrator password for ${s.name}? The old one stops working.`)) return;
      const r = await credentialsAction(s.name, "reset-password");
      showSecret(s.name, r);
      show(`A new password is being applied to ${s.name}.`, "info");
      await refresh();
    }, true));
  }
  if (serves && s.release && s.release.upgradeAvailable) {
    box.append(button(`Upgrade to ${s.release.upgradeAvailable}`, "Upgrade the store to the chart this server ships", async () => {
      if (!confirm(`Upgrade ${s.name} to ${s.release.upgradeAvailable}? It keeps serving on its current version until the new one is ready.`)) return;
      await api("POST", `/v1/stores/${name}/upgrade`, {});
      show(`Upgrading ${s.name}.`, "info");
      await refresh();
    }));
  }
  if (s.status !== "DELETING") {
    box.append(button("Delete", "Delete " + s.name + " and everything in it", async () => {
      if (!confirm(`Delete ${s.name}? Its shop, database and files are removed for good.`)) return;
      await api("DELETE", `/v1/stores/${name}`);
      show(`Deleting ${s.name}.`, "info");
      await refresh();
    }, true));
  }
}

function fact(dl, term, value) {
  dl.append(el("dt", term));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  dl.append(dd);
}

function renderStore(s) {
  $("store-name").textContent = s.name;
  const st = $("store-status");
  st.replaceChildren(badge(s.status));
  if (s.error && s.status !== "FAILED") st.append(el("span", s.error, "error"));
  const dl = $("store-facts");
  dl.replaceChildren();
  fact(dl, "Address", address(s) || el("span", s.url || "—", "muted"));
  fact(dl, "Owner", s.owner);
  const desc = planDescription(s.plan);
  fact(dl, "Plan", desc ? `${s.plan}: ${desc}` : s.plan);
  const v = (s.release && s.release.versions) || {};
  const versions = [["WordPress", v.wordpress], ["WooCommerce", v.woocommerce], ["MariaDB", v.mariadb], ["chart", v.chart]]
    .filter((p) => p[1]).map((p) => `${p[0]} ${p[1]}`).join(", ");
  fact(dl, "Versions", versions || "not installed yet");
  const lc = s.release && s.release.lastChange;
  if (lc) fact(dl, "Last change", `${lc.kind} ${lc.outcome} (${lc.actor}, ${when(lc.at)})${lc.reason ? ": " + lc.reason : ""}`);
  fact(dl, "Created", when(s.createdAt));
  $("diagnosis").hidden = !(s.status === "FAILED" && s.error);
  $("diagnosis-text").textContent = s.status === "FAILED" ? s.error || "" : "";
  drawTimeline($("timeline"), s.phases || [], busy.has(s.status));
  storeActions(s);
  if (secretFor !== s.name) hideSecret();
}

// drawTimeline draws the phases of the last operation to scale: each a bar
// starting when it started and as long as it took.
function drawTimeline(box, phases, running) {
  box.replaceChildren();
  if (!phases.length) {
    box.append(el("p", running ? "Waiting for the first phase…" : "No phases recorded.", "muted"));
    return;
  }
  const t0 = Math.min(...phases.map((p) => Date.parse(p.startedAt)));
  const end = Math.max(...phases.map((p) => Date.parse(p.startedAt) + p.durationMs));
  const total = Math.max(end - t0, 1);
  const W = 640, left = 130, row = 24, H = phases.length * row + 28;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "timeline" });
  svg.append(svgEl("title", {}, `Phases of the last operation: ${ms(total)} in all`));
  phases.forEach((p, i) => {
    const y = i * row + 4;
    const x = left + ((Date.parse(p.startedAt) - t0) / total) * (W - left - 70);
    const w = Math.max((p.durationMs / total) * (W - left - 70), 2);
    const g = svgEl("g", { class: "phase", "data-phase": p.name });
    g.append(svgEl("text", { x: left - 8, y: y + 14, "text-anchor": "end", class: "label" }, p.name));
    g.append(svgEl("rect", { x, y, width: w, height: row - 8, rx: 2, class: "bar" }));
    g.append(svgEl("text", { x: x + w + 4, y: y + 14, class: "value" }, ms(p.durationMs)));
    svg.append(g);
  });
  svg.append(svgEl("line", { x1: left, x2: W - 70, y1: H - 20, y2: H - 20, class: "axis" }));
  svg.append(svgEl("text", { x: left, y: H - 6, class: "value" }, "0"));
  svg.append(svgEl("text", { x: W - 70, y: H - 6, "text-anchor": "end", class: "value" }, ms(total) + (running ? " so far" : "")));
  box.append(svg);
}

function renderAudit(table, entries, withStore) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const e of entries) {
    const row = body.insertRow();
    row.dataset.id = e.id;
    if (withStore) cell(row, String(e.id));
    cell(row, when(e.time), "nowrap");
    cell(row, e.actor, "nowrap");
    cell(row, e.action);
    if (withStore) {
      const c = cell(row);
      if (e.store) c.append(storeLink(e.store));
    }
    cell(row, e.outcome, "outcome-" + e.outcome);
    cell(row, e.detail || "");
  }
}

async function showStore(name, current) {
  const path = "/v1/stores/" + encodeURIComponent(name);
  const [s, audit] = await Promise.all([
    api("GET", path),
    api("GET", `/v1/audit?store=${encodeURIComponent(name)}&limit=50`),
  ]);
  if (!current()) return false;
  renderStore(s);
  renderAudit($("store-audit"), audit.slice().reverse(), false);
  return busy.has(s.status);
}

// ---- the audit log ----

let auditPages = 1;
let auditFilter = {};

async function showAudit(r, current) {
  const q = new URLSearchParams({ limit: String(pageSize) });
  if (auditFilter.store) q.set("store", auditFilter.store);
  if (auditFilter.actor && me.admin) q.set("actor", auditFilter.actor);
  // Pages go back in time; each holds its entries oldest first.
  const list = await pages("/v1/audit?" + q, auditPages);
  const work = [list];
  if (me.admin) work.push(api("GET", "/v1/audit/verify"));
  const [, verify] = await Promise.all(work);
  if (!current()) return false;
  renderAudit($("audit-table"), list.items.slice().reverse(), true);
  $("audit-empty").hidden = list.items.length > 0;
  $("audit-more").hidden = !list.next;
  const v = $("verify");
  v.hidden = !verify;
  if (verify) {
    v.className = "verify " + (verify.ok ? "verify-ok" : "verify-bad");
    v.textContent = verify.ok
      ? `Verified: the chain of all ${verify.entries} entries is intact.`
      : `The audit log was altered: entry ${verify.badId}: ${verify.problem}`;
  }
  return false;
}

// ---- admins: the fleet, owners, metrics ----

async function showFleet(r, current) {
  const q = new URLSearchParams({ limit: String(pageSize) });
  if (fleetFilter.owner) q.set("owner", fleetFilter.owner); else q.set("all", "true");
  if (fleetFilter.status) q.set("status", fleetFilter.status);
  if (fleetFilter.plan) q.set("plan", fleetFilter.plan);
  const list = await pages("/v1/stores?" + q, fleetPages);
  if (!current()) return false;
  const body = $("fleet-table").tBodies[0];
  body.replaceChildren();
  for (const s of list.items) {
    const row = body.insertRow();
    row.dataset.store = s.name;
    cell(row).append(storeLink(s.name));
    cell(row, s.owner);
    cell(row, s.plan);
    const st = cell(row);
    st.append(badge(s.status));
    if (s.error) st.append(el("span", s.error, "error"));
    const addr = cell(row);
    const a = address(s);
    if (a) addr.append(a);
    cell(row, when(s.updatedAt));
  }
  $("fleet-count").textContent = `${list.items.length} store${list.items.length === 1 ? "" : "s"} shown${list.next ? ", more to load" : ""}.`;
  $("fleet-more").hidden = !list.next;
  return list.items.some((s) => busy.has(s.status));
}

async function showOwners(r, current) {
  const quotas = await api("GET", "/v1/quotas");
  if (!current()) return false;
  const body = $("owners-table").tBodies[0];
  // Keep a limit someone is typing: redraw only when nothing is focused.
  if (body.contains(document.activeElement)) return false;
  body.replaceChildren();
  for (const q of quotas) {
    const row = body.insertRow();
    row.dataset.owner = q.owner;
    cell(row, q.owner);
    cell(row, `${q.used} of ${q.maxStores}`);
    const lim = cell(row);
    const input = el("input");
    input.type = "number";
    input.min = "0";
    input.value = String(q.maxStores);
    input.setAttribute("aria-label", "store limit of " + q.owner);
    lim.append(input);
    if (q.default) lim.append(el("span", " default", "muted"));
    cell(row, undefined, "actions").append(button("Save", "Set " + q.owner + "'s store limit", async () => {
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 0) throw new Error("a store limit is a whole number, 0 or more");
      await api("PUT", "/v1/quotas/" + encodeURIComponent(q.owner), { maxStores: n });
      show(`${q.owner} may now have ${n} stores.`, "info");
      input.blur();
      await refresh();
    }));
  }
  return false;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// barChart draws labelled horizontal bars, each row one or more series.
function barChart(box, rows, series, fmt) {
  box.replaceChildren();
  if (!rows.length) {
    box.append(el("p", "Nothing yet.", "muted"));
    return;
  }
  const W = 640, left = 150, right = 90, bar = 14, gap = 8;
  const rowH = series.length * bar + gap;
  const H = rows.length * rowH + 4;
  const maxV = Math.max(1, ...rows.flatMap((r) => series.map((s) => r.values[s.key] || 0)));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  rows.forEach((r, i) => {
    const y0 = i * rowH + 2;
    const g = svgEl("g", { "data-row": r.label });
    g.append(svgEl("text", { x: left - 8, y: y0 + bar - 2, "text-anchor": "end", class: "label" }, r.label));
    series.forEach((s, j) => {
      const v = r.values[s.key] || 0;
      const w = (v / maxV) * (W - left - right);
      const y = y0 + j * bar;
      const rect = svgEl("rect", { x: left, y, width: Math.max(w, v > 0 ? 2 : 0), height: bar - 2, class: "bar " + (r.cls || s.cls) });
      rect.append(svgEl("title", {}, `${r.label} ${s.name}: ${fmt(v)}`));
      g.append(rect);
      g.append(svgEl("text", { x: left + w + 4, y: y + bar - 3, class: "value" }, (series.length > 1 ? s.name + " " : "") + fmt(v)));
    });
    svg.append(g);
  });
  box.append(svg);
}

// lineChart draws samples [t, v] as a line over time.
function lineChart(box, samples) {
  box.replaceChildren();
  const W = 640, H = 120, left = 40, bottom = 20;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  const maxV = Math.max(1, ...samples.map((s) => s[1]));
  const t0 = samples.length ? samples[0][0] : 0;
  const span = Math.max(1, samples.length ? samples[samples.length - 1][0] - t0 : 1);
  const pts = samples.map(([t, v]) => [left + ((t - t0) / span) * (W - left - 10), H - bottom - (v / maxV) * (H - bottom - 10)]);
  svg.append(svgEl("line", { x1: left, x2: W - 10, y1: H - bottom, y2: H - bottom, class: "axis" }));
  svg.append(svgEl("text", { x: left - 6, y: 14, "text-anchor": "end", class: "value" }, String(maxV)));
  svg.append(svgEl("text", { x: left - 6, y: H - bottom, "text-anchor": "end", class: "value" }, "0"));
  if (pts.length > 1) {
    svg.append(svgEl("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: "line" }));
  }
  for (const p of pts) svg.append(svgEl("circle", { cx: p[0], cy: p[1], r: 2.5, class: "dot" }));
  svg.append(svgEl("text", { x: W - 10, y: H - 4, "text-anchor": "end", class: "value" },
    `${samples.length} sample${samples.length === 1 ? "" : "s"} over ${Math.round(span / 1000)} s`));
  box.append(svg);
}

async function showMetrics(r, current) {
  const st = await api("GET", "/v1/stats");
  if (!current()) return false;
  $("metrics-window").textContent = `From the server's database at ${when(st.at)}; the last day is since ${when(st.since)}.`;
  $("m-queue").textContent = String(st.queueDepth);
  $("m-running").textContent = String(st.running);
  $("m-oldest").textContent = st.oldestQueuedSeconds > 0 ? ms(Math.round(st.oldestQueuedSeconds * 1000)) : "none";
  const failed = st.ended.filter((e) => e.state === "failed").reduce((n, e) => n + e.count, 0);
  $("m-failed").textContent = String(failed);
  const order = ["READY", "DEGRADED", "QUEUED", "PROVISIONING", "UPGRADING", "DELETING", "FAILED"];
  const tone = { READY: "s-ok", FAILED: "s-bad", DEGRADED: "s-warn" };
  barChart($("chart-status"), order.map((k) => ({ label: k, cls: tone[k], values: { n: st.storesByStatus[k] || 0 } })),
    [{ key: "n", name: "stores", cls: "s-count" }], String);
  barChart($("chart-phases"), st.phases.map((p) => ({ label: `${p.phase} (${p.count})`, values: { p50: p.p50Ms, p95: p.p95Ms } })),
    [{ key: "p50", name: "p50", cls: "s-p50" }, { key: "p95", name: "p95", cls: "s-p95" }], ms);
  queueSamples.push([Date.now(), st.queueDepth]);
  if (queueSamples.length > 120) queueSamples.shift();
  lineChart($("chart-queue"), queueSamples);
  const kinds = [...new Set(st.ended.map((e) => e.kind))];
  barChart($("chart-ended"), kinds.map((k) => {
    const values = {};
    for (const e of st.ended.filter((x) => x.kind === k)) values[e.state] = e.count;
    return { label: k, values };
  }), [{ key: "succeeded", name: "succeeded", cls: "s-ok" }, { key: "failed", name: "failed", cls: "s-bad" }], String);
  const body = $("failures-table").tBodies[0];
  body.replaceChildren();
  for (const f of st.failures) {
    const row = body.insertRow();
    cell(row, when(f.at));
    cell(row).append(storeLink(f.store));
    cell(row, f.kind);
    cell(row, f.error || "", "bad");
  }
  if (!st.failures.length) cell(body.insertRow(), "No failures in the last day.", "muted").colSpan = 4;
  return false; // the figures cost a query over a day of jobs: every 15 s is enough
}

// ---- routing ----

// route reads the view and its argument from the address's hash.
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "stores" && parts[1]) return { view: "store", arg: decodeURIComponent(parts[1]) };
  const view = parts[0] || "stores";
  const known = me && me.admin ? ["stores", "audit", "fleet", "owners", "metrics"] : ["stores", "audit"];
  return { view: known.includes(view) ? view : "stores" };
}

const views = {
  stores: showStores,
  store: (r, current) => showStore(r.arg, current),
  audit: showAudit,
  fleet: showFleet,
  owners: showOwners,
  metrics: showMetrics,
};

// refresh draws the current view, then again soon while something is on
// its way somewhere, and now and then otherwise.
async function refresh() {
  clearTimeout(timer);
  if (!me) return false;
  const mine = ++drawing;
  const r = route();
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + r.view;
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("current", a.dataset.view === r.view || (r.view === "store" && a.dataset.view === "stores"));
  }
  let soon;
  try {
    soon = await views[r.view](r, () => mine === drawing);
  } catch (e) {
    if (mine !== drawing) return false;
    failed(e);
    if (e.status !== 401) timer = setTimeout(refresh, 5000);
    return false;
  }
  if (mine !== drawing) return false;
  timer = setTimeout(refresh, soon ? 2000 : 15000);
  return true;
}

async function signIn() {
  try {
    signedIn(await api("GET", "/v1/whoami"));
  } catch (e) {
    failed(e);
    return;
  }
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(tokenKey, $("token").value.trim());
    $("token").value = "";
    show("");
    await signIn();
  });
  $("signout").addEventListener("click", () => {
    signedIn(null);
    pagesShown = fleetPages = auditPages = 1;
    queueSamples = [];
    show("Signed out.", "info");
  });
  window.addEventListener("hashchange", () => {
    show("");
    hideSecret();
    if (route().view !== "metrics") queueSamples = [];
    refresh();
  });
  $("secret-hide").addEventListener("click", hideSecret);
  const more = (id, bump) => {
    $(id).addEventListener("click", async () => {
      $(id).disabled = true;
      bump();
      try { await refresh(); } finally { $(id).disabled = false; }
    });
  };
  more("more", () => pagesShown++);
  more("fleet-more", () => fleetPages++);
  more("audit-more", () => auditPages++);
  $("fleet-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    fleetFilter = { owner: $("fleet-owner").value.trim(), status: $("fleet-status").value, plan: $("fleet-plan").value };
    fleetPages = 1;
    refresh();
  });
  $("audit-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    auditFilter = { store: $("audit-store").value.trim(), actor: $("audit-actor").value.trim() };
    auditPages = 1;
    refresh();
  });
  $("create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const submit = ev.target.querySelector("button");
    submit.disabled = true;
    const name = $("name").value.trim();
    try {
      await api("POST", "/v1/stores", { name, plan: $("plan").value });
      $("name").value = "";
      show(`${name} is queued; it is ready in a minute or two.`, "info");
      await refresh();
    } catch (e) {
      failed(e);
    } finally {
      submit.disabled = false;
    }
  });
  if (sessionStorage.getItem(tokenKey)) signIn();
});
