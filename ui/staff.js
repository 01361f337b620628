// Shared by the staff pages (workbench, evaluation, dashboard): calls to /api/v1 as the
// signed-in member of staff, and a DOM builder that only ever writes text.
"use strict";

const Staff = (() => {
  let session = null; // {username, roles, csrf_token} once known (GET /api/v1/auth/me)

  async function me() {
    if (session) return session;
    const r = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
    if (r.status === 401) {
      // not signed in: the login page brings us back here
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
      throw new Error("请先登录 / please sign in");
    }
    if (r.ok) session = await r.json();
    else throw new Error(`/api/v1/auth/me answered ${r.status}`);
    return session;
  }

  async function api(method, path, body) {
    const s = await me();
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (s.csrf_token && method !== "GET") headers["X-CSRF-Token"] = s.csrf_token;
    const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) { session = null; await me(); }
    if (!r.ok) {
      const err = new Error((data.error && data.error.message) || r.statusText);
      err.status = r.status;
      err.body = data;
      throw err;
    }
    return data;
  }

  // el("div", {class: "x", onclick: f}, "text", child…): attributes are set one by one and
  // children are text nodes or elements, so nothing a citizen or an author wrote becomes markup.
  function el(tag, attrs, ...children) {
    const svg = ["svg", "rect", "text", "g", "line", "title", "path", "circle"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function replace(target, ...children) {
    const node = typeof target === "string" ? document.getElementById(target) : target;
    node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  // Horizontal bar chart as SVG: rows [label, value]; nothing external, text only.
  function bars(rows, { color = "#0b5cab", width = 440, label = "" } = {}) {
    if (!rows.length) return el("p", {}, "暂无数据");
    const max = Math.max(...rows.map((r) => r[1]), 1);
    const svg = el("svg", { width, height: 24 * rows.length + 8, role: "img", "aria-label": label });
    rows.forEach(([name, value], i) => {
      const w = Math.max(2, (value / max) * (width - 190));
      const y = 4 + i * 24;
      svg.append(
        el("text", { x: 0, y: y + 15 }, String(name).slice(0, 18)),
        el("rect", { x: 140, y: y + 3, width: w, height: 16, fill: color }, el("title", {}, `${name}: ${value}`)),
        el("text", { x: 146 + w, y: y + 15 }, String(value)));
    });
    return svg;
  }

  return { me, api, el, replace, bars };
})();
