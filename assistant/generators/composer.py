"""The grounded composer: the default Generator.

It writes the answer deterministically from the fields of the retrieved item
that match the intent (materials for a materials question, fees for a fee
question, ordered member steps for a 一件事 bundle) and nothing else, so it can
never state a fact that is not in the knowledge base.  Every answer cites the
fields it used (item id, field, updated date) and closes with the official
channel and the item's updated date.

English questions get English answers: the item's English name and summary
where the knowledge base has them, otherwise English sentences around the
Chinese official names and texts (a foreigner at a window needs those names
verbatim anyway).

The composer also writes the assistant's own lines that are not about an item
(greeting, refusal, clarifying question, handoff); those contain no facts
beyond the official 12345 hotline and the 一网通办 / 随申办 channel names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from assistant.core.types import (
    ASPECT_FIELDS,
    Action,
    AnswerPlan,
    AnswerUnit,
    Answer,
    AnswerStream,
    Citation,
    GenerationRequest,
    Lang,
    Material,
    Option,
    PlannedUnit,
    ServiceItem,
    Step,
    intent_aspect,
)
from assistant.generators.planning import AnswerPlanner, after_verdict, answers_fee, bare_verdict, containment, sentences

_CJK = re.compile(r"[\u4e00-\u9fff]")
#: A bracketed part holding Chinese characters: " (出生医学证明)", " (report the birth, 报出生)".
_CJK_BRACKETS = re.compile(r"\s*[(（][^()（）]*[\u4e00-\u9fff][^()（）]*[)）]")

#: Slot key under which the dialogue keeps the citizen's situation (情形) key.
SITUATION_SLOT = "situation"

_FORM_ZH = {
    "original": "原件",
    "copy": "复印件",
    "original_and_copy": "原件及复印件",
    "electronic": "电子材料",
    "form": "申请表",
}
_FORM_EN = {
    "original": "original",
    "copy": "copy",
    "original_and_copy": "original and copy",
    "electronic": "electronic",
    "form": "form",
}

#: What Xiao Shen can help with: said in greetings and refusals.
CAPABILITIES = {
    "zh": "我是小申，可以帮您查询上海市政务服务事项（如居住证、户籍、社保、医保、公积金、婚育、入学、企业开办、"
    "不动产、交通等）的办理条件、所需材料、办理流程、费用、时限、地点和线上办理渠道。",
    "en": "I am Xiao Shen. I can help with Shanghai government services (residence permits, hukou, social "
    "security, medical insurance, housing fund, marriage and birth, school enrolment, starting a business, "
    "real estate, traffic and more): who qualifies, which materials to bring, the steps, fees, time limits, "
    "where to go and how to apply online.",
}

_GREETING = {
    "zh": "您好！" + CAPABILITIES["zh"] + "请问您想办理什么事项？",
    "en": "Hello! " + CAPABILITIES["en"] + " What would you like to do?",
}
_THANKS = {
    "zh": "不客气，很高兴能帮到您！如果还有其他政务服务问题，随时问我。",
    "en": "You're welcome, glad to help! Ask me any time about another government service.",
}
_REFUSE = {
    "zh": "抱歉，这个问题不在我的服务范围内，我无法回答。" + CAPABILITIES["zh"],
    "en": "Sorry, I can't help with that. " + CAPABILITIES["en"],
}
_HANDOFF = {
    "customer_request": {
        "zh": "好的，正在为您转接人工客服，请稍候，客服会在这里回复您。您也可以拨打12345市民服务热线。",
        "en": "Sure, I'm connecting you to a staff member; they will reply here shortly. "
        "You can also call the 12345 citizen hotline.",
    },
    "low_confidence": {
        "zh": "抱歉，我暂时没能准确理解您的问题，已为您转接人工客服，请稍候。您也可以拨打12345市民服务热线。",
        "en": "Sorry, I could not work out your question. I'm passing you to a staff member; please wait. "
        "You can also call the 12345 citizen hotline.",
    },
}
_NO_MATCH = {
    "zh": "抱歉，我没有找到与您的问题对应的办事事项。能否换个说法，或说明具体想办理的事项名称（例如“居住证申领”“租房提取公积金”）？",
    "en": "Sorry, I could not find a matching service. Could you rephrase it or name the service "
    "(for example 'residence permit' or 'housing fund withdrawal for rent')?",
}
_CLARIFY_ITEMS = {
    "zh": "您想咨询的是以下哪一项？",
    "en": "Which of these services do you mean?",
}
_OFFER_PERSON = {
    "zh": "如需人工帮助，可以点击“转人工”。",
    "en": "If you would like help from a person, choose 'Talk to a person'.",
}
#: The option the UI shows as a "talk to a person" button.
PERSON_OPTION = {
    "zh": Option(label="转人工", value="request_human"),
    "en": Option(label="Talk to a person", value="request_human"),
}


#: The direct answer's verdict, said only where the deciding unit says so.
_VERDICT = {
    "zh": {"yes": "可以。", "no": "不可以。", "need": "需要。", "no_need": "不需要。"},
    "en": {"yes": "Yes. ", "no": "No. ", "need": "Yes. ", "no_need": "No. "},
}
_FIELD_HEAD = {
    "zh": {
        "conditions": "办理条件：",
        "situations": "不同情形的条件：",
        "process": "办理流程：",
        "fees": "收费标准：",
        "benefit": "待遇标准：",
        "time_limit": "办理时限：",
        "locations": "办理地点：",
        "online": "线上办理渠道：",
        "faqs": "常见问题：",
        "summary": "",
        "phone": "",
    },
    "en": {
        "conditions": "Who qualifies:",
        "situations": "Depending on your situation:",
        "process": "Steps:",
        "fees": "Fees: ",
        "benefit": "What it pays: ",
        "time_limit": "Time limit: ",
        "locations": "Where to apply:",
        "online": "Online:",
        "faqs": "Common questions:",
        "summary": "",
        "phone": "",
    },
}
#: A line whose content bigrams the short answer already holds to this share says
#: nothing new: it is left out.
_REPEAT = 0.9

#: Materials named in the short answer of a question that asks something else too.
_BRIEF_MATERIALS = 3

#: The heading of the rest of a running text whose focus the short answer gave.
_CONTINUED = {"zh": "{head}（续）：", "en": "{head} (continued): "}


def _without(text: str, focus: str) -> str:
    """``text`` without the sentences its ``focus`` already said, ``""`` when it adds nothing.

    A focus may be a sentence with its opening yes or no taken off (可以，未满16周岁… said
    as 未满16周岁…): that sentence was said too.  What is left of an FAQ once its answer
    was said is its question, and a bare 可以 / Yes, which say nothing new.
    """
    said = set(sentences(focus))
    rest = [
        part
        for part in sentences(text)
        if part not in said and (plain := after_verdict(part)) not in said and plain not in focus
    ]
    if all(part.endswith(("？", "?")) or bare_verdict(part) for part in rest):
        # only the question (and its bare 可以) is left
        return ""
    return ("" if _CJK.search(text) else " ").join(rest)


#: Headings of a list field whose best entry the short answer already gave.
_OTHER_HEAD = {
    "zh": {"conditions": "其他条件：", "situations": "其他情形：", "locations": "其他办理地点：", "online": "其他线上渠道："},
    "en": {"conditions": "Other conditions:", "situations": "Other situations:", "locations": "Other places:", "online": "Other online channels:"},
}

#: Fields whose units read as one running text (a fee line, a time limit), not a numbered list.
_ONE_LINE_FIELDS = frozenset({"fees", "time_limit", "benefit", "summary", "phone"})

_MORE_NOTE = {
    "zh": {
        "materials": "以上为主要材料，回复“查看全部材料”可看完整清单。",
        "process": "以上为主要步骤，回复“查看全部流程”可看完整流程。",
        "conditions": "以上为主要条件，回复“查看全部条件”可看完整条件。",
        "_": "回复“查看全部”可看完整内容。",
    },
    "en": {
        "materials": "These are the main materials; reply 'all materials' for the full list.",
        "process": "These are the main steps; reply 'all steps' for every step.",
        "conditions": "These are the main conditions; reply 'all conditions' for every one.",
        "_": "Reply 'show all' for the full text.",
    },
}
_MORE_OPTION = {
    "materials": {"zh": Option(label="查看全部材料", value="查看全部材料"), "en": Option(label="All materials", value="all materials")},
    "process": {"zh": Option(label="查看全部流程", value="查看全部流程"), "en": Option(label="All steps", value="all steps")},
    "conditions": {"zh": Option(label="查看全部条件", value="查看全部条件"), "en": Option(label="All conditions", value="all conditions")},
}


def _whole_line_factor(en: bool, aspects: int) -> float:
    """How many ``focus_chars`` a fee or time-limit text may run and still be said whole in
    the short answer: two for one asked aspect, one when others must follow it in the
    opening lines; English, which runs longer for the same content, two and a half times that."""
    return (2.5 if en else 1.0) * (2.0 if aspects <= 1 else 1.0)


def _intent_aspects(intent: str) -> tuple[str, ...]:
    aspect = intent_aspect(intent)
    return (aspect,) if aspect else ("overview",)


@dataclass(frozen=True)
class Section:
    """One field of an item rendered as text, with the citations it carries.

    ``also`` names further fields the text quotes (the supporting units of a plan).
    """

    field: str
    text: str
    also: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field this section cites, its own first."""
        return (self.field, *self.also)


def item_label(item: ServiceItem, lang: Lang) -> str:
    """The item's name in ``lang``; English names keep the Chinese official name beside them."""
    if lang == "en":
        return f"{item.name_en} ({item.name})" if item.name_en else f"「{item.name}」"
    return f"“{item.name}”"


def option_label(item: ServiceItem, lang: Lang) -> str:
    """A short button label for an item."""
    if lang == "en" and item.name_en:
        return item.name_en
    return item.name


def _materials_for(
    materials: Sequence[Material], situation: str
) -> tuple[list[Material], dict[str, list[Material]]]:
    """Of ``materials``, those every applicant needs, and those that depend on the situation.

    With a known ``situation`` its own materials lead what to bring (拍到沪牌了 上牌要准备什么:
    the quota certificate first), not extras after the list, and the second part is empty.
    """
    common = [m for m in materials if not m.situations]
    by_situation: dict[str, list[Material]] = {}
    for m in materials:
        for key in m.situations:
            if situation and key != situation:
                continue
            by_situation.setdefault(key, []).append(m)
    if situation in by_situation:
        common = by_situation.pop(situation) + common
    return common, by_situation


def _en_name(english: str, chinese: str) -> str:
    """An English name with the official Chinese one in brackets, unless it already names it."""
    if not english:
        return chinese
    return english if _CJK.search(english) else f"{english} ({chinese})"


def _material_line(m: Material, lang: Lang) -> str:
    if lang == "en":
        count = f", {m.count} copies" if m.count > 1 else ""
        note = f" — note: {m.note_en or m.note}" if m.note else ""
        return f"{_en_name(m.name_en, m.name)} ({_FORM_EN[m.form]}{count}){note}"
    count = f"{m.count}份" if m.count > 1 else ""
    note = f"（{m.note}）" if m.note else ""
    return f"{m.name}（{_FORM_ZH[m.form]}{count}）{note}"


def _material_short(m: Material, lang: Lang) -> str:
    """A material as a short answer names it: name and form (the note is one message away)."""
    if lang == "en":
        return f"{_en_name(m.name_en, m.name)}, {_FORM_EN[m.form]}" if m.name_en else f"{m.name} ({_FORM_EN[m.form]})"
    return f"{m.name}（{_FORM_ZH[m.form]}）"


def _situation_label(item: ServiceItem, key: str, lang: Lang) -> str:
    s = item.situation(key)
    if s is None:
        return key
    if lang == "en":
        return s.label_en or s.label
    return s.label


def _step_title(step: Step, lang: Lang) -> str:
    """A step's title in ``lang``: in English with the official Chinese name in brackets."""
    if lang == "en" and step.title_en:
        # most English titles already name the official Chinese term in brackets
        return _en_name(step.title_en, step.title)
    return step.title


def _bundle_order(item: ServiceItem, lang: Lang) -> str:
    """A bundle's member steps in order on one line: the short answer to 要办哪些事 / 先办哪个."""
    en = lang == "en"
    # in English the order reads without the bracketed Chinese names (the steps below keep them)
    titles = [_CJK_BRACKETS.sub("", _step_title(st, lang)).strip() if en else st.title for st in item.process]
    return ("In order: " if en else "办理顺序：") + " → ".join(titles) + ("." if en else "。")


def _bundle_details(item: ServiceItem, lang: Lang) -> str:
    """A bundle's member steps one a line, each with its detail and what it needs."""
    en = lang == "en"
    lines = []
    for st in item.process:
        needs = (st.needs_en or st.needs) if en else st.needs
        detail = (st.detail_en or st.detail) if en else st.detail
        line = _step_title(st, lang)
        if detail:
            line += (": " if en else "：") + detail
        if needs:
            line += f" (needs: {needs})" if en else f"（需要：{needs}）"
        lines.append(line)
    return ("Each step:" if en else "各步骤说明：") + "\n" + _numbered(lines)


def _numbered(lines: Sequence[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


class Composer:
    """Deterministic, grounded Generator built only from knowledge-base fields."""

    name = "composer"

    def __init__(self, planner: AnswerPlanner | None = None) -> None:
        self.planner = planner or AnswerPlanner()

    # ------------------------------------------------------------------ from the answer plan

    def plan_for(self, request: GenerationRequest) -> AnswerPlan:
        """The request's answer plan (the dialogue made it), or one made from the request."""
        item = request.items[0]
        if request.plan is not None and request.plan.item_id == item.id:
            return request.plan
        situation = request.state.slots.get(SITUATION_SLOT, "") if request.state else ""
        return self.planner.plan(
            item,
            request.question,
            request.aspects or _intent_aspects(request.intent),
            yes_no=request.yes_no,
            lang=request.lang,
            situation=situation,
        )

    def planned_sections(
        self, item: ServiceItem, plan: AnswerPlan, lang: Lang, *, situation: str = ""
    ) -> list[Section]:
        """The plan rendered as sections: the short answer first, then the detail behind it.

        The first section is the short answer: the verdict and the deciding unit, then
        one line for each asked aspect in the order asked (its best unit, or the sentence
        of a long unit that meets the question; a list as its names on one line), so
        that every part of a two-part question is answered in the opening lines.  The
        detail follows: what the short lines left out of each asked field, then the
        supporting units.  Bundles asked for an overview or the steps answer with their
        ordered member steps.
        """
        en = lang == "en"
        lead: list[str] = []
        lead_fields: list[str] = []
        stated: set[int] = set()  # units said in full in the short answer
        focused: dict[int, str] = {}  # units the short answer said by their focus

        def repeats(text: str) -> bool:
            # an FAQ answer and a field often say the same thing: say it once
            return containment(text, lead) >= _REPEAT

        def say(unit: AnswerUnit, focus: str, head: str = "") -> None:
            # a unit said by its focus is said whole in the detail below
            text = self._unit_text(item, unit, lang)
            if not repeats(focus or text):
                lead.append(head + (focus or text))
                lead_fields.append(unit.field)
            if not focus:
                stated.add(id(unit))
            else:
                focused[id(unit)] = focus

        direct = plan.by_role("direct")
        if direct:
            p = direct[0]
            say(p.unit, p.focus, _VERDICT[lang].get(plan.verdict, ""))
        if item.kind == "bundle" and set(plan.aspects) <= {"overview", "process"} and item.process:
            return self._bundle_sections(item, plan, lang, lead, lead_fields)

        groups: dict[str, list[PlannedUnit]] = {}
        for p in plan.units:
            if p.role == "asked":
                groups.setdefault(p.unit.field, []).append(p)
        # the direct answer decides the aspect its unit belongs to (a deciding situation
        # answers 能不能 for the conditions too): no second short line for that aspect
        decided = {
            f for p in direct for a in plan.aspects if p.unit.field in ASPECT_FIELDS.get(a, ()) for f in ASPECT_FIELDS[a]
        } | {p.unit.field for p in direct}
        # an FAQ that leads with an amount or 免费 has answered the fee (工本费20元 for 多少钱):
        # the fee lines follow in the detail, not again on top
        if "fee" in plan.aspects and any(
            p.unit.field == "faqs" and answers_fee(p.focus or self._unit_text(item, p.unit, lang)) for p in direct
        ):
            decided |= set(ASPECT_FIELDS["fee"])
        details: list[Section] = []
        for field, planned in groups.items():
            units = [p.unit for p in planned]
            if field == "materials":
                # asked something else too, the short answer names the few materials the
                # question points at (or the first ones) and the rest follows below
                brief = len(plan.aspects) > 1 and not plan.full
                short, rest = self._materials_sections(
                    item, units, lang, situation, more="materials" in plan.more, full=plan.full,
                    brief=[p.unit.index for p in sorted(planned, key=lambda p: -p.score)] if brief else None,
                )
                lead.append(short)
                lead_fields.append("materials")
                if rest:
                    details.append(Section("materials", rest))
                continue
            head = _FIELD_HEAD[lang].get(field, "")
            lead_head = head if not head or head.endswith((" ", "：")) else head + " "
            in_lead = len(lead)
            if field in decided or (field == "phone" and "locations" in groups):
                pass  # the direct answer decides this field; a phone stays with the places
            elif field == "process" and len(units) > 1 and not plan.full:
                titles = [_step_title(item.process[u.index], lang) for u in units if u.index < len(item.process)]
                lead.append(lead_head + " → ".join(titles) + ("." if en else "。"))
                lead_fields.append("process")
            elif field in _ONE_LINE_FIELDS and len(units) > 1 and sum(
                len(self._unit_text(item, u, lang)) for u in units
            ) <= self.planner.settings.focus_chars * _whole_line_factor(en, len(plan.aspects)):
                # a fee or time-limit text is one running text split into sentences: said
                # whole when it is short, else by its best sentence (the rest follows below)
                text = (" " if en else "").join(self._unit_text(item, u, lang) for u in units)
                if not repeats(text):
                    lead.append(lead_head + text)
                    lead_fields.append(field)
                stated.update(id(u) for u in units)
            else:
                # the field's best unit (or its best sentence) under the field's heading
                best = max(planned, key=lambda p: p.score)
                say(best.unit, best.focus, lead_head)
            # what the short answer already said (a fee line an FAQ said word for word) is not
            # said again below
            left = [u for u in units if id(u) not in stated and not (id(u) not in focused and repeats(self._unit_text(item, u, lang)))]
            if not left:
                continue
            if len(lead) > in_lead and len(left) < len(units) and field in _OTHER_HEAD[lang]:
                # the short answer gave this list's best entry: the rest are the others
                head = _OTHER_HEAD[lang][field]
            lines = [self._unit_line(item, u, lang) for u in left]
            if (field in _ONE_LINE_FIELDS or len(left) == 1) and any(id(u) in focused for u in left):
                # a running text said first by its focus: the rest of it, not all of it again
                lines = [_without(line, focused[id(u)]) if id(u) in focused else line for u, line in zip(left, lines)]
                lines = [line for line in lines if line]
                if not lines:
                    continue
                if head.strip():
                    head = _CONTINUED[lang].format(head=head.rstrip("：: "))
            if field == "online":
                text = f"{head}\n" + "\n".join(f"- {x}" for x in lines)
            elif len(lines) == 1 or field in _ONE_LINE_FIELDS:
                text = (head + " " if en and head.endswith(":") else head) + "".join(lines)
            else:
                text = f"{head}\n{_numbered(lines)}"
            if field in plan.more:
                text += "\n" + _MORE_NOTE[lang].get(field, _MORE_NOTE[lang]["_"])
            details.append(Section(field, text))
        for p in direct:
            if id(p.unit) in focused and not any(p.unit is q.unit for q in plan.units if q.role == "asked"):
                # the deciding unit was said by its focus: the rest of it comes first below
                head = _FIELD_HEAD[lang].get(p.unit.field, "")
                rest = _without(self._unit_line(item, p.unit, lang), focused[id(p.unit)])
                if rest and not repeats(rest):
                    head = _CONTINUED[lang].format(head=head.rstrip("：: ")) if head.strip() else ""
                    details.insert(0, Section(p.unit.field, (head + " " if en and head.endswith(":") else head) + rest))
        out: list[Section] = []
        if lead:
            fields = tuple(dict.fromkeys(lead_fields))
            out.append(Section(fields[0], "\n".join(lead), also=fields[1:]))
        out.extend(details)
        support = [
            p for p in plan.by_role("support")
            if id(p.unit) not in stated and not repeats(self._unit_text(item, p.unit, lang))
        ]
        if support:
            lines = [self._unit_line(item, p.unit, lang) for p in support]
            head = "Also relevant:" if en else "相关说明："
            fields = tuple(dict.fromkeys(p.unit.field for p in support))
            out.append(Section(fields[0], f"{head}\n" + "\n".join(f"- {x}" for x in lines), also=fields[1:]))
        if not out:
            missing = {
                "zh": "知识库中暂无该事项这方面的具体信息，请以官方渠道公布为准。",
                "en": "The knowledge base has no details on this point for this service; please check the official channel.",
            }[lang]
            summary = self._section(item, "summary", lang, situation, "consult.overview")
            out = [Section("summary", missing + ("\n" + summary.text if summary else ""))]
        return out

    def _bundle_sections(
        self, item: ServiceItem, plan: AnswerPlan, lang: Lang, lead: list[str], lead_fields: list[str]
    ) -> list[Section]:
        """A 一件事 bundle's answer: its member steps in order on one line first, then each step
        with what it needs, and (asked for an overview) the bundle's summary after them."""
        # the order of the member steps is the answer to 要办哪些事: it comes first
        also = tuple(f for f in dict.fromkeys(lead_fields) if f != "process")
        out = [
            Section("process", "\n".join([_bundle_order(item, lang), *lead]), also=also),
            Section("process", _bundle_details(item, lang)),
        ]
        if "overview" in plan.aspects:
            summary = self._section(item, "summary", lang, "", "consult.overview")
            if summary:
                out.append(summary)
        return out

    def _materials_sections(
        self,
        item: ServiceItem,
        units: Sequence[AnswerUnit],
        lang: Lang,
        situation: str,
        *,
        more: bool,
        full: bool = False,
        brief: Sequence[int] | None = None,
    ) -> tuple[str, str]:
        """Materials from the plan as (short answer line, the rest).

        The short line names the materials every applicant brings, each with its form
        (the notes are one message away); the rest holds those of each situation and
        the pointer to the whole list.  Asked for the whole list (``full``), one
        material a line with its count and note.  With ``brief`` (material indexes,
        the most relevant first) the short line names only the first few common ones
        and says how many more follow.
        """
        en = lang == "en"
        chosen = {u.index for u in units}
        common, by_sit = _materials_for([m for i, m in enumerate(item.materials) if i in chosen], situation)
        head = "Materials to bring:" if en else "所需材料："

        def listing(ms: Sequence[Material]) -> str:
            if full:
                return "\n" + _numbered([_material_line(m, lang) for m in ms])
            return ("; " if en else "；").join(_material_short(m, lang) for m in ms) + ("." if en else "。")

        parts = []
        for key, ms in by_sit.items():
            label = _situation_label(item, key, lang)
            sub = f"If {label}, also:" if en else f"如属“{label}”，还需："
            parts.append(f"{sub}{' ' if en and not full else ''}{listing(ms)}")
        if common and brief is not None and len(common) > _BRIEF_MATERIALS + 1:
            order = {i: n for n, i in enumerate(brief)}
            ranked = sorted(common, key=lambda m: order.get(item.materials.index(m), len(order)))
            first, others = ranked[:_BRIEF_MATERIALS], [m for m in common if m not in ranked[:_BRIEF_MATERIALS]]
            names = ("; " if en else "；").join(_material_short(m, lang) for m in first)
            more_n = f", and {len(others)} more (below)." if en else f"等，另有{len(others)}项见下。"
            short = f"{head}{' ' if en else ''}{names}{more_n}"
            parts.insert(0, ("Other materials: " if en else "其余材料：") + listing(others))
        elif common:
            short = f"{head}{' ' if en and not full else ''}{listing(common)}"
        elif parts:
            short, parts = f"{head}\n{parts[0]}", parts[1:]
        else:
            short = head
        if more:
            parts.append(_MORE_NOTE[lang]["materials"])
        return short, "\n".join(parts)

    def _unit_text(self, item: ServiceItem, unit: AnswerUnit, lang: Lang) -> str:
        """What a unit says in a short answer: an FAQ by its answer alone, else its line."""
        if unit.field == "faqs":
            return (unit.text_en or unit.text) if lang == "en" else unit.text
        return self._unit_line(item, unit, lang)

    def _unit_line(self, item: ServiceItem, unit: AnswerUnit, lang: Lang) -> str:
        """One unit as a line in ``lang`` (English text with the Chinese official name kept)."""
        en = lang == "en"
        if unit.field == "materials" and unit.index < len(item.materials):
            return _material_line(item.materials[unit.index], lang)
        if unit.field == "faqs":
            q = (unit.question_en or unit.question) if en else unit.question
            a = (unit.text_en or unit.text) if en else unit.text
            return f"{q} {a}" if en else f"{q}{a}"
        if en:
            return unit.text_en or f"(Chinese official text) {unit.text}"
        return unit.text

    def _service_line(self, item: ServiceItem, lang: Lang) -> str:
        """The line naming the service answered, among the closing lines: the answer itself
        comes first (the name, with its English and Chinese, would push it down)."""
        return f"Service: {item_label(item, lang)}." if lang == "en" else f"事项：{item_label(item, lang)}。"

    # ------------------------------------------------------------------ Generator protocol

    def generate(self, request: GenerationRequest) -> Answer:
        """The answer for ``request``: item fields matching the intent, citations, channel line."""
        lang = request.lang
        if request.action is not Action.ANSWER:
            raise ValueError(
                f"the composer's generate() writes answers only, got action {request.action.value!r}; "
                "use Composer.clarify/refuse/chitchat/handoff for the other actions"
            )
        if not request.items:
            return Answer(text=_NO_MATCH[lang], action=Action.ANSWER, lang=lang, generator=self.name)
        item = request.items[0]
        situation = request.state.slots.get(SITUATION_SLOT, "") if request.state else ""
        if request.intent == "complaint":
            return self._complaint(request.items, lang)
        plan = self.plan_for(request)
        sections = self.planned_sections(item, plan, lang, situation=situation)
        body = "\n\n".join(s.text for s in sections)
        text = f"{body}\n\n{self._service_line(item, lang)}\n{self.closing_line(item, lang)}"
        citations = tuple(
            dict.fromkeys(Citation(item.id, item.name, f, item.updated) for s in sections for f in s.fields)
        )
        options = tuple(_MORE_OPTION[field][lang] for field in plan.more if field in _MORE_OPTION)
        return Answer(
            text=text, action=Action.ANSWER, lang=lang, citations=citations, options=options, generator=self.name
        )

    def stream(self, request: GenerationRequest) -> AnswerStream:
        """The same answer as ``generate``, one paragraph at a time (never a fallback)."""
        return AnswerStream(self._paragraphs(request))

    def _paragraphs(self, request: GenerationRequest) -> Iterator[str]:
        text = self.generate(request).text
        parts = text.split("\n\n")
        for i, part in enumerate(parts):
            yield part + ("\n\n" if i < len(parts) - 1 else "")

    # ------------------------------------------------------------------ item sections

    def _section(self, item: ServiceItem, field: str, lang: Lang, situation: str, intent: str) -> Section | None:
        en = lang == "en"
        if field == "summary":
            if en and item.summary_en:
                return Section("summary", item.summary_en)
            if en:
                return Section("summary", f"Official description (Chinese): {item.summary}")
            return Section("summary", item.summary)
        if field == "conditions":
            if not item.conditions:
                return None
            # The overview shows the main conditions; the conditions question shows all.
            conds = item.conditions if intent == "consult.conditions" else item.conditions[:3]
            head = "Who qualifies (official wording):" if en else "办理条件："
            return Section("conditions", f"{head}\n{_numbered(conds)}")
        if field == "situations":
            sits = [s for s in item.situations if s.conditions and (not situation or s.key == situation)]
            if not sits:
                return None
            head = "Depending on your situation:" if en else "不同情形的条件："
            lines = [
                f"{(s.label_en or s.label) if en else s.label}: {'；'.join(s.conditions)}" for s in sits
            ]
            return Section("situations", f"{head}\n" + "\n".join(f"- {line}" for line in lines))
        if field == "materials":
            if not item.materials:
                return None
            common, by_sit = _materials_for(item.materials, situation)
            head = "Materials to bring:" if en else "所需材料："
            parts = [f"{head}\n{_numbered([_material_line(m, lang) for m in common])}"] if common else []
            for key, mats in by_sit.items():
                label = _situation_label(item, key, lang)
                sub = f"If {label}, also:" if en else f"如属“{label}”，还需："
                parts.append(f"{sub}\n" + "\n".join(f"- {_material_line(m, lang)}" for m in mats))
            if not parts:
                return None
            return Section("materials", "\n".join(parts))
        if field == "process":
            if not item.process:
                return None
            if item.kind == "bundle":
                return Section("process", _bundle_order(item, lang) + "\n" + _bundle_details(item, lang))
            head = "Steps:" if en else "办理流程："
            lines = []
            for st in item.process:
                detail = (st.detail_en or st.detail) if en else st.detail
                lines.append(_step_title(st, lang) + ((": " if en else "：") + detail if detail else ""))
            return Section("process", f"{head}\n{_numbered(lines)}")
        if field == "fees":
            if not item.fees:
                return None
            return Section("fees", f"Fees (official text): {item.fees}" if en else f"收费标准：{item.fees}")
        if field == "benefit":
            if item.benefit is None:
                return None
            amount = (item.benefit.amount_en or item.benefit.amount) if en else item.benefit.amount
            return Section("benefit", f"What it pays: {amount}" if en else f"待遇标准：{amount}")
        if field == "time_limit":
            if not item.time_limit:
                return None
            return Section(
                "time_limit", f"Time limit (official text): {item.time_limit}" if en else f"办理时限：{item.time_limit}"
            )
        if field == "locations":
            if not item.locations:
                return None
            head = "Where to apply:" if en else "办理地点："
            lines = []
            for loc in item.locations:
                bits = [loc.name]
                if loc.address:
                    bits.append(("address: " if en else "地址：") + loc.address)
                if loc.hours:
                    bits.append(("hours: " if en else "时间：") + loc.hours)
                if loc.phone:
                    bits.append(("phone: " if en else "电话：") + loc.phone)
                if loc.note:
                    bits.append(loc.note)
                lines.append(("; " if en else "；").join(bits))
            return Section("locations", f"{head}\n{_numbered(lines)}")
        if field == "phone":
            if not item.phone:
                return None
            return Section("phone", f"Enquiries: {item.phone}" if en else f"咨询电话：{item.phone}")
        if field == "online":
            ch = item.online
            if not ch.available:
                text = "This service is not available online" if en else "该事项暂不支持网上办理"
                if ch.note:
                    text += (": " if en else "：") + ch.note
                if item.locations:
                    text += (". Apply at: " if en else "。请到以下地点办理：") + item.locations[0].name
                return Section("online", text)
            bits = []
            if ch.web:
                bits.append(("Web: " if en else "网上办理：") + ch.web)
            if ch.app:
                bits.append(("App: " if en else "手机办理：") + ch.app)
            if ch.note:
                bits.append(("Note: " if en else "提示：") + ch.note)
            if not bits:
                return None
            head = "Online:" if en else "线上办理渠道："
            return Section("online", f"{head}\n" + "\n".join(f"- {b}" for b in bits))
        raise ValueError(f"unknown item field {field!r}; use a field of ServiceItem")

    def closing_line(self, item: ServiceItem, lang: Lang) -> str:
        """The official channel and the item's updated date, closing every item answer."""
        ch = item.online
        en = lang == "en"
        pairs = ((ch.web_en, ch.web), (ch.app_en, ch.app))
        channels = [(e or z) if en else z for e, z in pairs if z or e] if ch.available else []
        if not channels and item.locations:
            loc = item.locations[0]
            channels = [(loc.name_en or loc.name) if en else loc.name]
        updated = item.updated.isoformat()
        # Only the item's own phone: a number not in the item would be a fact from elsewhere.
        if lang == "en":
            where = "; ".join(channels) if channels else "the 一网通办 portal or 随申办 app"
            phone = f" Enquiries: {item.phone}." if item.phone else ""
            return f"Official channel: {where}.{phone} Information updated {updated}; the official channel prevails."
        where = "；".join(channels) if channels else "上海“一网通办”或“随申办”APP"
        phone = f"咨询电话：{item.phone}。" if item.phone else ""
        return f"官方渠道：{where}。{phone}信息更新于{updated}，以官方渠道最新公布为准。"

    def _complaint(self, items: Sequence[ServiceItem], lang: Lang) -> Answer:
        """Complaints: the complaint channels from the knowledge base and an offer of a person."""
        parts: list[str] = []
        citations: list[Citation] = []
        head = (
            "I'm sorry about your experience. You can raise a complaint or report the problem through these official channels:"
            if lang == "en"
            else "很抱歉给您带来不好的体验。您可以通过以下官方渠道反映问题或投诉："
        )
        for item in items[:2]:
            # where and how to raise it come first (办完事想给窗口打个差评 在哪评): what the
            # channel is follows
            lines = [item_label(item, lang)]
            online = self._section(item, "online", lang, "", "consult.online")
            if online:
                lines.append(online.text)
                citations.append(Citation(item.id, item.name, "online", item.updated))
            if item.phone:
                lines.append(("Phone: " if lang == "en" else "电话：") + item.phone)
                citations.append(Citation(item.id, item.name, "phone", item.updated))
            summary = self._section(item, "summary", lang, "", "consult.overview")
            if summary:
                lines.append(summary.text)
                citations.append(Citation(item.id, item.name, "summary", item.updated))
            parts.append("\n".join(lines))
        text = head + "\n\n" + "\n\n".join(parts) + "\n\n" + _OFFER_PERSON[lang] + "\n" + self.closing_line(items[0], lang)
        return Answer(
            text=text,
            action=Action.ANSWER,
            lang=lang,
            citations=tuple(dict.fromkeys(citations)),
            options=(PERSON_OPTION[lang],),
            generator=self.name,
        )

    # ------------------------------------------------------------------ the assistant's own lines

    def chitchat(self, intent: str, lang: Lang) -> Answer:
        """Reply to a greeting or thanks, saying what Xiao Shen can do."""
        text = _THANKS[lang] if intent == "thanks" else _GREETING[lang]
        return Answer(text=text, action=Action.CHITCHAT, lang=lang, generator=self.name)

    def refuse(self, lang: Lang) -> Answer:
        """A short polite refusal that says what Xiao Shen can help with."""
        return Answer(text=_REFUSE[lang], action=Action.REFUSE, lang=lang, generator=self.name)

    def handoff(self, reason: str, lang: Lang) -> Answer:
        """The line shown when the conversation goes to a person."""
        texts = _HANDOFF.get(reason, _HANDOFF["low_confidence"])
        return Answer(text=texts[lang], action=Action.HANDOFF, lang=lang, generator=self.name)

    def clarify(self, question: str, options: Sequence[Option], lang: Lang) -> Answer:
        """One clarifying question with options the UI shows as buttons."""
        q = question or _CLARIFY_ITEMS[lang]
        listing = "\n".join(f"{i}. {o.label}" for i, o in enumerate(options, 1))
        text = f"{q}\n{listing}" if options else q
        return Answer(text=text, action=Action.CLARIFY, lang=lang, options=tuple(options), generator=self.name)

    def no_match(self, lang: Lang, options: Sequence[Option] = ()) -> Answer:
        """Retrieval found nothing convincing: ask the citizen to rephrase (a clarify turn)."""
        return self.clarify(_NO_MATCH[lang], options, lang)

    def clarify_items(self, items: Sequence[ServiceItem], lang: Lang) -> tuple[str, tuple[Option, ...]]:
        """The question and options that tell close candidate items apart."""
        options = tuple(Option(label=option_label(i, lang), value=i.id, item_id=i.id) for i in items)
        return _CLARIFY_ITEMS[lang], options

    def clarify_situation(self, item: ServiceItem, lang: Lang) -> tuple[str, tuple[Option, ...]]:
        """The item's situation question and one option per situation."""
        question = next((s.question for s in item.situations if s.question), "")
        if lang == "en":
            question = f"For {item_label(item, lang)}, which situation applies to you?" + (
                f" ({question})" if question else ""
            )
        elif not question:
            question = f"办理{item_label(item, lang)}，请问您属于哪种情形？"
        options = tuple(
            Option(
                label=(s.label_en or s.label) if lang == "en" else s.label,
                value=s.key,
                item_id=item.id,
                situation=s.key,
            )
            for s in item.situations
        )
        return question, options
