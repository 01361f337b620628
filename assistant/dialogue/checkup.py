"""The check-up conversation (政策体检): a few questions, then three lists.

Started by a message such as 帮我看看我能享受哪些政策 (or "what benefits am I
eligible for", or the chat's button); for a company (我们公司能享受哪些政策)
the enterprise check-up.  Each turn asks the one question the engine
(``assistant.checkup``) finds most decisive among those whose answer can still
change a verdict, with buttons for the answers, 不想说 (skip) and 直接看结果
(results now); a checklist question (tick any) asks several yes/no facts at
once.  When no question can change a verdict any more, the answer is three
lists: eligible (with why, and how to apply or 免申即享), possibly eligible
(what is missing) and not eligible (why), each citing the item's condition.

Replies are read from the buttons' texts first, then from everyday words and
numbers (67岁, 六十多, 3年, 上海户口, 被辞退); facts volunteered beside the
answer (我70岁，上海户口) are kept too.  A reply that answers nothing is asked
again once; a new question instead (居住证怎么办) leaves the check-up, keeping
its answers, and is answered as usual.

The profile lives only in the conversation's state (``DialogueState.checkup``)
and its ``repr`` is masked, so logs never show it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from assistant.core.profile import (
    DECLINE_WORDS,
    FIELDS_BY_KEY,
    ProfileField,
    declined,
    describe,
    value_text,
    with_value,
)
from assistant.core.types import (
    Answer,
    Action,
    Audience,
    CheckupResult,
    CheckupSession,
    Citation,
    ConditionCheck,
    DialogueState,
    EligibilityChecker,
    Lang,
    Option,
    Profile,
    ProfileQuestion,
    ServiceItem,
    Span,
    Verdict,
)

# --------------------------------------------------------------------------- cues

_WHICH_ZH = r"(?:哪些|什么|啥|几项|几个|哪几)"
_BENEFIT_ZH = r"(?:政策|补贴|津贴|福利|优惠|补助|扶持|帮扶)"
_WHO_ZH = r"(?:我|我们|我家|本人|咱们?|自己|企业|公司|单位|厂里)"
_CAN_ZH = r"(?:能|可以|可|能够|符合|有资格|够格|够得上)"
_GET_ZH = r"(?:享受|领|领取|申请|申领|拿|得到|获得|办)"

#: What asks for a check-up: 政策体检, 我能享受哪些政策, 哪些补贴我可以领, what benefits am I
#: eligible for.  Narrow on purpose: a question about one benefit (育儿补贴怎么申请,
#: 我能领失业金吗) names no "which", and one naming an item is answered as usual.
CHECKUP_CUE = re.compile(
    r"政策体检|福利体检|补贴体检|惠企体检|"
    rf"{_WHO_ZH}.{{0,10}}{_CAN_ZH}.{{0,6}}(?:{_GET_ZH}.{{0,4}})?{_WHICH_ZH}{_BENEFIT_ZH}|"
    rf"{_WHICH_ZH}{_BENEFIT_ZH}.{{0,8}}{_WHO_ZH}.{{0,6}}{_CAN_ZH}|"
    r"\bbenefits? check-?up\b|\beligibility check\b|"
    r"\b(?:what|which) (?:benefits|subsidies|allowances|policies|support|entitlements|grants)\b(?: \w+){0,3} "
    r"(?:am i|are we|could i|can i|can we|do i|might i|would i|is (?:my|our) (?:company|business|firm)|"
    r"can (?:my|our) (?:company|business|firm)) (?:be )?(?:eligible|entitled|qualify|get|claim|receive|apply)|"
    r"\b(?:benefits|subsidies|support) (?:i am|i'm|we are|we're|my company is|our company is) (?:eligible|entitled)\b|"
    r"\b(?:am i|are we|is my company|is our company) (?:eligible|entitled) (?:for|to) (?:any|which|what)\b",
    re.IGNORECASE,
)
#: A check-up for a company rather than a person.
ENTERPRISE_CUE = re.compile(
    r"(?:我们|我家|本|贵|咱们?|这家)(?:企业|公司|单位|厂)|企业|公司(?:能|可以|可|有资格)|法人|"
    r"\b(?:my|our|the) (?:company|business|firm|enterprise)\b|\bcompany benefits\b|\bfor (?:a|my|our) company\b|\bemployer\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(r"个人|personal|for myself", re.IGNORECASE)


def checkup_audience(text: str) -> Audience | None:
    """``citizen`` or ``enterprise`` when ``text`` asks for a check-up, else None."""
    if not CHECKUP_CUE.search(text):
        return None
    if ENTERPRISE_CUE.search(text) and not _PERSONAL.search(text):
        return "enterprise"
    return "citizen"


# --------------------------------------------------------------------------- texts

_INTRO: Mapping[str, Mapping[str, str]] = {
    "citizen": {
        "zh": "好的，我来帮您做个政策体检：只问会影响结果的几个问题，每个都可以选“不想说”，最后告诉您能享受、可能能享受和暂不符合的政策。",
        "en": "Sure, let's do a benefits check-up. I'll only ask questions whose answers can change the result, "
        "you can skip any of them, and at the end you get what you qualify for, what you may qualify for and what not.",
    },
    "enterprise": {
        "zh": "好的，我来帮贵企业做个政策体检：只问会影响结果的几个问题，每个都可以选“不想说”，最后告诉您能享受、可能能享受和暂不符合的政策。",
        "en": "Sure, let's check which support your company qualifies for. I'll only ask questions whose answers "
        "can change the result, and you can skip any of them.",
    },
}
_SKIP = {"zh": "不想说", "en": "Prefer not to say"}
_FINISH = {"zh": "直接看结果", "en": "Show results now"}
_NONE_OF_THESE = {"zh": "以上都没有", "en": "None of these"}
_RESTART = {"zh": ("重新体检", "政策体检"), "en": ("Check again", "benefits check-up")}
_SWITCH = {
    "citizen": {"zh": ("改为企业政策体检", "企业政策体检"), "en": ("Check for a company instead", "company benefits check-up")},
    "enterprise": {"zh": ("改为个人政策体检", "个人政策体检"), "en": ("Check for myself instead", "personal benefits check-up")},
}
_CHECKLIST_HINT = {
    "zh": "以下情况，符合的请都选上（可多选），选好后点“确定”；都不符合请选“{none}”：",
    "en": "Tick every line that applies, then press OK; if none does, choose “{none}”:",
}
_RETRY = {
    "zh": "抱歉，我没看懂这个回答。请点选下面的选项或直接说出来；不想回答可以选“不想说”。",
    "en": "Sorry, I didn't catch that. Please pick an option below or say it in your own words; you can also skip it.",
}
_COUNTER = {"zh": "（第{n}个问题）", "en": "(Question {n}) "}
_HEAD = {
    "zh": "政策体检结果（根据您的回答，仅供参考，最终以受理部门审核为准）：",
    "en": "Your check-up result (from your answers; for guidance only, the office decides):",
}
_SECTION = {
    "eligible": {"zh": "✅ 可以享受（{n}项）", "en": "✅ You qualify ({n})"},
    "possible": {"zh": "🔍 可能可以享受（{n}项）", "en": "🔍 You may qualify ({n})"},
    "ineligible": {"zh": "✖ 暂不符合（{n}项）", "en": "✖ Not for you now ({n})"},
}
_NONE_IN_SECTION = {"zh": "（无）", "en": "(none)"}
_WORDS = {
    "zh": {
        "meets": "符合", "apply": "办理", "automatic": "免申即享：无需申请，符合条件的按规定直接发放",
        "notes": "须知", "check": "还需确认", "unanswered": "您未回答", "fails": "不符合", "yours": "您的情况",
        "sep": "；", "quote": "“{}”", "colon": "：", "route": "（{}）",
    },
    "en": {
        "meets": "meets ", "apply": "How to apply", "automatic": "Paid automatically (免申即享): no application needed",
        "notes": "Note", "check": "still to confirm", "unanswered": "not answered", "fails": "does not meet ",
        "yours": "you said", "sep": "; ", "quote": "“{}”", "colon": ": ", "route": " ({})",
    },
}
#: the notes (须知) under an eligible item are cut at this many characters (conditions are quoted whole).
NOTE_CHARS = {"zh": 60, "en": 140}


# --------------------------------------------------------------------------- turns


@dataclass(frozen=True)
class CheckupTurn:
    """What the check-up says this turn and the session after it (``pending`` empty: done)."""

    answer: Answer
    session: CheckupSession
    #: the items of the results (eligible, then possibly eligible), for the turn's hits.
    item_ids: tuple[str, ...] = ()


class CheckupDialogue:
    """Runs the check-up conversation over an :class:`EligibilityChecker`."""

    def __init__(self, engine: EligibilityChecker, items: Mapping[str, ServiceItem]) -> None:
        self.engine = engine
        self.items = dict(items)

    # ------------------------------------------------------------------ public

    def start(self, text: str, audience: Audience, lang: Lang) -> CheckupTurn:
        """A new check-up for ``audience``; facts the message already gives are kept."""
        profile = Profile(audience)
        for key, value in read_facts(text, audience).items():
            profile = with_value(profile, key, value)
        session = CheckupSession(profile=profile)
        return self._advance(session, lang, intro=_INTRO[audience][lang], first=True)

    def reply(self, text: str, state: DialogueState) -> CheckupTurn | None:
        """The answer to the pending question, and the next question or the results.

        None when the message answers nothing and reads as a question of its own
        (or a second time answers nothing): the caller answers it as usual.
        """
        session = state.checkup
        if session is None or not session.pending:
            return None
        lang = state.lang
        question = self.engine.question_for(session.profile, session.pending)
        reply = read_reply(text, question, session.profile.audience, lang)
        if reply is None:
            if session.retries or _is_new_question(text):
                return None
            again = replace(session, retries=session.retries + 1)
            return self._ask(again, question, lang, lead=_RETRY[lang], count=False)
        profile = session.profile
        if reply.finish:
            return self._results(replace(session, profile=profile, pending=(), retries=0), lang)
        for key in question.fields if reply.skip else ():
            profile = declined(profile, key)
        for key, value in reply.values.items():
            profile = with_value(profile, key, value)
        return self._advance(replace(session, profile=profile, retries=0), lang)

    # ------------------------------------------------------------------ steps

    def _advance(self, session: CheckupSession, lang: Lang, *, intro: str = "", first: bool = False) -> CheckupTurn:
        question = self.engine.next_question(session.profile, asked=session.asked)
        if question is None:
            result = self._results(replace(session, pending=()), lang)
            if intro:
                result = replace(result, answer=replace(result.answer, text=f"{intro}\n\n{result.answer.text}"))
            return result
        return self._ask(session, question, lang, lead=intro, first=first)

    def _ask(
        self, session: CheckupSession, question: ProfileQuestion, lang: Lang, *, lead: str = "", count: bool = True,
        first: bool = False,
    ) -> CheckupTurn:
        n = session.questions + (1 if count else 0)
        session = replace(
            session,
            asked=tuple(dict.fromkeys((*session.asked, *question.fields))),
            pending=question.fields,
            questions=n,
        )
        options: list[Option] = []
        lines: list[str] = []
        if question.checklist:
            lines.append(_CHECKLIST_HINT[lang].format(none=_NONE_OF_THESE[lang]))
            for k, a in enumerate(question.answers, 1):
                label = a.label_en if lang == "en" else a.label
                lines.append(f"{k}. {label}")
                options.append(Option(label=label, value=label, toggle=True))
            options.append(Option(label=_NONE_OF_THESE[lang], value=_NONE_OF_THESE[lang]))
        else:
            f = FIELDS_BY_KEY[question.fields[0]]
            lines.append(f.question_en if lang == "en" else f.question)
            for a in question.answers:
                label = a.label_en if lang == "en" else a.label
                options.append(Option(label=label, value=label))
        options += [Option(label=_SKIP[lang], value=_SKIP[lang]), Option(label=_FINISH[lang], value=_FINISH[lang])]
        if first:
            label, value = _SWITCH[session.profile.audience][lang]
            options.append(Option(label=label, value=value))
        counter = _COUNTER[lang].format(n=n)
        body = counter + "\n".join(lines)
        text = f"{lead}\n\n{body}" if lead else body
        answer = Answer(text=text, action=Action.CLARIFY, lang=lang, options=tuple(options), generator="checkup")
        return CheckupTurn(answer, session)

    def _results(self, session: CheckupSession, lang: Lang) -> CheckupTurn:
        result = self.engine.assess(session.profile)
        text = render_result(result, session.profile, self.items, lang)
        shown = [v for v in result.verdicts if v.status != "ineligible"]
        citations = tuple(
            Citation(item_id=v.item_id, item_name=_name(self.items[v.item_id], lang), field="conditions",
                     updated=self.items[v.item_id].updated)
            for v in sorted(shown, key=lambda v: v.status != "eligible")
            if v.item_id in self.items
        )
        label, value = _RESTART[lang]
        answer = Answer(
            text=text, action=Action.ANSWER, lang=lang, citations=citations,
            options=(Option(label=label, value=value),), generator="checkup",
        )
        return CheckupTurn(answer, session, tuple(c.item_id for c in citations))


# --------------------------------------------------------------------------- reading replies


@dataclass(frozen=True)
class Reply:
    """A reply to a check-up question: values per field, a skip (不想说) or results now."""

    values: Mapping[str, str]
    skip: bool = False
    finish: bool = False


def read_reply(text: str, question: ProfileQuestion, audience: Audience, lang: Lang) -> Reply | None:
    """What ``text`` answers to ``question``; None when it answers nothing.

    Buttons' texts first (the labels in either language), then 不想说 / 直接看结果,
    then the fields' everyday words and numbers.  Facts about other fields
    given beside the answer (我70岁，上海户口) are kept as well.
    """
    t = text.strip()
    low = t.lower()
    if low in {_FINISH["zh"], _FINISH["en"].lower()} or re.search(r"直接看结果|看结果|show (?:my )?results", low):
        return Reply({}, finish=True)
    if question.checklist:
        found = _checklist(t, question)
    else:
        found = _single(t, question)
    if found is None and _declines(low):
        return Reply({}, skip=True)
    if found is None:
        return None
    extra = {k: v for k, v in read_facts(t, audience).items() if k not in found and k not in question.fields}
    return Reply({**found, **extra})


def _declines(low: str) -> bool:
    return any(w in low for w in DECLINE_WORDS)


def _labels(a_label: str, a_label_en: str) -> set[str]:
    return {a_label.lower(), a_label_en.lower()}


def _single(text: str, question: ProfileQuestion) -> dict[str, str] | None:
    key = question.fields[0]
    f = FIELDS_BY_KEY[key]
    low = text.lower().strip("。.！!？? ")
    for a in question.answers:
        if low in _labels(a.label, a.label_en) or low == a.value:
            return {key: a.value}
    if f.kind == "choice":
        if re.fullmatch(r"[1-9]", low):
            n = int(low)
            return {key: question.answers[n - 1].value} if n <= len(question.answers) else None
        value = _choice_in(text, f)
        if value is None and set(f.values()) == {"yes", "no"}:
            value = _yes_no(low)
        return {key: value} if value else None
    span = _number_in(text, f)
    return {key: span} if span else None


def _checklist(text: str, question: ProfileQuestion) -> dict[str, str] | None:
    low = text.lower().strip("。.！!？? ")
    values = {a.field: a.value for a in question.unticked}
    if low in {_NONE_OF_THESE["zh"], _NONE_OF_THESE["en"].lower()} or re.fullmatch(
        r"(?:以上)?(?:都|全都|一个都|一项都)?(?:没有|不是|不符合|无)|none(?: of (?:these|them|the above))?|no|nothing", low
    ):
        return values
    parts = [p.strip() for p in re.split(r"[；;，,、\n]+", low) if p.strip()]
    ticked: dict[str, str] = {}
    by_label = {lbl: a for a in question.answers for lbl in _labels(a.label, a.label_en)}
    if parts and all(p in by_label for p in parts):
        for p in parts:
            a = by_label[p]
            # a household both on 低保 and low-income is 低保: the first row of a field wins
            ticked.setdefault(a.field, a.value)
    elif parts and all(re.fullmatch(r"[1-9]", p) for p in parts):
        for p in parts:
            n = int(p)
            if n > len(question.answers):
                return None
            a = question.answers[n - 1]
            ticked.setdefault(a.field, a.value)
    else:
        for a in question.answers:
            f = FIELDS_BY_KEY[a.field]
            tick = next((t for t in f.ticks if t.value == a.value), None)
            words = tick.words if tick else ()
            if any(_said(w, low) for w in words):
                ticked.setdefault(a.field, a.value)
        if not ticked:
            return None
    return {**values, **ticked}


def _said(word: str, low: str) -> bool:
    """``word`` occurs in ``low`` and is not negated just before it (没有低保)."""
    start = low.find(word.lower())
    while start >= 0:
        before = low[max(0, start - 2) : start]
        if not re.search(r"没|不|无|非|未|no|not", before):
            return True
        start = low.find(word.lower(), start + 1)
    return False


def _choice_in(text: str, f: ProfileField) -> str | None:
    """The one value of choice field ``f`` whose words the text uses (the longest match wins:
    没有居住证 is not 居住证); None when none or several."""
    low = text.lower()
    spans: list[tuple[int, int, str]] = []
    for c in f.choices:
        for w in (c.label, c.label_en, *c.words):
            w = w.lower()
            if not w:
                continue
            start = low.find(w)
            while start >= 0:
                spans.append((start, start + len(w), c.value))
                start = low.find(w, start + 1)
    kept = {v for s, e, v in spans if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)}
    return kept.pop() if len(kept) == 1 else None


def _yes_no(low: str) -> str | None:
    if re.match(r"^(?:没有|没|无|不是|不|否|no\b|nope|not)", low):
        return "no"
    if re.match(r"^(?:有|是|对|嗯|持有|yes\b|yeah|yep|i do|i have)", low):
        return "yes"
    return None


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER = re.compile(r"(\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百]+)\s*(多|几|来)?\s*(周岁|岁|年半|年|个月|月|years?|yrs?|months?)?")


def _cn_int(s: str) -> int | None:
    if s.replace(".", "", 1).isdigit():
        return int(float(s))
    total, num = 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            num = _CN_DIGITS[ch]
        elif ch == "十":
            total += (num or 1) * 10
            num = 0
        elif ch == "百":
            total += (num or 1) * 100
            num = 0
        else:
            return None
    return total + num


def _number_in(text: str, f: ProfileField, *, strict: bool = False) -> str | None:
    """A span text for number field ``f`` read from ``text`` (67岁 → 67, 六十多 → 60-69, 3年 →
    36-47 months); ``strict`` asks for a unit (岁, 年, 个月) so that a stray number is no answer."""
    low = text.lower()
    if f.none is not None and any(w.lower() in low for w in (f.none.label, f.none.label_en, *f.none.words)):
        return "none"
    if f.unit == "months":
        if re.search(r"没(?:有)?(?:交|缴)|从(?:来)?没|没有缴纳|never|none|没有$|^没有|^0$", low):
            return "0"
        if "半年" in low and not re.search(r"\d|[一二两三四五六七八九十]年半", low):
            return "6"
    for m in _NUMBER.finditer(low):
        raw, approx, unit = m.group(1), m.group(2), m.group(3) or ""
        n = _cn_int(raw)
        if n is None:
            continue
        if strict and not unit:
            continue
        if f.unit == "age":
            if unit in ("个月", "月") or unit.startswith("month"):
                n = 0  # a baby of 8 months is 0 years old
            elif unit in ("年", "年半"):
                continue  # 1990年 is a year, not an age
            if n > f.maximum:
                continue
            if approx in ("多", "几", "来") and n >= 10 and n % 10 == 0:
                return f"{n}-{min(n + 9, f.maximum)}"
            return str(n)
        # months
        if unit in ("个月", "月") or unit.startswith("month"):
            months = n
            return str(min(months, f.maximum))
        if unit == "年半":
            return str(min(n * 12 + 6, f.maximum))
        months = n * 12
        if months > f.maximum:
            continue
        if approx in ("多", "几", "来") and n >= 10 and n % 10 == 0:
            return f"{months}-{min(months + 119, f.maximum)}"
        return f"{months}-{min(months + 11, f.maximum)}"
    return None


def read_facts(text: str, audience: Audience) -> dict[str, str]:
    """Facts a message states outright, for the fields asked one by one: an age with 岁,
    a hukou or residence, a work situation.  Checklist facts are left to their question."""
    out: dict[str, str] = {}
    for f in FIELDS_BY_KEY.values():
        if f.audience != audience or f.group:
            continue
        if f.kind == "choice":
            value = _choice_in(text, f)
            # a single short word (单位, job) says too little on its own
            if value is not None and _strong(text, f, value):
                out[f.key] = value
        elif f.unit == "age" and f.key == "age":
            m = re.search(r"(\d{1,3}|[一二两三四五六七八九十]{1,4})\s*(多|几|来)?\s*(?:周岁|岁)|\b(\d{1,3}) years? old\b|\bi'?m (\d{1,3})\b|\bi am (\d{1,3})\b", text.lower())
            if m:
                span = _number_in(m.group(0).replace("years old", "岁").replace("year old", "岁"), f)
                if span is None and (m.group(4) or m.group(5)):
                    span = m.group(4) or m.group(5)
                if span is not None:
                    out[f.key] = span
    return out


def _strong(text: str, f: ProfileField, value: str) -> bool:
    c = f.choice(value)
    if c is None:
        return False
    low = text.lower()
    # like item names: two Han characters or four Latin letters at least
    return any(w.lower() in low and len(w) >= (4 if w.isascii() else 2) for w in (c.label, c.label_en, *c.words))


def _is_new_question(text: str) -> bool:
    """A message that asks something of its own rather than answering (居住证怎么办?)."""
    t = text.strip().lower()
    return bool(
        len(t) > 24
        or re.search(r"[?？]|怎么|如何|哪里|在哪|多少钱|吗$|能不能|可不可以|要不要|什么时候|\bhow\b|\bwhere\b|\bwhat\b|\bwhen\b|\bcan i\b", t)
    )


# --------------------------------------------------------------------------- the three lists


def _name(item: ServiceItem, lang: Lang) -> str:
    return (item.name_en or item.name) if lang == "en" else item.name


def _short(text: str, lang: Lang) -> str:
    limit = NOTE_CHARS[lang]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cited(check: ConditionCheck, lang: Lang) -> str:
    """The condition line, whole, in quotes: the item's exact words."""
    text = check.cited.text_en if lang == "en" and check.cited.text_en else check.cited.text
    return _WORDS[lang]["quote"].format(text)


def _facts(check: ConditionCheck, profile: Profile, lang: Lang) -> str:
    w = _WORDS[lang]
    parts = []
    for key in check.fields:
        value = value_text(profile, key)
        if value:
            f = FIELDS_BY_KEY[key]
            parts.append(f"{f.label_en if lang == 'en' else f.label}{w['colon']}{describe(key, value, lang)}")
    return w["sep"].join(parts)


def how_to_apply(item: ServiceItem, verdict: Verdict, lang: Lang) -> str:
    """How to get it: 免申即享 where the item pays automatically, else its online channel (or first office)."""
    w = _WORDS[lang]
    if verdict.automatic:
        return w["automatic"]
    online = item.online
    if lang == "en":
        channel = online.app_en or online.web_en or (item.locations[0].name_en if item.locations else "")
    else:
        channel = online.app or online.web or (item.locations[0].name if item.locations else "")
    return f"{w['apply']}{w['colon']}{channel}" if channel else ""


def render_result(result: CheckupResult, profile: Profile, items: Mapping[str, ServiceItem], lang: Lang) -> str:
    """The three lists as text: every verdict names the item and quotes its condition."""
    w = _WORDS[lang]
    blocks = [_HEAD[lang]]
    for status in ("eligible", "possible", "ineligible"):
        verdicts = result.of(status)
        lines = [_SECTION[status][lang].format(n=len(verdicts))]
        if not verdicts:
            lines.append(_NONE_IN_SECTION[lang])
        for v in verdicts:
            item = items.get(v.item_id)
            if item is None:
                continue
            lines.append(f"· {_name(item, lang)}{w['colon']}{_why(v, item, profile, lang)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _why(v: Verdict, item: ServiceItem, profile: Profile, lang: Lang) -> str:
    w = _WORDS[lang]
    if v.status == "eligible":
        met = w["sep"].join(_cited(c, lang) for c in v.reasons)
        parts = [f"{w['meets']}{met}" if met else ""]
        if v.route and (sit := item.situation(v.route)) is not None:
            parts[0] += w["route"].format(sit.label_en if lang == "en" and sit.label_en else sit.label)
        how = how_to_apply(item, v, lang)
        if how:
            parts.append(how)
        notes = [p.text_en if lang == "en" and p.text_en else p.text for p in v.procedures]
        if notes:
            parts.append(f"{w['notes']}{w['colon']}" + w["sep"].join(_short(n, lang) for n in notes))
        return "。".join(p for p in parts if p) if lang == "zh" else ". ".join(p for p in parts if p)
    if v.status == "ineligible":
        c = v.reasons[0]
        facts = _facts(c, profile, lang)
        tail = f"（{w['yours']}{w['colon']}{facts}）" if facts and lang == "zh" else (f" ({w['yours']}: {facts})" if facts else "")
        return f"{w['fails']}{_cited(c, lang)}{tail}"
    office: list[str] = []
    missing: list[str] = []
    for c in v.reasons:
        office.extend(c.office_en if lang == "en" else c.office)
        missing.extend(c.missing)
    parts = []
    if office:
        parts.append(f"{w['check']}{w['colon']}" + w["sep"].join(dict.fromkeys(office)))
    if missing:
        labels = [FIELDS_BY_KEY[k].label_en if lang == "en" else FIELDS_BY_KEY[k].label for k in dict.fromkeys(missing)]
        parts.append(f"{w['unanswered']}{w['colon']}" + w["sep"].join(labels))
    return ("。" if lang == "zh" else ". ").join(parts)


__all__ = [
    "CHECKUP_CUE",
    "CheckupDialogue",
    "CheckupTurn",
    "Reply",
    "checkup_audience",
    "how_to_apply",
    "read_facts",
    "read_reply",
    "render_result",
]
