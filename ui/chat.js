// Citizen web chat: talks to /api/v1, receives agent replies live over server-sent events.
"use strict";

const T = {
  zh: {
    title: "小申 · 一网通办", langBtn: "English", elder: "长者模式", human: "转人工", restart: "新对话", rateBtn: "评价",
    placeholder: "请输入您的问题，例如：居住证怎么办理？", send: "发送", you: "我", bot: "小申", agent: "人工客服",
    sources: "来源", updated: "更新于", helpful: "有帮助", unhelpful: "没帮助", thanks: "感谢反馈",
    readAloud: "朗读", stopReading: "停止朗读", showAll: "展开全文", showLess: "收起", star: (i) => `${i} 星`,
    logLabel: "对话内容",
    position: (p, m) => `已转人工：您前面还有 ${p - 1} 位，预计等待约 ${m} 分钟。`,
    serving: (a) => `人工客服${a ? " " + a : ""}正在为您服务。`,
    callback: (h) => `现在是人工服务时间（${h}）以外，已登记回复工单，客服上班后会在这里回复您。`,
    rate: "请为本次服务打分：", rated: "感谢您的评价！", inputLabel: "输入问题", reopen: "问题没解决，重新转人工",
    fields: { summary: "概述", conditions: "办理条件", materials: "申请材料", process: "办理流程", fees: "收费",
      time_limit: "办理时限", locations: "办理地点", online: "网上办理", situations: "情形", faqs: "常见问题", legal_basis: "依据",
      phone: "咨询电话", benefit: "待遇标准", name: "事项名称", aliases: "事项名称", related: "相关事项",
      prerequisites: "前置事项", department: "主管部门" },
    otherField: "事项内容",
  },
  en: {
    title: "Xiao Shen · Shanghai services", langBtn: "中文", elder: "Large text", human: "Talk to a person", restart: "New chat",
    rateBtn: "Rate",
    placeholder: "Ask a question, e.g. How do I apply for a residence permit?", send: "Send", you: "You", bot: "Xiao Shen",
    agent: "Staff", sources: "Sources", updated: "updated", helpful: "Helpful", unhelpful: "Not helpful", thanks: "Thanks",
    readAloud: "Read aloud", stopReading: "Stop reading", showAll: "Show the full answer", showLess: "Show less",
    star: (i) => `${i} star${i > 1 ? "s" : ""}`, logLabel: "Conversation",
    position: (p, m) => `Waiting for a person: ${p - 1} ahead of you, about ${m} min.`,
    serving: (a) => `${a || "A staff member"} is with you now.`,
    callback: (h) => `Staff are on duty ${h}; your request is logged and they will reply here when the desk opens.`,
    rate: "Please rate this service:", rated: "Thank you for your rating!", inputLabel: "Your question",
    reopen: "Not solved: back to a person",
    fields: { summary: "overview", conditions: "eligibility", materials: "documents", process: "steps", fees: "fees",
      time_limit: "processing time", locations: "where to apply", online: "online service", situations: "situations",
      faqs: "common questions", legal_basis: "legal basis", phone: "phone", benefit: "benefit amounts", name: "service name",
      aliases: "service name", related: "related services", prerequisites: "prerequisites", department: "department" },
    otherField: "service details",
  },
};

const $ = (id) => document.getElementById(id);
const store = window.localStorage;
const state = {
  lang: store.getItem("xs.lang") || ((navigator.language || "zh").startsWith("zh") ? "zh" : "en"),
  elder: store.getItem("xs.elder") === "1",
  conversation: store.getItem("xs.conversation") || "",
  client: store.getItem("xs.client") || "",
  shown: new Set(),
  lastId: 0,
  hadQueue: false,
  ready: Promise.resolve(),
  //: messages arriving on the live stream after the history is shown are new (read aloud in elder mode).
  live: false,
  events: null,
  posting: false,  // a message or handoff of this tab is on its way (see connect())
};
if (!state.client) {
  state.client = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  store.setItem("xs.client", state.client);
}
const t = () => T[state.lang];

// The server stores and returns a citizen's message with personal numbers masked
// ([身份证号·尾号1234]); this page keeps what was typed, in this tab only
// (sessionStorage: gone when the tab closes, so a shared computer at a service hall
// keeps nothing), and shows it instead.  Nothing typed is ever sent back to us.
const typed = window.sessionStorage;
const typedKey = (id) => `xs.typed.${state.conversation}.${id}`;
function rememberTyped(id, text) {
  try { typed.setItem(typedKey(id), text); } catch (e) { /* storage full or disabled: show the masked text */ }
  const shown = document.querySelector(`#log .msg.user[data-id="${id}"] .text`);
  if (shown) shown.textContent = text;
}

// The conversation's token (returned once when it is opened) opens it and no other:
// kept in this tab only, like the typed messages, and sent with every call about it.
const tokenKey = (id) => `xs.token.${id}`;
let heldToken = { id: "", token: "" };  // this page's copy, should the tab's storage be disabled
const conversationToken = () =>
  (heldToken.id === state.conversation && heldToken.token) || typed.getItem(tokenKey(state.conversation)) || "";

// A message post carries an Idempotency-Key of its own and is sent again, with the same key,
// when the network or a proxy fails: the server stores it once however often it arrives.
const MESSAGE_POST = /\/messages(\/stream)?$/;
const RESEND = [502, 503, 504];
const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");

async function api(method, path, body) {
  const headers = body ? { "Content-Type": "application/json" } : {};
  if (conversationToken()) headers["X-Conversation-Token"] = conversationToken();
  const resend = method === "POST" && MESSAGE_POST.test(path);
  if (resend) headers["Idempotency-Key"] = newKey();
  let response;
  for (let attempt = 1; ; attempt++) {
    try {
      response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
      if (!resend || attempt >= 3 || !RESEND.includes(response.status)) break;
    } catch (e) {
      if (!resend || attempt >= 3) throw e;
    }
    await new Promise((done) => setTimeout(done, 500 * attempt));
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error((data.error && data.error.message) || response.statusText);
    err.status = response.status;
    throw err;
  }
  return data;
}

function showError(message) { $("error").textContent = message || ""; }

function applyLanguage() {
  const s = t();
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("title").textContent = s.title;
  $("lang").textContent = s.langBtn;
  $("elder").textContent = s.elder;
  $("human").textContent = s.human;
  $("restart").textContent = s.restart;
  $("rate").textContent = s.rateBtn;
  $("input").placeholder = s.placeholder;
  $("input").setAttribute("aria-label", s.inputLabel);
  $("send").textContent = s.send;
  $("log").setAttribute("aria-label", s.logLabel);
  document.body.classList.toggle("elder", state.elder);
  $("elder").setAttribute("aria-pressed", String(state.elder));
}

// Links in answers and messages are made only for https addresses on government domains;
// every other address stays plain text (nothing a message or an item says becomes markup).
const LINK_DOMAINS = ["gov.cn"];
const URL_RE = /https:\/\/[^\s<>"'，。；）)]+/g;
function allowedLink(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" && LINK_DOMAINS.some((d) => u.hostname === d || u.hostname.endsWith("." + d));
  } catch (e) { return false; }
}
function linkified(text) {
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (!allowedLink(m[0])) continue;
    frag.append(document.createTextNode(text.slice(last, m.index)));
    const a = document.createElement("a");
    a.href = m[0];
    a.textContent = m[0];
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    frag.append(a);
    last = m.index + m[0].length;
  }
  frag.append(document.createTextNode(text.slice(last)));
  return frag;
}

// Icons are drawn here as SVG (no icon font, no emoji the machine may lack).
const ICONS = {
  up: "M2 9h3v9H2zM7 18h8.2c.8 0 1.5-.5 1.8-1.3l2-6.2c.3-1-.4-2-1.5-2H12l.8-4c.2-.9-.5-1.7-1.4-1.7L7 8z",
  down: "M2 2h3v9H2zM7 2h8.2c.8 0 1.5.5 1.8 1.3l2 6.2c.3 1-.4 2-1.5 2H12l.8 4c.2.9-.5 1.7-1.4 1.7L7 12z",
  speak: "M3 7h3l5-4v14l-5-4H3zM14 6a5 5 0 0 1 0 8M16 3a9 9 0 0 1 0 14",
};
function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}
function iconButton(name, label) {
  const b = document.createElement("button");
  b.type = "button";
  const text = document.createElement("span");
  text.className = "label";
  text.textContent = label;
  b.append(icon(name), text);
  return b;
}

// Elder mode: the answer's first part, the rest one click away.
const SHORT_CHARS = 90;
function shortPart(text) {
  if (text.length <= SHORT_CHARS * 1.5) return "";
  const cut = text.slice(0, SHORT_CHARS * 2);
  const breaks = [cut.indexOf("\n\n"), ...[..."\n。！？.!?"].map((c) => cut.indexOf(c, 20))].filter((i) => i >= 20);
  const end = breaks.length ? Math.min(...breaks) + 1 : SHORT_CHARS;
  return text.length - end > 20 ? text.slice(0, end).trim() : "";
}

function speak(text, button) {
  const synth = window.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === "undefined") return;
  synth.cancel();
  const u = new SpeechSynthesisUtterance(text);
  u.lang = state.lang === "zh" ? "zh-CN" : "en-US";
  u.rate = 0.9;
  if (button) {
    button.setAttribute("aria-pressed", "true");
    u.onend = u.onerror = () => button.setAttribute("aria-pressed", "false");
  }
  synth.speak(u);
}

function answerBody(msg) {
  const s = t();
  const body = document.createElement("div");
  body.className = "text";
  const text = (msg.role === "user" && typed.getItem(typedKey(msg.id))) || msg.text;
  const head = state.elder && msg.role !== "user" && msg.role !== "system" ? shortPart(text) : "";
  if (!head) {
    body.appendChild(linkified(text));
    return [body];
  }
  const first = document.createElement("span");
  first.appendChild(linkified(head));
  const rest = document.createElement("span");
  rest.className = "rest";
  rest.hidden = true;
  rest.appendChild(linkified(text.slice(head.length)));
  body.append(first, rest);
  const more = document.createElement("button");
  more.type = "button";
  more.className = "more";
  more.textContent = s.showAll;
  more.setAttribute("aria-expanded", "false");
  more.addEventListener("click", () => {
    rest.hidden = !rest.hidden;
    more.setAttribute("aria-expanded", String(!rest.hidden));
    more.textContent = rest.hidden ? t().showAll : t().showLess;
  });
  return [body, more];
}

function citationsBox(citations) {
  const s = t();
  const box = document.createElement("div");
  box.className = "cites";
  const title = document.createElement("div");
  title.textContent = s.sources + (state.lang === "zh" ? "：" : ": ");
  const ul = document.createElement("ul");
  for (const c of citations) {
    const li = document.createElement("li");
    li.className = "citation";
    li.dataset.item = c.item_id;
    li.textContent = `${c.item_name} · ${s.fields[c.field] || s.otherField} · ${s.updated} ${c.updated}`;
    ul.appendChild(li);
  }
  box.append(title, ul);
  return box;
}

function feedbackRow(msg) {
  const s = t();
  const row = document.createElement("div");
  row.className = "feedback";
  for (const [helpful, name, label] of [[true, "up", s.helpful], [false, "down", s.unhelpful]]) {
    const b = iconButton(name, label);
    b.className = helpful ? "helpful" : "unhelpful";
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", async () => {
      try {
        const r = await api("POST", `/api/v1/conversations/${state.conversation}/feedback`, { message_id: msg.id, helpful });
        row.querySelectorAll("button.helpful, button.unhelpful").forEach((x) => { x.disabled = true; });
        b.setAttribute("aria-pressed", "true");
        b.querySelector(".label").textContent += " · " + s.thanks;
        if (r.ticket) connect();
      } catch (e) { showError(e.message); }
    });
    row.appendChild(b);
  }
  if (window.speechSynthesis) {
    const read = iconButton("speak", s.readAloud);
    read.className = "read-aloud";
    read.setAttribute("aria-pressed", "false");
    read.addEventListener("click", () => {
      if (read.getAttribute("aria-pressed") === "true") { window.speechSynthesis.cancel(); read.setAttribute("aria-pressed", "false"); return; }
      speak(msg.text, read);
    });
    row.appendChild(read);
  }
  return row;
}

function render(msg) {
  if (state.shown.has(msg.id)) return;
  state.shown.add(msg.id);
  state.lastId = Math.max(state.lastId, msg.id);
  const s = t();
  const div = document.createElement("div");
  div.className = "msg " + msg.role;
  div.dataset.id = msg.id;
  div.dataset.role = msg.role;
  if (msg.role !== "system") {
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = { user: s.you, assistant: s.bot, agent: s.agent }[msg.role] || msg.role;
    div.appendChild(who);
  }
  div.append(...answerBody(msg));
  if (msg.citations && msg.citations.length) div.appendChild(citationsBox(msg.citations));
  // checklist questions of the policy check-up render themselves (ui/checkup.js)
  if (msg.options && msg.options.length && !(window.XSCheckup && window.XSCheckup.options(msg, div, send))) {
    const row = document.createElement("div");
    row.className = "options";
    for (const o of msg.options) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "option";
      b.textContent = o.label;
      b.addEventListener("click", () => send(o.value, o.label));
      row.appendChild(b);
    }
    div.appendChild(row);
  }
  const answer = msg.role === "assistant" || msg.role === "agent";
  if (answer) div.appendChild(feedbackRow(msg));
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  // Elder mode reads each new answer aloud (a reloaded history is not read again).
  if (answer && state.elder && msg.fresh) speak(msg.text, div.querySelector(".read-aloud"));
}

function showQueue(q) {
  const s = t();
  const box = $("waiting");
  if (!q) {
    box.classList.remove("show");
    if (state.hadQueue) { showRating(); showReopen(); }
    state.hadQueue = false;
    return;
  }
  state.hadQueue = true;
  let text;
  if (q.callback) text = s.callback(q.working_hours);
  else if (q.position > 0) text = s.position(q.position, Math.max(1, Math.round(q.estimated_wait_s / 60)));
  else text = s.serving(q.agent);
  box.textContent = text;
  box.dataset.position = q.position;
  box.classList.add("show");
}

function showReopen() {
  // After a person finished: the citizen can say it is not solved, which reopens their ticket.
  const s = t();
  const b = document.createElement("button");
  b.type = "button";
  b.className = "reopen";
  b.textContent = s.reopen;
  b.addEventListener("click", async () => {
    try {
      await api("POST", `/api/v1/conversations/${state.conversation}/reopen`);
      b.disabled = true;
      connect();
    } catch (e) { showError(e.message); }
  });
  const div = document.createElement("div");
  div.className = "msg system";
  div.appendChild(b);
  $("log").appendChild(div);
}

function showRating() {
  const s = t();
  const div = document.createElement("div");
  div.className = "msg system rating-box";
  const label = document.createElement("span");
  label.textContent = s.rate;
  const stars = document.createElement("span");
  stars.className = "stars rating";
  for (let i = 1; i <= 5; i++) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "★";
    b.setAttribute("aria-label", s.star(i));
    b.dataset.rating = i;
    b.addEventListener("click", async () => {
      try {
        await api("POST", `/api/v1/conversations/${state.conversation}/feedback`, { rating: i });
        stars.querySelectorAll("button").forEach((x) => { x.classList.toggle("on", Number(x.dataset.rating) <= i); x.disabled = true; });
        label.textContent = s.rated;
        div.classList.add("done");
      } catch (e) { showError(e.message); }
    });
    stars.appendChild(b);
  }
  div.append(label, stars);
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
}

function connect() {
  if (state.events) state.events.close();
  const token = encodeURIComponent(conversationToken());  // EventSource sends no headers
  const es = new EventSource(`/api/v1/conversations/${state.conversation}/events?after=${state.lastId}&token=${token}`);
  es.addEventListener("message", (ev) => {
    const m = JSON.parse(ev.data);
    // a turn this tab is posting is shown from the POST's answer (as typed, a button by its label):
    // the stream, signalled at the commit, would otherwise win the race with the stored copy
    if (state.posting && (m.role === "user" || m.role === "assistant")) return;
    render({ ...m, fresh: state.live });
  });
  es.addEventListener("queue", (ev) => showQueue(JSON.parse(ev.data)));
  state.events = es;
}

// The conversation being opened (or resumed): messages sent meanwhile wait for it.
// Openings run one after another (English, then 中文 at once, opens two conversations:
// the second must win, so it may not start before the first is done).
function opening(start) {
  state.ready = (state.ready || Promise.resolve()).then(start).catch((e) => showError(e.message));
  return state.ready;
}

async function newConversation() {
  const c = await api("POST", "/api/v1/conversations", { lang: state.lang, elder_mode: state.elder, client_id: state.client });
  state.conversation = c.id;
  heldToken = { id: c.id, token: c.token };
  try { typed.setItem(tokenKey(c.id), c.token); } catch (e) { /* storage disabled: this page still holds it */ }
  store.setItem("xs.conversation", c.id);
  state.shown.clear();
  state.lastId = 0;
  state.hadQueue = false;
  $("log").replaceChildren();
  showQueue(null);
  connect();
  state.live = true;
}

async function resume() {
  // Without this tab's token the conversation cannot be reopened here: start a new one.
  if (!state.conversation || !conversationToken()) return newConversation();
  try {
    const c = await api("GET", `/api/v1/conversations/${state.conversation}`);
    c.messages.forEach(render);
    if (c.queue) showQueue(c.queue);
    connect();
    state.live = true;
  } catch (e) {
    if ([401, 403, 404].includes(e.status)) return newConversation();
    throw e;
  }
}

async function send(text, shown) {
  showError("");
  if (!text.trim()) return;
  $("send").disabled = true;
  state.posting = true;
  try {
    await state.ready; // a question typed while the conversation is still being opened waits for it
    const r = await api("POST", `/api/v1/conversations/${state.conversation}/messages`, { text });
    // what the citizen typed, not the masked copy (a button's label stays its label)
    if (!shown) rememberTyped(r.user_message_id, text);
    render({ id: r.user_message_id, role: "user", text: shown || text, citations: [], options: [] });
    render({ id: r.message_id, role: "assistant", text: r.answer, citations: r.citations, options: r.options, action: r.action, fresh: true });
    if (r.queue) showQueue(r.queue);
  } catch (e) {
    showError(e.message);
  } finally {
    state.posting = false;
    $("send").disabled = false;
  }
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
});
$("human").addEventListener("click", async () => {
  showError("");
  state.posting = true;
  try {
    await state.ready;
    const r = await api("POST", `/api/v1/conversations/${state.conversation}/handoff`, { note: "" });
    render({ id: r.user_message_id, role: "user", text: t().human, citations: [], options: [] });
    render({ id: r.message_id, role: "assistant", text: r.answer, citations: [], options: [] });
    if (r.queue) showQueue(r.queue);
  } catch (e) { showError(e.message); } finally { state.posting = false; }
});
// 好差评: a rating of the whole conversation, offered after a person finishes and at any time here.
$("rate").addEventListener("click", () => { if (!document.querySelector(".rating-box:not(.done)")) showRating(); });
$("restart").addEventListener("click", () => opening(newConversation));
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  store.setItem("xs.lang", state.lang);
  applyLanguage();
  // Bot notices follow the conversation's language: an empty conversation restarts in the new one.
  if (state.shown.size === 0) opening(newConversation);
});
$("elder").addEventListener("click", () => {
  state.elder = !state.elder;
  store.setItem("xs.elder", state.elder ? "1" : "0");
  if (!state.elder && window.speechSynthesis) window.speechSynthesis.cancel();
  applyLanguage();
  if (state.shown.size === 0) opening(newConversation);
});

window.XSChat = { send }; // for ui/checkup.js
applyLanguage();
opening(resume);
