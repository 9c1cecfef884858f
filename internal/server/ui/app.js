// urumi's dashboard: a store owner's view of the /v1 API. No framework and
// no build step; every value from the server goes into the page as text.
"use strict";

const tokenKey = "urumi.token";
const busy = new Set(["QUEUED", "PROVISIONING", "UPGRADING", "DELETING"]);
const $ = (id) => document.getElementById(id);

let timer = null;
// The list shows the first page of stores, and one more for each press of
// More; refreshes reload as many pages as are shown.
const pageSize = 100;
let pagesShown = 1;

// api calls the store API with the tab's token. It resolves to the parsed
// body, or throws an Error carrying the API's own message and status.
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
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new Error("the server did not answer: " + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = new Error(data && data.error ? data.error.message : `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return { data, next: res.headers.get("Urumi-Continue") };
}

let fade = null;

// show puts a message above the page: an error stays until the next one,
// a note ("info") fades after a few seconds, as the table says the rest.
function show(msg, kind) {
  const m = $("message");
  clearTimeout(fade);
  m.textContent = msg;
  m.className = kind || "";
  m.hidden = !msg;
  if (msg && kind === "info") fade = setTimeout(() => { m.hidden = true; }, 8000);
}

function signedIn(yes) {
  $("signin").hidden = yes;
  $("stores").hidden = !yes;
  $("signout").hidden = !yes;
  if (!yes) {
    clearTimeout(timer);
    sessionStorage.removeItem(tokenKey);
  }
}

// failed handles an API error: a token that no longer works signs out.
function failed(err) {
  if (err.status === 401) {
    signedIn(false);
    show("Your token was not accepted: " + err.message);
    return;
  }
  show(err.message);
}

function cell(row, text, cls) {
  const td = row.insertCell();
  if (text !== undefined) td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(label, title, onClick, secondary) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.title = title;
  if (secondary) b.className = "secondary";
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (e) { failed(e); } finally { b.disabled = false; }
  });
  return b;
}

function render(stores) {
  const body = $("store-table").tBodies[0];
  body.replaceChildren();
  $("empty").hidden = stores.length > 0;
  $("store-table").hidden = stores.length === 0;
  for (const s of stores) {
    const row = body.insertRow();
    row.dataset.store = s.name;
    cell(row, s.name);
    cell(row, s.plan);
    const st = cell(row, undefined);
    const badge = document.createElement("span");
    badge.className = "status status-" + s.status;
    badge.textContent = s.status;
    st.append(badge);
    if (s.error) {
      const e = document.createElement("span");
      e.className = "error";
      e.textContent = s.error;
      st.append(e);
    }
    const addr = cell(row, undefined);
    if (s.url && (s.status === "READY" || s.status === "DEGRADED")) { // a DEGRADED store still serves
      const a = document.createElement("a");
      a.href = s.url;
      a.textContent = s.url;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      addr.append(a);
    }
    cell(row, new Date(s.createdAt).toLocaleString());
    const actions = cell(row, undefined, "actions");
    if (s.status === "FAILED") {
      actions.append(button("Retry", "Provision " + s.name + " again from where it stopped", async () => {
        await api("POST", `/v1/stores/${encodeURIComponent(s.name)}/retry`, {});
        show(`Retrying ${s.name}.`, "info");
        await refresh();
      }));
    }
    if (s.status !== "DELETING") {
      actions.append(button("Delete", "Delete " + s.name + " and everything in it", async () => {
        if (!confirm(`Delete ${s.name}? Its shop, database and files are removed for good.`)) return;
        await api("DELETE", `/v1/stores/${encodeURIComponent(s.name)}`);
        show(`Deleting ${s.name}.`, "info");
        await refresh();
      }, true));
    }
  }
}

// refresh reloads the list, then again soon while a store is on its way
// somewhere, and now and then otherwise.
async function refresh() {
  clearTimeout(timer);
  const stores = [];
  let next = null;
  try {
    for (let i = 0; i < pagesShown; i++) {
      let path = "/v1/stores?limit=" + pageSize;
      if (next) path += "&continue=" + encodeURIComponent(next);
      const page = await call("GET", path);
      stores.push(...page.data);
      next = page.next;
      if (!next) break;
    }
  } catch (e) {
    failed(e);
    if (e.status !== 401) timer = setTimeout(refresh, 5000);
    return false;
  }
  render(stores);
  $("more").hidden = !next;
  timer = setTimeout(refresh, stores.some((s) => busy.has(s.status)) ? 2000 : 15000);
  return true;
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(tokenKey, $("token").value.trim());
    $("token").value = "";
    show("");
    if (await refresh()) signedIn(true);
  });
  $("signout").addEventListener("click", () => { signedIn(false); pagesShown = 1; show("Signed out.", "info"); });
  $("more").addEventListener("click", async () => {
    $("more").disabled = true;
    pagesShown++;
    try { await refresh(); } finally { $("more").disabled = false; }
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
  if (sessionStorage.getItem(tokenKey)) {
    refresh().then((ok) => { if (ok) signedIn(true); });
  }
});
