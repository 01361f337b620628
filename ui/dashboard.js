// Dashboard: KPIs and hand-drawn SVG charts from /api/v1/metrics and /api/v1/workbench/insights
// (no chart library, no CDN; every label is written as text).
"use strict";

const { api, el, replace, bars } = Staff;
const $ = (id) => document.getElementById(id);
const REASONS = {
  customer_request: "用户要求", low_confidence: "未能解答", missing_knowledge: "知识缺失",
  negative_feedback: "连续差评", complaint: "投诉", sensitive: "敏感",
};
const INTENTS = {
  "consult.overview": "概述", "consult.materials": "材料", "consult.conditions": "条件", "consult.process": "流程",
  "consult.fee": "收费", "consult.time_limit": "时限", "consult.location": "地点", "consult.online": "网办",
  request_human: "转人工", complaint: "投诉", greeting: "寒暄", thanks: "致谢", out_of_scope: "范围外",
};
const ASPECTS = {
  overview: "概述", materials: "材料", conditions: "条件", process: "流程", fee: "收费", benefit: "待遇",
  time_limit: "时限", location: "地点", online: "网办",
};
const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");
const sec = (v) => (v === null || v === undefined ? "—" : v.toFixed(0) + " 秒");
const num = (v) => (v === null || v === undefined ? "—" : String(v));

function kpis(o, target) {
  const cards = [
    ["self-service", "自助解决率", pct(o.self_service_rate), `已解决 ${o.self_service_resolved} · 待判定 ${o.self_service_pending}`],
    ["handoff", "转人工率", pct(o.handoff_rate), `${o.handoffs} / ${o.conversations} 个会话`],
    ["p50", "首次响应 P50", sec(o.first_response_p50_s), `目标 ${target} 秒`],
    ["p90", "首次响应 P90", sec(o.first_response_p90_s), `${o.first_responses} 次响应`],
    ["within", "目标内响应", pct(o.first_response_within_target), `超时未响应 ${o.open_breaches}`],
    ["human", "人工解决率", pct(o.human_resolution_rate), `已解决 ${o.human_resolved} · 已关闭 ${o.human_closed}`],
    ["rating", "好差评均分", o.rating_mean === null ? "—" : o.rating_mean.toFixed(2), `${o.ratings} 次评价`],
    ["tickets", "工单数", num(o.tickets), `有帮助 ${o.thumbs_up} · 没帮助 ${o.thumbs_down}`],
  ];
  replace("kpis", cards.map(([id, l, v, s]) => el("div", { class: "card kpi", "data-kpi": id },
    el("div", { class: "l" }, l), el("div", { class: "v" }, v), el("div", { class: "l" }, s))));
}

function daily(byDay) {
  const days = Object.keys(byDay).sort().slice(-14);
  if (!days.length) return replace("daily", el("p", {}, "暂无数据"));
  const W = 440, H = 180, pad = 28, bw = (W - pad) / days.length;
  const max = Math.max(...days.map((d) => byDay[d].conversations), 1);
  const svg = el("svg", { width: W, height: H, role: "img", "aria-label": "每日会话与转人工" }, el("text", { x: 0, y: 12 }, `最多 ${max}`));
  days.forEach((d, i) => {
    const r = byDay[d], x = pad + i * bw;
    const hc = (r.conversations / max) * (H - 40), hh = (r.handoffs / max) * (H - 40);
    svg.append(
      el("rect", { x: x + 2, y: H - 20 - hc, width: bw / 2 - 2, height: hc, fill: "#0b5cab" }, el("title", {}, `${d} 会话 ${r.conversations}`)),
      el("rect", { x: x + bw / 2, y: H - 20 - hh, width: bw / 2 - 2, height: hh, fill: "#b44d12" }, el("title", {}, `${d} 转人工 ${r.handoffs}`)),
      el("text", { x, y: H - 5 }, d.slice(5)));
  });
  replace("daily", svg, el("div", {}, el("span", { class: "badge legend-conv" }, "会话"), el("span", { class: "badge legend-handoff" }, "转人工")));
}

function table(id, rows, name, names = {}) {
  const head = el("tr", {}, [name, "会话", "转人工率", "自助解决率", "工单", "首响P50", "首响P90", "人工解决率", "均分"].map((h) => el("th", {}, h)));
  replace(id, head, Object.entries(rows).map(([k, r]) => el("tr", {},
    el("td", {}, names[k] ? `${names[k]}（${k}）` : k), el("td", {}, String(r.conversations)), el("td", {}, pct(r.handoff_rate)),
    el("td", {}, pct(r.self_service_rate)), el("td", {}, String(r.tickets)), el("td", {}, sec(r.first_response_p50_s)),
    el("td", {}, sec(r.first_response_p90_s)), el("td", {}, pct(r.human_resolution_rate)),
    el("td", {}, r.rating_mean === null ? "—" : r.rating_mean.toFixed(2)))));
}

function reviews(s, days) {
  $("review-days").textContent = String(days);
  replace("reviews", el("div", { class: "kpis" }, [
    ["reviews-rate", "按时修正率", pct(s.on_time_rate)], ["reviews-bad", "差评", num(s.bad_ratings)],
    ["reviews-ontime", "按时修正", num(s.fixed_on_time)], ["reviews-overdue", "逾期未处理", num(s.open_overdue)],
    ["reviews-open", "待处理", num(s.open_not_due)],
  ].map(([id, l, v]) => el("div", { class: "card kpi", "data-kpi": id }, el("div", { class: "l" }, l), el("div", { class: "v" }, v)))));
}

async function refresh() {
  const days = Number($("range").value);
  const since = new Date(Date.now() - days * 86400000).toISOString();
  try {
    const m = await api("GET", `/api/v1/metrics?since=${encodeURIComponent(since)}`);
    $("error").textContent = "";
    kpis(m.overall, m.first_response_target_s);
    daily(m.by_day);
    replace("reasons", bars(Object.entries(m.handoff_reasons).map(([k, v]) => [REASONS[k] || k, v]), { color: "#b44d12", label: "转人工原因" }));
    replace("ratings", bars(["5", "4", "3", "2", "1"].map((k) => [`${k} 星`, m.overall.rating_distribution[k] || 0]), { color: "#b45309", label: "好差评分布" }));
    replace("department-chart", bars(Object.entries(m.by_department).map(([k, r]) => [k, r.conversations]), { label: "各部门会话" }));
    replace("item-chart", bars(Object.entries(m.by_item).sort((a, b) => b[1].conversations - a[1].conversations).slice(0, 12)
      .map(([k, r]) => [m.item_names[k] || k, r.conversations]), { width: 560, label: "各事项会话" }));
    table("departments", m.by_department, "部门");
    table("items", m.by_item, "事项", m.item_names);
  } catch (e) { $("error").textContent = e.message; }
  try {
    const w = await api("GET", "/api/v1/workbench/insights");
    reviews(w.reviews, w.review_days);
    replace("missed", w.top_missed.length ? w.top_missed.map((g) => el("li", {}, `${g.text}（${g.count} 次）`)) : [el("li", {}, "暂无")]);
    replace("intents", bars(Object.entries(w.intents).map(([k, v]) => [INTENTS[k] || k, v]), { color: "#0f7b4a", label: "意图分布" }));
    replace("aspects", bars(Object.entries(w.aspects).map(([k, v]) => [ASPECTS[k] || k, v]), { color: "#6d28d9", label: "所问方面" }));
  } catch (e) { if (e.status !== 403) $("error").textContent = e.message; }
}
$("range").setAttribute("aria-label", "时间范围");
$("range").addEventListener("change", refresh);
refresh();
setInterval(refresh, 5000);
