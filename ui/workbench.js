// Knowledge operators' workbench: missed questions -> drafts -> preview -> gate -> publish,
// history with field-level diffs and roll-back, 好差评 review tasks.  Text only, never markup.
"use strict";

const { api, el, replace } = Staff;
const $ = (id) => document.getElementById(id);
const SIGNALS = {
  no_answer: "未能回答", low_confidence: "需要反问", clarify_unanswered: "反问未选择", thumbs_down: "没帮助",
  low_rating: "差评", handoff_missing: "知识缺失转人工",
};
const FINDINGS = { knowledge_wrong: "知识有误", knowledge_missing: "知识缺失", retrieval: "检索问题", staff: "人工服务" };
const CHANGE = { newly_failing: "新失败", newly_passing: "新通过", passing: "通过", failing: "仍失败", error: "出错" };
const FIELD_LABELS = {
  name: "名称", name_en: "英文名称", kind: "类型", domain: "领域", department: "部门", summary: "概述", summary_en: "英文概述",
  updated: "更新日期", aliases: "别名（每行一个）", situations: "情形", conditions: "办理条件（每行一条）",
  conditions_en: "英文办理条件", materials: "申请材料", process: "办理流程", fees: "收费", time_limit: "办理时限",
  fees_en: "英文收费", time_limit_en: "英文办理时限", benefit: "待遇", locations: "办理地点", online: "网上办理",
  legal_basis: "办理依据", phone: "咨询电话", faqs: "常见问题", related: "相关事项", prerequisites: "前置事项",
  effective_from: "生效日期", effective_to: "失效日期",
};
const state = { item: null, draft: null, gate: null };

const fail = (e) => { $("error").textContent = e.message || String(e); };
const notice = (text) => { $("error").textContent = ""; $("notice").textContent = text; };
const busy = async (button, work) => {
  button.disabled = true;
  try { return await work(); } catch (e) { fail(e); return null; } finally { button.disabled = false; }
};

// ------------------------------------------------------------------ tabs
function show(tab) {
  for (const t of ["missed", "items", "reviews"]) {
    $(`panel-${t}`).hidden = t !== tab;
    $(`tab-${t}`).setAttribute("aria-pressed", String(t === tab));
  }
  if (tab === "missed") loadMissed();
  if (tab === "reviews") loadReviews();
}
for (const t of ["missed", "items", "reviews"]) $(`tab-${t}`).addEventListener("click", () => show(t));

// ------------------------------------------------------------------ conversations
async function openConversation(id) {
  try {
    const c = await api("GET", `/api/v1/workbench/conversations/${encodeURIComponent(id)}`);
    replace("conversation-body", c.messages.map((m) =>
      el("div", { class: `msg ${m.role}` }, `${{ user: "市民", assistant: "小申", agent: "客服", system: "系统" }[m.role] || m.role}：${m.text}`,
        m.action ? el("small", {}, `（${m.action}${m.items.length ? " · " + m.items.join(",") : ""}）`) : null)));
    $("conversation").hidden = false;
    $("conversation-close").focus();
  } catch (e) { fail(e); }
}
$("conversation-close").addEventListener("click", () => { $("conversation").hidden = true; });

// ------------------------------------------------------------------ missed questions
async function loadMissed() {
  try {
    const data = await api("GET", `/api/v1/workbench/missed?sort=${$("missed-sort").value}&marked=${$("missed-marked").checked}`);
    $("missed-count").textContent = `（${data.groups.length} 组，${data.questions} 个问题）`;
    replace("missed-list", data.groups.length ? data.groups.map(groupView) : [el("li", {}, "暂无待补问题")]);
  } catch (e) { fail(e); }
}
$("missed-sort").addEventListener("change", loadMissed);
$("missed-marked").addEventListener("change", loadMissed);
$("missed-refresh").addEventListener("click", loadMissed);

function groupView(g) {
  const pick = el("select", { "aria-label": `为“${g.text}”选择事项` },
    g.suggestions.map((s) => el("option", { value: s.id }, `${s.name}（${s.id}）`)),
    el("option", { value: "" }, "其他事项…"));
  const other = el("input", { "aria-label": "其他事项编号", placeholder: "事项编号", size: 22, hidden: true });
  pick.addEventListener("change", () => { other.hidden = pick.value !== ""; });
  const itemId = () => pick.value || other.value.trim();
  const faqBox = el("div", { class: "faq-form", hidden: true },
    el("label", {}, "答案 ", el("textarea", { class: "faq-answer", "aria-label": "常见问题的答案" })),
    el("label", {}, "英文问题 ", el("input", { class: "faq-q-en", "aria-label": "英文问题", size: 40 })),
    el("label", {}, "英文答案 ", el("textarea", { class: "faq-a-en", "aria-label": "英文答案" })));
  const group = g.questions.filter((q) => q !== g.text);
  const fix = async (kind, button) => busy(button, async () => {
    if (!itemId()) throw new Error("请先选择事项");
    const body = { kind, question: g.text, group, group_key: g.key };
    if (kind === "faq") {
      if (faqBox.hidden) { faqBox.hidden = false; faqBox.querySelector("textarea").focus(); return; }
      body.answer = faqBox.querySelector(".faq-answer").value;
      body.question_en = faqBox.querySelector(".faq-q-en").value;
      body.answer_en = faqBox.querySelector(".faq-a-en").value;
    }
    await api("POST", `/api/v1/workbench/items/${encodeURIComponent(itemId())}/fix`, body);
    notice(`已写入 ${itemId()} 的草稿：${kind === "alias" ? "别名" : "常见问题"}“${g.text}”。请预览、检查后发布。`);
    show("items");
    await openItem(itemId());
  });
  const aliasBtn = el("button", { type: "button", class: "fix-alias" }, "加为别名");
  aliasBtn.addEventListener("click", () => fix("alias", aliasBtn));
  const faqBtn = el("button", { type: "button", class: "fix-faq" }, "加为常见问题");
  faqBtn.addEventListener("click", () => fix("faq", faqBtn));
  const scopeBtn = el("button", { type: "button" }, g.mark ? "重新打开" : "不属于服务范围");
  scopeBtn.addEventListener("click", () => busy(scopeBtn, async () => {
    await api("POST", "/api/v1/workbench/missed/mark", { key: g.key, status: g.mark ? "open" : "out_of_scope" });
    await loadMissed();
  }));
  return el("li", { class: "group", "data-key": g.key },
    el("h3", {}, g.text, " ", el("span", { class: "badge count" }, `${g.count} 次`)),
    el("div", { class: "row" }, Object.entries(g.signals).map(([k, v]) => el("span", { class: "badge" }, `${SIGNALS[k] || k} ${v}`)),
      el("small", {}, `最近 ${new Date(g.newest).toLocaleString()}`),
      g.mark ? el("span", { class: "badge" }, g.mark.status === "fixed" ? `已修正（${g.mark.item_id}）` : "不属于服务范围") : null),
    g.questions.length > 1 ? el("details", {}, el("summary", {}, `同组问题 ${g.questions.length} 个`),
      el("ul", {}, g.questions.map((q) => el("li", {}, q)))) : null,
    el("div", { class: "row" }, "对话：", g.conversations.slice(0, 5).map((c, n) => {
      const b = el("button", { type: "button", class: "link" }, `#${n + 1}`);
      b.addEventListener("click", () => openConversation(c));
      return b;
    })),
    el("div", { class: "row" }, el("label", {}, "事项 ", pick), other, aliasBtn, faqBtn, scopeBtn),
    faqBox);
}

// ------------------------------------------------------------------ items and the editor
$("item-search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const rows = await api("GET", `/api/v1/workbench/items?q=${encodeURIComponent($("item-search").value)}`);
    replace("item-list", rows.slice(0, 30).map((r) => {
      const b = el("button", { type: "button", class: "link" }, `${r.name}（${r.id}）`);
      b.addEventListener("click", () => openItem(r.id));
      return el("li", {}, b, " ", el("span", { class: "badge" }, r.live ? "已发布" : r.status), r.draft ? el("span", { class: "badge draft" }, "有草稿") : null);
    }));
  } catch (e) { fail(e); }
});

function fieldInput(f) {
  const id = `field-${f.name}`;
  const label = el("label", { for: id }, `${FIELD_LABELS[f.name] || f.name}（${f.name}）`);
  let input;
  if (f.kind === "text" || f.kind === "date") input = el("input", { id, name: f.name, value: f.value, size: 50, placeholder: f.kind === "date" ? "YYYY-MM-DD" : "" });
  else input = el("textarea", { id, name: f.name, class: `field-${f.kind}`, rows: f.kind === "yaml" ? 8 : 3 });
  if (input.tagName === "TEXTAREA") input.value = f.value;
  input.dataset.original = f.value;
  return el("div", { class: `field kind-${f.kind}` }, label, input);
}

async function openItem(id) {
  try {
    const data = await api("GET", `/api/v1/workbench/items/${encodeURIComponent(id)}`);
    state.item = data;
    state.draft = data.draft;
    state.gate = data.draft && data.draft.gate;
    $("editor").hidden = false;
    $("editor-title").textContent = `${id}${data.live ? "（已发布）" : ""}`;
    renderDraft();
    const questions = new Set([...((data.draft && data.draft.questions) || []), ...(data.benchmark_questions || [])]);
    $("preview-questions").value = [...questions].join("\n");
    replace("gate", state.gate ? gateView(state.gate) : []);
    replace("preview-result");
    replace("history");
  } catch (e) { fail(e); }
}

function renderDraft() {
  const d = state.draft;
  const fields = (d ? d.fields : state.item.published.fields);
  replace("fields", fields.map(fieldInput));
  $("draft-status").textContent = d
    ? `草稿：${d.by || "—"} 于 ${d.updated_at}${d.stale ? "；已发布版本在此之后被修改，请放弃草稿后重做" : ""}${d.questions.length ? `；附加待补问题 ${d.questions.length} 个` : ""}`
    : "没有草稿：修改字段并保存即创建草稿。";
  replace("problems", d && d.problems.length ? d.problems.map((p) => el("li", { class: "problem" }, p)) : [el("li", {}, d ? "没有问题" : "—")]);
  replace("diff", d ? diffView(d.diff) : []);
}

function diffView(diff) {
  if (!diff.length) return [el("p", {}, "与已发布版本相同")];
  return [el("table", { class: "diff" },
    el("tr", {}, el("th", {}, "字段"), el("th", {}, "之前"), el("th", {}, "之后")),
    diff.map((d) => el("tr", { "data-field": d.field }, el("td", {}, d.field),
      el("td", {}, d.removed ? d.removed.map((v) => el("div", { class: "removed" }, "− " + fmt(v))) : fmt(d.before)),
      el("td", {}, d.added ? d.added.map((v) => el("div", { class: "added" }, "+ " + fmt(v))) : fmt(d.after)))))];
}
const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v));

$("save-draft").addEventListener("click", () => busy($("save-draft"), async () => {
  const changes = {};
  for (const input of $("fields").querySelectorAll("input, textarea")) {
    if (input.value !== input.dataset.original) changes[input.name] = input.value;
  }
  if (!Object.keys(changes).length && state.draft) { notice("没有修改"); return; }
  const d = await api("PUT", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/draft`, { fields: changes });
  state.draft = d;
  state.gate = null;
  replace("gate");
  renderDraft();
  notice(`草稿已保存：${d.changed.join("、") || "无字段变化"}；问题 ${d.problems.length} 个`);
}));

$("discard-draft").addEventListener("click", () => busy($("discard-draft"), async () => {
  await api("DELETE", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/draft`);
  notice("草稿已放弃");
  await openItem(state.item.id);
}));

$("preview").addEventListener("click", () => busy($("preview"), async () => {
  const questions = $("preview-questions").value.split("\n").map((q) => q.trim()).filter(Boolean);
  const r = await api("POST", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/preview`, { questions });
  replace("preview-result", el("table", { class: "preview" },
    el("tr", {}, el("th", {}, "问题"), el("th", {}, "已发布"), el("th", {}, "草稿")),
    r.rows.map((row) => el("tr", { class: row.changed ? "changed" : "" }, el("td", {}, row.question),
      ["published", "draft"].map((side) => el("td", { class: `side-${side}` },
        el("div", { class: "badge" }, `${row[side].action} · ${row[side].items.join(", ") || "—"}`),
        el("div", { class: "answer-text" }, row[side].answer)))))));
}));

function gateView(g) {
  const rows = g.turns.map((t) => el("tr", { class: `gate-${t.change}` },
    el("td", {}, t.source === "missed" ? "待补问题" : t.case_id), el("td", {}, t.user),
    el("td", {}, t.expect_items.join(",") || "—"),
    el("td", {}, `${t.live_top.join(",") || "—"}（${t.live_action}）`),
    el("td", {}, `${t.draft_top.join(",") || "—"}（${t.draft_action}）`),
    el("td", { class: "change" }, CHANGE[t.change] || t.change, t.error ? ` ${t.error}` : "")));
  return [
    el("p", { class: g.passed ? "gate-ok" : "gate-fail", role: "status" },
      g.passed ? "发布检查通过" : "发布检查未通过：草稿使已通过的评测用例失败",
      `（${Object.entries(g.counts).map(([k, v]) => `${CHANGE[k] || k} ${v}`).join("，")}）`),
    g.notes.length ? el("ul", {}, g.notes.map((n) => el("li", {}, n))) : null,
    el("table", { class: "gate-table" },
      el("tr", {}, ["用例", "问题", "应为", "已发布", "草稿", "变化"].map((h) => el("th", {}, h))), rows),
  ];
}

$("run-gate").addEventListener("click", () => busy($("run-gate"), async () => {
  const g = await api("POST", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/gate`);
  state.gate = g;
  replace("gate", gateView(g));
}));

$("publish").addEventListener("click", () => busy($("publish"), async () => {
  try {
    const r = await api("POST", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/publish`,
      { override_reason: $("override-reason").value });
    notice(`已发布 ${r.item_id} 第 ${r.version} 版（重建索引 ${r.build_seconds} 秒），市民的新问题即刻按新内容回答。`);
    await openItem(state.item.id);
    await loadHistory();
  } catch (e) {
    if (e.body && e.body.gate) replace("gate", gateView(e.body.gate));
    throw e;
  }
}));

async function loadHistory() {
  const h = await api("GET", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/history`);
  replace("history", h.versions.map((v) => {
    const back = el("button", { type: "button", class: "rollback" }, `回滚到第 ${v.n} 版`);
    back.addEventListener("click", () => busy(back, async () => {
      try {
        const r = await api("POST", `/api/v1/workbench/items/${encodeURIComponent(state.item.id)}/rollback`,
          { version: v.n, override_reason: $("override-reason").value });
        notice(`已回滚：现为第 ${r.version} 版`);
      } catch (e) {
        if (e.body && e.body.gate) replace("gate", gateView(e.body.gate));
        throw e;
      }
      await openItem(state.item.id);
      await loadHistory();
    }));
    return el("li", { class: "version", "data-version": v.n },
      el("div", {}, el("b", {}, `第 ${v.n} 版`), ` ${v.at} · ${v.by} · ${v.change}`, v.current ? el("span", { class: "badge" }, "当前") : null,
        v.gate && v.gate.override ? el("span", { class: "badge" }, `主管覆盖：${v.gate.override.reason}`) : null),
      v.diff.length ? diffView(v.diff) : null,
      v.current ? null : back);
  }).concat(h.file_history.length ? [el("li", {}, el("details", {}, el("summary", {}, "文件中的修改记录"),
    el("ul", {}, h.file_history.map((e) => el("li", {}, `${e.at} · ${e.by} · ${e.change}`)))))] : []));
}
$("load-history").addEventListener("click", () => busy($("load-history"), loadHistory));

// ------------------------------------------------------------------ 好差评 reviews
async function loadReviews() {
  try {
    const r = await api("GET", "/api/v1/workbench/reviews");
    const s = r.summary;
    replace("review-summary", [
      ["bad", "差评", s.bad_ratings], ["ontime", "5个工作日内修正", s.fixed_on_time],
      ["overdue", "逾期未处理", s.open_overdue], ["open", "待处理（未到期）", s.open_not_due],
      ["rate", "按时修正率", s.on_time_rate === null ? "—" : (s.on_time_rate * 100).toFixed(1) + "%"],
    ].map(([id, l, v]) => el("div", { class: "card kpi", "data-kpi": id }, el("div", { class: "l" }, l), el("div", { class: "v" }, String(v)))));
    replace("review-list", r.tasks.length ? r.tasks.map((t) => reviewView(t, r.findings)) : [el("li", {}, "暂无差评")]);
  } catch (e) { fail(e); }
}

function reviewView(t, findings) {
  const li = el("li", { class: `group review ${t.status}`, "data-feedback": t.feedback_id },
    el("h3", {}, `${t.rating} 星`, " ", el("span", { class: "badge" }, t.status === "open" ? (t.overdue ? "逾期" : "待复核") : "已关闭"),
      " ", el("small", {}, `评价于 ${new Date(t.rated_at).toLocaleString()}，应于 ${t.due} 前处理`)),
    t.comment ? el("p", {}, `市民留言：${t.comment}`) : null);
  const view = el("button", { type: "button", class: "link" }, "查看对话");
  view.addEventListener("click", () => openConversation(t.conversation_id));
  li.appendChild(view);
  if (t.closed) {
    li.appendChild(el("p", {}, `结论：${FINDINGS[t.closed.finding] || t.closed.finding}；修正：${t.closed.fix || "—"}；留言：${t.closed.note}（${t.closed.by}，${t.closed.closed_at}）`));
    return li;
  }
  const finding = el("select", { "aria-label": "复核结论" }, findings.map((f) => el("option", { value: f }, FINDINGS[f] || f)));
  const fix = el("input", { "aria-label": "关联的修正（事项、版本或工单）", size: 30, placeholder: "例如 passport-apply 第3版" });
  const note = el("textarea", { "aria-label": "给市民的留言" });
  const close = el("button", { type: "button", class: "primary" }, "关闭复核");
  close.addEventListener("click", () => busy(close, async () => {
    await api("POST", `/api/v1/workbench/reviews/${t.feedback_id}/close`, { finding: finding.value, fix: fix.value, note: note.value });
    notice("复核已关闭，市民已收到留言");
    await loadReviews();
  }));
  li.appendChild(el("div", { class: "row" }, el("label", {}, "结论 ", finding), el("label", {}, "修正 ", fix)));
  li.appendChild(el("label", { class: "block" }, "给市民的留言 ", note));
  li.appendChild(close);
  return li;
}

loadMissed();
