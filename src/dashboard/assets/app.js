// LedgerMQ dashboard: what every page shares. No framework and no build step; every value
// from the cluster goes into the page as text (never as HTML), so a topic or message named
// like markup stays text.
"use strict";

const LMQ = (() => {
  let session = null;

  /** Builds an element: h("a", {href: "/x", class: "c"}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const banner = document.getElementById("banner");

  /**
   * Shows a readable message above the page; kind is "error" or "ok". A sticky message (the
   * answer to a form) stays until the next one; others go when a refresh succeeds again.
   */
  function say(message, kind = "error", sticky = false) {
    banner.textContent = message;
    banner.className = kind;
    banner.dataset.sticky = sticky ? "1" : "";
    banner.hidden = false;
    if (kind === "ok") setTimeout(() => { if (banner.textContent === message) banner.hidden = true; }, 6000);
  }
  function clearBanner() { banner.hidden = true; }

  /** GET or POST JSON; a failure throws an Error whose message is the server's sentence. */
  async function api(path, opts = {}) {
    let resp;
    try {
      resp = await fetch(path, { credentials: "same-origin", ...opts });
    } catch (e) {
      throw new Error("The dashboard server does not answer (" + e.message + "). Is it still running?");
    }
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    if (!resp.ok) {
      if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
      throw new Error((body && body.error) || ("HTTP " + resp.status + " " + resp.statusText));
    }
    return body;
  }

  async function loadSession() {
    if (!session) session = await api("/api/session");
    return session;
  }

  /** POSTs a form (an object of strings) with the CSRF token. */
  async function post(path, data) {
    const s = await loadSession();
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
      body: JSON.stringify(data || {}),
    });
  }

  /** The form's named fields as an object of strings. */
  function formData(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) out[k] = String(v);
    return out;
  }

  // ---- URL state: every view is a bookmarkable query string ----
  function params() { return new URLSearchParams(location.search); }
  function go(query) {
    clearBanner();
    const q = new URLSearchParams(query).toString();
    history.pushState(null, "", location.pathname + (q ? "?" + q : ""));
    render();
  }
  function link(text, query, path) {
    const q = new URLSearchParams(query).toString();
    const href = (path || location.pathname) + (q ? "?" + q : "");
    return h("a", {
      href,
      onclick: (e) => {
        if (path && path !== location.pathname) return;
        e.preventDefault();
        go(query);
      },
    }, text);
  }

  // ---- formatting ----
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function time(ms) {
    if (!ms || ms <= 0) return "";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function ago(ms) {
    if (ms === null || ms === undefined) return "";
    const s = Math.floor(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function num(n, digits) {
    if (n === null || n === undefined || n === "") return "";
    return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0, minimumFractionDigits: digits ?? 0 });
  }
  function pct(r) { return r === null || r === undefined ? "" : (Number(r) * 100).toFixed(1) + " %"; }
  /** A datetime-local input's value as epoch ms, or "" when empty. */
  function localToMs(v) { return v ? String(new Date(v).getTime()) : ""; }
  function msToLocal(ms) {
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function badge(state) { return h("span", { class: "badge " + String(state).toLowerCase() }, state); }

  // ---- tables that sort and page ----
  /**
   * columns: [{key, label, title?, render?(row) -> Node|string, num?: true, wrap?: true}]
   * options: {pageSize = 25, sort = key, desc = false, id, empty = "Nothing to show", rowClass?(row),
   *           state?} — a `state` object (from `LMQ.keep(id)`) keeps the sort and page across
   *           the refreshes that rebuild the table.
   */
  function table(columns, rows, options = {}) {
    const pageSize = options.pageSize || 25;
    const st = options.state || {};
    if (st.sortKey === undefined) { st.sortKey = options.sort || null; st.desc = !!options.desc; st.pageNo = 0; }
    let sortKey = st.sortKey;
    let desc = st.desc;
    let pageNo = st.pageNo;
    const wrap = h("div", { class: "table-wrap", id: options.id });
    function value(row, c) { const v = row[c.key]; return v === null || v === undefined ? "" : v; }
    function draw() {
      const sorted = rows.slice();
      if (sortKey) {
        const col = columns.find((c) => c.key === sortKey);
        sorted.sort((a, b) => {
          const x = value(a, col), y = value(b, col);
          const r = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
          return desc ? -r : r;
        });
      }
      const pages = Math.max(1, Math.ceil(sorted.length / pageSize));
      pageNo = Math.min(pageNo, pages - 1);
      Object.assign(st, { sortKey, desc, pageNo });
      const shown = sorted.slice(pageNo * pageSize, (pageNo + 1) * pageSize);
      const head = h("tr", {}, columns.map((c) => h("th", {
        class: (c.num ? "num " : "") + "sortable" + (c.key === sortKey ? (desc ? " desc" : " asc") : ""),
        title: (c.title ? c.title + ". " : "") + "Sort by " + c.label,
        onclick: () => { if (sortKey === c.key) desc = !desc; else { sortKey = c.key; desc = false; } draw(); },
      }, c.label)));
      const body = shown.length
        ? shown.map((r) => h("tr", { class: options.rowClass ? options.rowClass(r) : null },
            columns.map((c) => h("td", { class: [c.num ? "num" : "", c.wrap ? "wrap" : ""].join(" ").trim() || null }, c.render ? c.render(r) : String(value(r, c))))))
        : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, options.empty || "Nothing to show"))];
      const pager = pages > 1 ? h("div", { class: "pager" },
        h("button", { type: "button", disabled: pageNo === 0, onclick: () => { pageNo--; draw(); } }, "‹ Prev"),
        ` Page ${pageNo + 1} of ${pages} (${sorted.length} rows) `,
        h("button", { type: "button", disabled: pageNo >= pages - 1, onclick: () => { pageNo++; draw(); } }, "Next ›")) : null;
      wrap.replaceChildren(h("table", {}, h("thead", {}, head), h("tbody", {}, body)), pager || "");
    }
    draw();
    return wrap;
  }

  /** A two-column key/value table from an object, sorted by key unless `sort: null`. */
  function kvTable(obj, options = {}) {
    const rows = Object.entries(obj || {}).map(([k, v]) => ({ key: k, value: typeof v === "object" ? JSON.stringify(v) : v }));
    return table([{ key: "key", label: "Key" }, { key: "value", label: "Value", wrap: true }], rows,
      { pageSize: options.pageSize || 100, sort: options.sort === undefined ? "key" : options.sort, id: options.id });
  }

  const kept = new Map();
  /** A table state that survives refreshes of the same view. */
  function keep(id) { if (!kept.has(id)) kept.set(id, {}); return kept.get(id); }

  function section(title, ...children) { return h("section", { class: "card" }, h("h2", {}, title), ...children); }

  // ---- page life cycle ----
  const main = document.getElementById("main");
  let timer = null;
  let generation = 0;

  /** Runs the page's render; `refresh(ms)` inside it re-runs it while the view is unchanged. */
  async function render() {
    clearTimeout(timer);
    const gen = ++generation;
    const page = LMQ.page;
    if (!page) return;
    try {
      await page.render(main, params(), {
        refresh: (ms, fn) => {
          const again = async () => {
            if (gen !== generation) return;
            try { await fn(); if (gen === generation) clearBannerIfStale(); }
            catch (e) { if (gen === generation) say(e.message); }
            if (gen === generation) timer = setTimeout(again, ms);
          };
          timer = setTimeout(again, ms);
        },
      });
    } catch (e) {
      say(e.message);
      if (!main.firstChild || main.firstChild.nodeName === "NOSCRIPT") main.replaceChildren(h("p", { class: "muted" }, "The page could not be loaded; see the message above."));
    }
  }
  // A refresh that succeeds clears an error banner it had raised, but not a form's result.
  function clearBannerIfStale() { if (banner.className === "error" && banner.dataset.sticky !== "1") banner.hidden = true; }

  window.addEventListener("popstate", render);
  document.addEventListener("DOMContentLoaded", async () => {
    try {
      const s = await loadSession();
      const who = document.getElementById("who");
      who.append(s.user + (s.admin ? " (admin)" : " (read only)"));
      if (s.loginRequired) {
        who.append(" ", h("button", { type: "button", class: "link", onclick: async () => { await post("/logout"); location.href = "/login"; } }, "Log out"));
      }
    } catch (e) { say(e.message); }
    render();
  });

  return { h, say, clearBanner, api, post, formData, params, go, link, time, ago, num, pct, localToMs, msToLocal, badge, table, kvTable, keep, section, render, page: null, session: loadSession };
})();
