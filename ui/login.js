// Staff sign-in: POST /api/v1/auth/login, then back to the page that sent us here (?next=).
// The session lives in an HttpOnly cookie this script never sees; the pages ask
// GET /api/v1/auth/me for the CSRF token they send with every change.
"use strict";

const T = {
  zh: {
    title: "小申 · 工作人员登录", lang: "English", intro: "请使用您本人的工作账号登录。",
    username: "用户名", password: "密码", submit: "登录", busy: "正在登录…",
    empty: "请填写用户名和密码。", failed: "用户名或密码错误。",
    locked: (s) => `登录失败次数过多，请 ${s} 秒后再试。`, offline: "无法连接服务器，请稍后再试。",
    signedIn: (u) => `当前已登录：${u}。登录其他账号将替换当前会话。`,
  },
  en: {
    title: "Xiao Shen · Staff sign-in", lang: "中文", intro: "Sign in with your own work account.",
    username: "Username", password: "Password", submit: "Sign in", busy: "Signing in…",
    empty: "Enter your username and password.", failed: "The username or password is wrong.",
    locked: (s) => `Too many failed sign-ins; try again in ${s} s.`, offline: "Cannot reach the server; try again shortly.",
    signedIn: (u) => `Signed in as ${u}. Signing in as someone else replaces this session.`,
  },
};

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem("xs.lang") || ((navigator.language || "zh").startsWith("zh") ? "zh" : "en");
const t = () => T[lang];

// Only a path on this site: "/console", never "//evil.example" or "https://…".
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/(?![\/\\])/.test(next) ? next : "/console";
}

function applyLanguage() {
  const s = t();
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = s.title;
  $("title").textContent = s.title;
  $("lang").textContent = s.lang;
  $("lang").lang = lang === "zh" ? "en" : "zh-CN";
  $("intro").textContent = s.intro;
  $("username-label").textContent = s.username;
  $("password-label").textContent = s.password;
  $("submit").textContent = s.submit;
}

// Every response body is read to its end, so that no request of this page is
// still open when signing in navigates away.
let asking = Promise.resolve();
function whoami() { asking = showWhoami(); }
async function showWhoami() {
  try {
    const r = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
    const me = await r.json().catch(() => ({}));
    if (r.ok) $("whoami").textContent = t().signedIn(me.username);
  } catch (e) { /* not signed in, or offline: the form is all we need */ }
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const s = t();
  const username = $("username").value.trim();
  const password = $("password").value;
  $("error").textContent = "";
  if (!username || !password) { $("error").textContent = s.empty; return; }
  $("submit").disabled = true;
  $("submit").textContent = s.busy;
  try {
    const r = await fetch("/api/v1/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }),
    });
    await r.json().catch(() => ({}));
    if (r.ok) {
      await asking;
      location.assign(nextPath());
      return;
    }
    $("password").value = "";
    if (r.status === 429) $("error").textContent = s.locked(r.headers.get("Retry-After") || "60");
    else $("error").textContent = s.failed;
    $("password").focus();
  } catch (e) {
    $("error").textContent = s.offline;
  } finally {
    $("submit").disabled = false;
    $("submit").textContent = t().submit;
  }
});

$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("xs.lang", lang);
  applyLanguage();
  whoami();
});

applyLanguage();
whoami();
$("username").focus();
