// Evaluators: upload or pick a benchmark, run it with a progress bar, read the report and
// its plots, compare two runs, download metrics.json and failures.jsonl.
"use strict";

const { api, el, replace } = Staff;
const $ = (id) => document.getElementById(id);
const STATUS = { queued: "排队中", running: "运行中", done: "完成", failed: "失败" };
const HEADLINE = [
  ["retrieval.hit@1", "命中@1"], ["retrieval.hit@5", "命中@5"], ["retrieval.mrr@10", "MRR@10"],
  ["intent.accuracy", "意图准确率"], ["intent.macro_f1", "意图宏F1"], ["action.accuracy", "动作准确率"],
  ["resolution_proxy", "解决率（代理）"], ["answer.facts_recall", "事实召回"], ["latency_ms.p50", "延迟P50 毫秒"],
  ["latency_ms.p95", "延迟P95 毫秒"],
];
const at = (obj, path) => path.split(".").reduce((o, k) => (o && k in o ? o[k] : null), obj);
const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? (Math.abs(v) < 10 ? v.toFixed(3) : v.toFixed(0)) : String(v));
const fail = (e) => { $("error").textContent = e.message || String(e); };
const notice = (t) => { $("error").textContent = ""; $("notice").textContent = t; };
let timer = null;

async function loadBenchmarks() {
  const b = await api("GET", "/api/v1/evaluation/benchmarks");
  replace("bench", [...b.builtin.map((n) => el("option", { value: n }, `${n}（内置）`)), ...b.uploaded.map((n) => el("option", { value: n }, n))]);
  replace("corpus", [el("option", { value: "" }, "—（本知识库）"), ...b.corpora.map((n) => el("option", { value: n }, n))]);
}

$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) { fail(new Error("请选择文件")); return; }
  try {
    const content = await file.text();
    const r = await api("POST", "/api/v1/evaluation/benchmarks", { name: file.name.replace(/\.[^.]+$/, ""), kind: $("upload-kind").value, content });
    notice(`已上传 ${r.name}：${r.cases} 条${r.turns ? `，${r.turns} 轮` : ""}；跳过 ${r.problems.length} 行`);
    replace("upload-problems", r.problems.map((p) => el("li", { class: "problem" }, p)));
    await loadBenchmarks();
    if ($("upload-kind").value === "benchmark") $("bench").value = r.name;
  } catch (e) { fail(e); }
});

$("run-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const body = { benchmark: $("bench").value, corpus: $("corpus").value, label: $("label").value };
    if ($("limit").value) body.limit = Number($("limit").value);
    const r = await api("POST", "/api/v1/evaluation/runs", body);
    notice(`评测 ${r.id} 已开始`);
    await loadRuns();
  } catch (e) { fail(e); }
});

async function loadRuns() {
  try {
    const runs = await api("GET", "/api/v1/evaluation/runs");
    const tbody = $("runs").querySelector("tbody");
    const checked = new Set([...tbody.querySelectorAll("input:checked")].map((i) => i.value));
    replace(tbody, runs.map((r) => {
      const p = r.progress || { done: 0, total: 0 };
      const bar = el("progress", { max: p.total || 1, value: r.status === "done" ? p.total || 1 : p.done, "aria-label": `评测 ${r.id} 进度` });
      const open = el("button", { type: "button", class: "link" }, `${r.benchmark}${r.label ? " · " + r.label : ""}`);
      open.addEventListener("click", () => showReport(r.id));
      const box = el("input", { type: "checkbox", value: r.id, "aria-label": `选择评测 ${r.id}` });
      box.checked = checked.has(r.id);
      return el("tr", { class: `run ${r.status}`, "data-run": r.id },
        el("td", {}, box), el("td", {}, open, el("br"), el("small", {}, `${r.id} · ${r.by || "—"}`)),
        el("td", { class: "status" }, STATUS[r.status] || r.status), el("td", {}, bar, ` ${p.done}/${p.total}`),
        el("td", {}, r.kb_version), el("td", { class: "hit1" }, r.status === "done" ? "…" : "—"));
    }));
    for (const r of runs.filter((x) => x.status === "done")) {
      api("GET", `/api/v1/evaluation/runs/${r.id}`).then((d) => {
        const cell = tbody.querySelector(`tr[data-run="${r.id}"] .hit1`);
        if (cell) cell.textContent = fmt(at(d.metrics, "retrieval.hit@1"));
      }).catch(() => {});
    }
    const running = runs.some((r) => r.status === "running" || r.status === "queued");
    if (running && !timer) timer = setInterval(loadRuns, 1000);
    if (!running && timer) { clearInterval(timer); timer = null; }
  } catch (e) { fail(e); }
}

async function showReport(id) {
  try {
    const r = await api("GET", `/api/v1/evaluation/runs/${id}`);
    $("report").hidden = false;
    $("report-title").textContent = `报告 ${r.id}`;
    $("report-meta").textContent = `评测集 ${r.benchmark}（${r.benchmark_file}）· 知识库版本 ${r.kb_version} · ${r.by || "—"} 于 ${r.created_at} 开始 · ${STATUS[r.status] || r.status}${r.error ? " · " + r.error.slice(-300) : ""}`;
    if (!r.metrics) { replace("report-metrics"); replace("report-plots"); replace("report-downloads"); return; }
    const file = (n) => `/api/v1/evaluation/runs/${r.id}/files/${n}`;
    replace("report-downloads", ["metrics.json", "failures.jsonl", "report.md", "settings.json"].filter((n) => r.files.includes(n))
      .map((n) => el("a", { href: file(n), download: `${r.id}-${n}`, class: "download" }, `下载 ${n}`)));
    replace("report-metrics", el("tr", {}, el("th", {}, "指标"), el("th", {}, "值")),
      HEADLINE.map(([p, l]) => el("tr", {}, el("td", {}, `${l}（${p}）`), el("td", {}, fmt(at(r.metrics, p))))),
      el("tr", {}, el("td", {}, "对话 / 轮次"), el("td", {}, `${r.metrics.cases} / ${r.metrics.turns}`)));
    replace("report-plots", r.files.filter((n) => n.endsWith(".png")).map((n) => el("figure", {},
      el("img", { src: file(n), alt: `${n.replace(".png", "")} 图` }), el("figcaption", {}, n))));
  } catch (e) { fail(e); }
}

$("compare").addEventListener("click", async () => {
  const ids = [...$("runs").querySelectorAll("tbody input:checked")].map((i) => i.value);
  if (ids.length !== 2) { fail(new Error("请勾选两次已完成的评测")); return; }
  const [b, a] = ids; // the list is newest first: the older run is the baseline
  try {
    const c = await api("POST", "/api/v1/evaluation/compare", { a, b });
    $("comparison").hidden = false;
    $("comparison-title").textContent = `比较：${a}（基准） → ${b}`;
    replace("comparison-metrics", el("tr", {}, ["指标", "基准", "新", "差值"].map((h) => el("th", {}, h))),
      Object.entries(c.metrics).map(([p, m]) => el("tr", { class: m.delta > 0 ? "up" : m.delta < 0 ? "down" : "" },
        el("td", {}, p), el("td", {}, fmt(m.a)), el("td", {}, fmt(m.b)), el("td", {}, m.delta === null ? "—" : (m.delta >= 0 ? "+" : "") + m.delta.toFixed(4)))));
    replace("newly-failing", c.newly_failing.length ? c.newly_failing.map((x) => el("li", {}, x)) : [el("li", {}, "无")]);
    replace("newly-passing", c.newly_passing.length ? c.newly_passing.map((x) => el("li", {}, x)) : [el("li", {}, "无")]);
  } catch (e) { fail(e); }
});

loadBenchmarks().then(loadRuns).catch(fail);
