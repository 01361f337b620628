// Staff console: the queue with waiting and SLA timers, claim, reply, suggest, transfer, resolve, hand back.
"use strict";

const $ = (id) => document.getElementById(id);
const REASONS = {
  customer_request: "用户要求", low_confidence: "未能解答", missing_knowledge: "知识缺失",
  negative_feedback: "连续差评", complaint: "投诉", sensitive: "敏感",
};
const STATUS = { new: "待认领", claimed: "已认领", answered: "已回复", resolved: "已解决", closed: "已关闭" };
const RESOLUTION_LABELS = {
  answered: "已解答", processed: "已受理/办结", callback_done: "已回电", handed_back: "交还小申",
  unresolved: "未能解决", no_response: "用户未回应", duplicate: "重复工单", out_of_scope: "非政务事项",
};
const ROLE = { user: "市民", assistant: "小申", agent: "客服", system: "系统" };
const state = { selected: null, entries: [], fetchedAt: 0, target: 60 };

// Staff sign in with their own accounts (/login): the session is an HttpOnly cookie, every
// change sends the session's CSRF token, and the agent is whoever is signed in.
const session = { csrf: "", username: "" };
const toLogin = () => location.assign("/login?next=" + encodeURIComponent(location.pathname));

async function api(method, path, body) {
  const headers = body ? { "Content-Type": "application/json" } : {};
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 401) { toLogin(); throw new Error("请先登录"); }
  if (r.status === 204) return {};
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}
const fail = (e) => { $("error").textContent = e.message; };
const clear = () => { $("error").textContent = ""; };
const mmss = (s) => { const a = Math.abs(Math.round(s)); return `${s < 0 ? "-" : ""}${Math.floor(a / 60)}:${String(a % 60).padStart(2, "0")}`; };

function drawQueue() {
  const tbody = $("queue").querySelector("tbody");
  const elapsed = (Date.now() - state.fetchedAt) / 1000;
  tbody.innerHTML = "";
  for (const e of state.entries) {
    const t = e.ticket;
    const tr = document.createElement("tr");
    tr.className = "ticket" + (state.selected === t.id ? " sel" : "");
    tr.dataset.ticket = t.id;
    const sla = e.sla_remaining_s === null ? "—" : mmss(e.sla_remaining_s - elapsed);
    const late = e.sla_remaining_s !== null && e.sla_remaining_s - elapsed < 0;
    const badges = (e.elder_mode ? '<span class="badge elder">长者</span>' : "") +
      (t.callback ? '<span class="badge callback">回电</span>' : "") +
      (e.lease_lapsed ? '<span class="badge">认领超时</span>' : "");
    tr.innerHTML = `<td>${t.id}</td><td class="wait">${mmss(e.waiting_s + elapsed)}</td>` +
      `<td class="${late ? "late" : "ok"}">${sla}</td>` +
      `<td>${escapeHtml(t.department)}<br><small>${REASONS[t.reason] || t.reason}</small> ${badges}</td>` +
      `<td>${STATUS[t.status]}${t.agent ? "<br><small>" + escapeHtml(t.agent) + "</small>" : ""}</td>`;
    tr.addEventListener("click", () => select(t.id));
    tbody.appendChild(tr);
  }
  $("queue-count").textContent = `（${state.entries.length}）`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function refreshQueue() {
  try {
    state.entries = await api("GET", "/api/v1/helpdesk/queue");
    state.fetchedAt = Date.now();
    drawQueue();
  } catch (e) { fail(e); }
}

async function select(id) {
  state.selected = id;
  drawQueue();
  await refreshDetail();
}

async function refreshDetail() {
  if (state.selected === null) return;
  try {
    const d = await api("GET", `/api/v1/helpdesk/tickets/${state.selected}`);
    const t = d.ticket;
    $("detail").hidden = false;
    $("detail-title").textContent = `工单 #${t.id} · ${STATUS[t.status]}${t.agent ? " · " + t.agent : ""}`;
    $("detail").dataset.status = t.status;
    $("detail-badges").innerHTML = `<span class="badge">${escapeHtml(t.department)}</span>` +
      `<span class="badge">${REASONS[t.reason] || t.reason}</span>` +
      (d.conversation.elder_mode ? '<span class="badge elder">长者模式</span>' : "") +
      (t.callback ? '<span class="badge callback">非工作时间回电</span>' : "") +
      `<span class="badge">语言 ${d.conversation.lang}</span>`;
    $("summary").textContent = t.summary;
    const box = $("transcript");
    box.innerHTML = "";
    for (const m of d.conversation.messages) {
      const div = document.createElement("div");
      div.className = "msg " + m.role;
      div.textContent = `${ROLE[m.role] || m.role}：${m.text}`;
      box.appendChild(div);
    }
    box.scrollTop = box.scrollHeight;
    $("events").innerHTML = d.events.map((e) =>
      `<li>${new Date(e.created_at).toLocaleTimeString()} ${escapeHtml(e.kind)} ${escapeHtml(e.agent)} ${escapeHtml(e.detail)}</li>`).join("");
  } catch (e) { fail(e); }
}

async function act(path, body, after) {
  clear();
  try {
    const r = await api("POST", `/api/v1/helpdesk/tickets/${state.selected}/${path}`, { ...body });
    if (after) after(r);
    await refreshQueue();
    await refreshDetail();
  } catch (e) { fail(e); }
}

$("claim").addEventListener("click", () => act("claim", {}));
$("release").addEventListener("click", () => act("release", {}));
$("send").addEventListener("click", () => {
  const text = $("reply").value.trim();
  if (!text) { fail(new Error("回复内容为空")); return; }
  act("reply", { text }, () => { $("reply").value = ""; $("suggest-cites").textContent = ""; });
});
$("handback").addEventListener("click", () => act("handback", {}));
$("resolve").addEventListener("click", () => act("resolve", { resolution: $("resolution").value }));
$("transfer").addEventListener("click", () => act("transfer", { department: $("department").value }));
$("reopen").addEventListener("click", () => act("reopen", { note: "console" }));
$("suggest").addEventListener("click", async () => {
  clear();
  try {
    const s = await api("GET", `/api/v1/helpdesk/tickets/${state.selected}/suggestion`);
    $("reply").value = s.text;
    $("suggest-cites").textContent = s.citations.length
      ? "依据：" + s.citations.map((c) => `${c.item_name}（${c.field}，${c.updated}）`).join("；") : "";
  } catch (e) { fail(e); }
});
$("canned").addEventListener("change", () => {
  if ($("canned").value) { $("reply").value = ($("reply").value ? $("reply").value + "\n" : "") + $("canned").value; }
  $("canned").value = "";
});
$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clear();
  try {
    const hits = await api("GET", `/api/v1/helpdesk/search?q=${encodeURIComponent($("search").value)}`);
    const ul = $("search-results");
    ul.innerHTML = "";
    for (const h of hits) {
      const li = document.createElement("li");
      li.innerHTML = `<b>${escapeHtml(h.name)}</b> <small>${escapeHtml(h.department)}</small><br>${escapeHtml(h.summary)} `;
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "插入";
      b.addEventListener("click", () => { $("reply").value += (($("reply").value ? "\n" : "") + `${h.name}：${h.summary}`); });
      li.appendChild(b);
      ul.appendChild(li);
    }
  } catch (e) { fail(e); }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/api/v1/auth/logout"); } catch (e) { /* signed out already */ }
  toLogin();
});

let timers = [];
async function init() {
  timers.forEach(clearInterval);
  try {
    const me = await api("GET", "/api/v1/auth/me");
    Object.assign(session, { csrf: me.csrf_token, username: me.username });
    $("agent").value = me.username;
    $("agent").readOnly = true;
  } catch (e) { fail(e); return; }
  for (const id of ["canned", "resolution", "department"]) $(id).length = id === "canned" ? 1 : 0;
  try {
    const [canned, resolutions, departments] = await Promise.all([
      api("GET", "/api/v1/helpdesk/canned?lang=zh"), api("GET", "/api/v1/helpdesk/resolutions"),
      api("GET", "/api/v1/helpdesk/departments")]);
    for (const c of canned) $("canned").add(new Option(c.length > 24 ? c.slice(0, 24) + "…" : c, c));
    for (const code of Object.keys(resolutions)) $("resolution").add(new Option(`${RESOLUTION_LABELS[code] || code}（${code}）`, code));
    for (const d of departments) $("department").add(new Option(d, d));
  } catch (e) { fail(e); }
  await refreshQueue();
  timers = [setInterval(refreshQueue, 2000), setInterval(refreshDetail, 2000), setInterval(drawQueue, 1000)];
}
init();
