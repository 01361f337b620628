// Dashboard: KPIs and hand-drawn SVG charts from /api/v1/metrics (no chart library, no CDN).
"use strict";

const $ = (id) => document.getElementById(id);
const REASONS = {
  customer_request: "用户要求", low_confidence: "未能解答", missing_knowledge: "知识缺失",
  negative_feedback: "连续差评", complaint: "投诉", sensitive: "敏感",
};
const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%");
const sec = (v) => (v === null || v === undefined ? "—" : v.toFixed(0) + " 秒");
const num = (v) => (v === null || v === undefined ? "—" : String(v));
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

function kpis(o, target) {
  const cards = [
    ["self-service", "自助解决率", pct(o.self_service_rate), `已解决 ${o.self_service_resolved} · 待判定 ${o.self_service_pending}`],
    ["handoff", "转人工率", pct(o.handoff_rate), `${o.handoffs} / ${o.conversations} 个会话`],
    ["p50", "首次响应 P50", sec(o.first_response_p50_s), `目标 ${target} 秒`],
    ["p90", "首次响应 P90", sec(o.first_response_p90_s), `${o.first_responses} 次响应`],
    ["within", "目标内响应", pct(o.first_response_within_target), `超时未响应 ${o.open_breaches}`],
    ["human", "人工解决率", pct(o.human_resolution_rate), `已解决 ${o.human_resolved} · 已关闭 ${o.human_closed}`],
    ["rating", "好差评均分", o.rating_mean === null ? "—" : o.rating_mean.toFixed(2), `${o.ratings} 次评价`],
    ["tickets", "工单数", num(o.tickets), `👍 ${o.thumbs_up} · 👎 ${o.thumbs_down}`],
  ];
  $("kpis").innerHTML = cards.map(([id, l, v, s]) =>
    `<div class="card kpi" data-kpi="${id}"><div class="l">${l}</div><div class="v">${v}</div><div class="l">${esc(s)}</div></div>`).join("");
}

function bars(el, rows, { color = "#0b5cab", width = 420 } = {}) {
  // rows: [label, value]; horizontal bars scaled to the largest value.
  if (!rows.length) { el.innerHTML = "<p>暂无数据</p>"; return; }
  const max = Math.max(...rows.map((r) => r[1]), 1);
  const h = 24 * rows.length + 8;
  const parts = rows.map(([label, value], i) => {
    const w = Math.max(2, (value / max) * (width - 170));
    const y = 4 + i * 24;
    return `<text x="0" y="${y + 15}">${esc(label)}</text><rect x="120" y="${y + 3}" width="${w}" height="16" fill="${color}"></rect>` +
      `<text x="${126 + w}" y="${y + 15}">${value}</text>`;
  });
  el.innerHTML = `<svg width="${width}" height="${h}" role="img">${parts.join("")}</svg>`;
}

function daily(el, byDay) {
  const days = Object.keys(byDay).sort().slice(-14);
  if (!days.length) { el.innerHTML = "<p>暂无数据</p>"; return; }
  const W = 440, H = 180, pad = 28, bw = (W - pad) / days.length;
  const max = Math.max(...days.map((d) => byDay[d].conversations), 1);
  const parts = days.map((d, i) => {
    const r = byDay[d];
    const x = pad + i * bw;
    const hc = (r.conversations / max) * (H - 40), hh = (r.handoffs / max) * (H - 40);
    return `<rect x="${x + 2}" y="${H - 20 - hc}" width="${bw / 2 - 2}" height="${hc}" fill="#0b5cab"><title>${d} 会话 ${r.conversations}</title></rect>` +
      `<rect x="${x + bw / 2}" y="${H - 20 - hh}" width="${bw / 2 - 2}" height="${hh}" fill="#b44d12"><title>${d} 转人工 ${r.handoffs}</title></rect>` +
      `<text x="${x}" y="${H - 5}">${d.slice(5)}</text>`;
  });
  el.innerHTML = `<svg width="${W}" height="${H}" role="img"><text x="0" y="12">最多 ${max}</text>${parts.join("")}</svg>` +
    `<div><span class="badge legend-conv">会话</span><span class="badge legend-handoff">转人工</span></div>`;
}

function table(el, rows, name, names = {}) {
  const head = `<tr><th>${name}</th><th>会话</th><th>转人工率</th><th>自助解决率</th><th>工单</th><th>首响P50</th><th>首响P90</th><th>人工解决率</th><th>均分</th></tr>`;
  el.innerHTML = head + Object.entries(rows).map(([k, r]) =>
    `<tr><td>${esc(names[k] ? `${names[k]}（${k}）` : k)}</td><td>${r.conversations}</td><td>${pct(r.handoff_rate)}</td><td>${pct(r.self_service_rate)}</td>` +
    `<td>${r.tickets}</td><td>${sec(r.first_response_p50_s)}</td><td>${sec(r.first_response_p90_s)}</td>` +
    `<td>${pct(r.human_resolution_rate)}</td><td>${r.rating_mean === null ? "—" : r.rating_mean.toFixed(2)}</td></tr>`).join("");
}

async function refresh() {
  const days = Number($("range").value);
  const since = new Date(Date.now() - days * 86400000).toISOString();
  try {
    // The service levels are for signed-in supervisors (the session cookie); signed out: to /login.
    const r = await fetch(`/api/v1/metrics?since=${encodeURIComponent(since)}`);
    if (r.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
    const m = await r.json();
    if (!r.ok) throw new Error((m.error && m.error.message) || r.statusText);
    $("error").textContent = "";
    kpis(m.overall, m.first_response_target_s);
    daily($("daily"), m.by_day);
    bars($("reasons"), Object.entries(m.handoff_reasons).map(([k, v]) => [REASONS[k] || k, v]), { color: "#b44d12" });
    bars($("ratings"), ["5", "4", "3", "2", "1"].map((k) => [`${k} 星`, m.overall.rating_distribution[k] || 0]), { color: "#f59e0b" });
    table($("departments"), m.by_department, "部门");
    table($("items"), m.by_item, "事项", m.item_names);
  } catch (e) { $("error").textContent = e.message; }
}
$("range").addEventListener("change", refresh);
refresh();
setInterval(refresh, 5000);
