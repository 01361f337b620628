"""The check-up profile: its fields, their answers, and the tests items put on them.

The policy check-up (政策体检) asks a citizen or a company a few questions and
evaluates each item's ``Eligibility`` (``assistant.core.types``) over the
answers.  This module is the one list of what may be asked (``FIELDS``) and
the three-valued logic of a ``Criterion`` over a ``Profile``; the knowledge-base
validator checks every item's conditions against it, the check-up engine
(``assistant.checkup``) asks from it, and the API builds its profile body
from it.

Values: a choice field holds one of its choice keys (``residence: hukou``); a
number field a ``Span`` (``age: 65–69``), written in answers and option values
as ``"65-69"``, ``"65-"`` (65 or more), ``"67"`` or ``"none"`` (no child).
Fields of one ``group`` are asked together as one checklist (tick any): each
row sets its field's value, a field with no row ticked takes its ``unticked``
value.  Number fields count whole years of age, or months.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from assistant.core.types import Audience, Profile, Span, Criterion


@dataclass(frozen=True)
class Choice:
    """One answer of a choice field (or one checklist row): ``value`` is its key."""

    value: str
    label: str
    label_en: str
    #: everyday words of a typed reply meaning this answer (上海户口 for ``hukou``).
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProfileField:
    """One thing the check-up may ask, with its question and answers in both languages."""

    key: str
    audience: Audience
    kind: Literal["choice", "number"]
    #: the fact in a few words, for the reasons of a verdict (年龄, age).
    label: str
    label_en: str
    question: str
    question_en: str
    choices: tuple[Choice, ...] = ()
    #: number fields: ``age`` (whole years) or ``months`` (shown in years where they divide).
    unit: Literal["", "age", "months"] = ""
    #: number fields: the answer "there is none" (没有孩子), if it exists.
    none: Choice | None = None
    #: highest plausible value of a number field (a typed 300岁 is not an answer).
    maximum: int = 0
    #: fields of one group are asked together as a checklist.
    group: str = ""
    #: checklist rows of this field: each sets the field to its ``value``.
    ticks: tuple[Choice, ...] = ()
    #: the value of a field of a checklist when none of its rows is ticked.
    unticked: str = ""

    def values(self) -> tuple[str, ...]:
        """The keys of a choice field."""
        return tuple(c.value for c in self.choices)

    def choice(self, value: str) -> Choice | None:
        """The choice with key ``value``, or None."""
        return next((c for c in self.choices if c.value == value), None)


_YES_NO = ("yes", "no")


def _yes_no(yes: str, yes_en: str, no: str, no_en: str) -> tuple[Choice, ...]:
    return (Choice("yes", yes, yes_en), Choice("no", no, no_en))


#: Every field of the check-up profile, in the order questions are asked when
#: they are equally decisive.  Item conditions may use only these fields and values.
FIELDS: tuple[ProfileField, ...] = (
    # ------------------------------------------------------------------ citizens
    ProfileField(
        "age", "citizen", "number", "年龄", "age",
        "请问您今年多大年纪？", "How old are you?",
        unit="age", maximum=130,
    ),
    ProfileField(
        "residence", "citizen", "choice", "户籍与居住情况", "hukou and residence",
        "您的户籍和居住情况是？", "What is your household registration (hukou) and residence?",
        choices=(
            Choice("hukou", "上海户籍", "Shanghai hukou",
                   ("上海户口", "上海户籍", "本地户口", "本市户籍", "沪籍", "上海人", "本地人", "shanghai hukou")),
            Choice("permit", "非上海户籍，持有上海居住证", "Other hukou, holding a Shanghai residence permit",
                   ("居住证", "residence permit")),
            Choice("resident", "非上海户籍，住在上海但没有居住证", "Other hukou, living in Shanghai without a residence permit",
                   ("没有居住证", "没居住证", "没办居住证", "无居住证", "no residence permit", "without a permit")),
            Choice("away", "不在上海居住", "Not living in Shanghai",
                   ("不在上海", "不住在上海", "不住上海", "not living in shanghai", "live elsewhere")),
        ),
    ),
    ProfileField(
        "employment", "citizen", "choice", "就业状况", "work",
        "您目前的工作状况是？", "What is your work situation?",
        choices=(
            Choice("employed", "在单位上班（有劳动合同）", "Employed (labour contract)",
                   ("上班", "在职", "打工", "有工作", "employed", "i work", "full-time job")),
            Choice("business", "自己开公司或个体工商户", "Running my own company or sole business",
                   ("开公司", "个体", "创业", "老板", "开店", "小店", "做生意", "店主", "own business", "self-employed",
                    "my company")),
            Choice("flexible", "灵活就业、自由职业", "Freelance or gig work",
                   ("灵活就业", "自由职业", "外卖", "网约车", "兼职", "freelance", "gig")),
            Choice("laid_off", "失业：合同到期或被单位解除", "Out of work: contract ended or dismissed",
                   ("被辞退", "裁员", "合同到期", "被开除", "解除", "辞退", "laid off", "dismissed", "contract ended")),
            Choice("quit", "失业：自己辞职", "Out of work: I resigned",
                   ("辞职", "辞了", "主动离职", "resigned", "i quit")),
            Choice("retired", "已退休", "Retired", ("退休", "retired")),
            Choice("student", "在校学生", "Student", ("学生", "上学", "读书", "在读", "student")),
            Choice("other", "其他（如料理家务、暂无工作）", "Other (e.g. homemaker, not working)",
                   ("家庭主妇", "在家", "无业", "待业", "homemaker", "not working")),
        ),
    ),
    ProfileField(
        "insurance_months", "citizen", "number", "在上海缴纳职工社保的时间", "Shanghai employee social insurance paid",
        "您在上海累计缴纳职工社会保险多长时间了？", "How long have you paid Shanghai employee social insurance in total?",
        unit="months", maximum=12 * 60,
    ),
    ProfileField(
        "income", "citizen", "choice", "家庭收入", "household income",
        "您家的收入情况是？", "Which describes your household's income?",
        choices=(
            Choice("dibao", "低保家庭（或人均收入低于本市低保标准）", "Receives 低保 (or earns below the minimum living standard)",
                   ("低保", "dibao", "minimum living")),
            Choice("low", "低收入困难家庭", "Recognised low-income household", ("低收入", "low-income", "low income")),
            Choice("neither", "不属于低保或低收入家庭", "Neither", ("都不是", "neither")),
        ),
        group="circumstances",
        ticks=(
            Choice("dibao", "家庭享受低保，或人均收入低于本市低保标准", "My household receives 低保 or earns below its line",
                   ("低保",)),
            Choice("low", "属于本市低收入困难家庭", "My household is a recognised low-income household", ("低收入",)),
        ),
        unticked="neither",
    ),
    ProfileField(
        "disability", "citizen", "choice", "残疾人证", "disability certificate",
        "您持有残疾人证吗？", "Do you hold a disability certificate (残疾人证)?",
        choices=_yes_no("持有残疾人证", "holds a disability certificate", "没有残疾人证", "no disability certificate"),
        group="circumstances",
        ticks=(Choice("yes", "本人持有残疾人证", "I hold a disability certificate (残疾人证)",
                      ("残疾", "残疾证", "残疾人证", "disab")),),
        unticked="no",
    ),
    ProfileField(
        "youngest_child_age", "citizen", "number", "最小的孩子的年龄", "youngest child's age",
        "您最小的孩子几岁？", "How old is your youngest child?",
        unit="age", maximum=60,
        none=Choice("none", "没有孩子", "no children", ("没有孩子", "没孩子", "no child", "no kids")),
        group="circumstances",
        ticks=(Choice("0-2", "家里有不满3岁的孩子", "I have a child under 3",
                      ("宝宝", "婴儿", "孩子", "小孩", "child", "baby")),),
        unticked="3-",
    ),
    ProfileField(
        "home", "citizen", "choice", "在上海的自有住房", "own home in Shanghai",
        "您（和配偶）在上海有自有住房吗？", "Do you (or your spouse) own a home in Shanghai?",
        choices=(
            Choice("none", "本人及配偶在上海没有自有住房", "neither I nor my spouse owns a home in Shanghai",
                   ("没有房", "没房", "无房", "no home", "don't own")),
            Choice("own", "在上海有自有住房", "owns a home in Shanghai", ("有房", "own a home")),
        ),
        group="circumstances",
        ticks=(Choice("none", "本人及配偶在上海没有自有住房", "Neither I nor my spouse owns a home in Shanghai",
                      ("没有房", "没房", "无房", "no home")),),
        unticked="own",
    ),
    ProfileField(
        "renting", "citizen", "choice", "租房居住", "renting",
        "您在上海租房住吗？", "Do you rent your home in Shanghai?",
        choices=_yes_no("在上海租房住", "rents in Shanghai", "不是租房住", "does not rent"),
        group="circumstances",
        ticks=(Choice("yes", "在上海租房住", "I rent my home in Shanghai", ("租房", "租的", "rent")),),
        unticked="no",
    ),
    ProfileField(
        "housing_fund", "citizen", "choice", "住房公积金", "housing provident fund",
        "您正在上海缴存住房公积金吗？", "Do you pay into a Shanghai housing provident fund?",
        choices=_yes_no("正在上海缴存住房公积金", "pays into a Shanghai housing fund", "没有在上海缴存公积金", "no Shanghai housing fund"),
        group="circumstances",
        ticks=(Choice("yes", "正在上海缴存住房公积金", "I pay into a Shanghai housing provident fund",
                      ("公积金", "provident")),),
        unticked="no",
    ),
    ProfileField(
        "certificate", "citizen", "choice", "职业资格或技能等级证书", "vocational certificate",
        "您近期取得过职业资格证书或职业技能等级证书吗？", "Did you recently obtain a vocational qualification or skill-level certificate?",
        choices=_yes_no("近期取得了职业资格或技能等级证书", "recently obtained a vocational certificate",
                        "近期没有取得职业资格或技能等级证书", "no recent vocational certificate"),
        group="circumstances",
        ticks=(Choice("yes", "近期取得了职业资格证书或职业技能等级证书", "I recently obtained a vocational or skill-level certificate",
                      ("证书", "技能证", "资格证", "certificate")),),
        unticked="no",
    ),
    # ------------------------------------------------------------------ enterprises
    ProfileField(
        "company_size", "enterprise", "choice", "企业规模", "company size",
        "贵企业的规模是？", "What size is your company?",
        choices=(
            Choice("large", "大型企业", "large enterprise", ("大型", "大企业", "large")),
            Choice("sme", "中小微企业", "small, medium or micro enterprise", ("中小", "小微", "中型", "小型", "微型", "small", "medium")),
        ),
    ),
    ProfileField(
        "sector", "enterprise", "choice", "所属行业", "sector",
        "贵企业属于哪个行业？", "Which sector is your company in?",
        choices=(
            Choice("manufacturing", "制造业", "manufacturing", ("制造", "工厂", "manufactur")),
            Choice("construction", "建筑业", "construction", ("建筑", "construction")),
            Choice("trade", "批发和零售业", "wholesale and retail", ("批发", "零售", "retail")),
            Choice("catering", "住宿和餐饮业", "hotels and catering", ("餐饮", "饭店", "住宿", "restaurant")),
            Choice("tech", "信息技术服务业", "information technology", ("软件", "互联网", "信息技术", "software", "tech")),
            Choice("services", "其他服务业", "other services", ("服务业", "services")),
            Choice("other", "其他行业", "other", ("其他", "other")),
        ),
    ),
    ProfileField(
        "unemployment_insurance", "enterprise", "choice", "失业保险缴纳", "unemployment insurance",
        "贵企业上年度在本市足额缴纳失业保险满12个月了吗？",
        "Did your company pay unemployment insurance in full in Shanghai for all 12 months of last year?",
        choices=_yes_no("上年度在本市足额缴纳失业保险满12个月", "paid unemployment insurance in full for 12 months last year",
                        "上年度未足额缴纳失业保险满12个月", "did not pay unemployment insurance in full for 12 months last year"),
        group="company",
        ticks=(Choice("yes", "上年度在本市足额缴纳失业保险满12个月", "Paid unemployment insurance in full in Shanghai for 12 months last year",
                      ("失业保险", "足额", "unemployment insurance")),),
        unticked="no",
    ),
    ProfileField(
        "layoffs", "enterprise", "choice", "上年度裁员情况", "layoffs last year",
        "贵企业上年度裁员了吗？", "Did your company lay anyone off last year?",
        choices=(
            Choice("none", "上年度未裁员", "no layoffs last year", ("没裁员", "未裁员", "no layoffs")),
            Choice("some", "上年度有裁员", "some layoffs last year", ("裁员", "layoff")),
        ),
        group="company",
        ticks=(Choice("some", "上年度有裁员", "We laid off staff last year", ("裁员", "layoff")),),
        unticked="none",
    ),
    ProfileField(
        "dishonest", "enterprise", "choice", "严重失信主体名单", "serious dishonesty list",
        "贵企业被列入严重失信主体名单了吗？", "Is your company on the list of seriously dishonest entities?",
        choices=_yes_no("被列入严重失信主体名单", "on the serious dishonesty list", "未被列入严重失信主体名单", "not on the serious dishonesty list"),
        group="company",
        ticks=(Choice("yes", "被列入严重失信主体名单", "We are on the list of seriously dishonest entities", ("失信", "dishonest")),),
        unticked="no",
    ),
    ProfileField(
        "hired_youth", "enterprise", "choice", "招用高校毕业生或失业青年", "hired graduates or unemployed youth",
        "贵企业今年招用了离校未就业高校毕业生或登记失业的青年吗？",
        "Did your company hire unemployed recent graduates or registered unemployed young people this year?",
        choices=_yes_no("招用了离校未就业高校毕业生或登记失业青年", "hired unemployed graduates or young people",
                        "没有招用离校未就业高校毕业生或登记失业青年", "hired no unemployed graduates or young people"),
        group="company",
        ticks=(Choice("yes", "招用了离校未就业高校毕业生或登记失业的16–24岁青年",
                      "We hired unemployed recent graduates or registered unemployed people aged 16–24",
                      ("毕业生", "应届", "青年", "graduate")),),
        unticked="no",
    ),
)

FIELDS_BY_KEY: Mapping[str, ProfileField] = {f.key: f for f in FIELDS}

#: What a citizen says to skip a question (不想说), in both languages.
DECLINE_WORDS: tuple[str, ...] = (
    "不想说", "不方便说", "不方便透露", "不告诉", "保密", "跳过", "不知道", "不清楚", "不确定", "说不清",
    "skip", "prefer not", "rather not", "don't know", "not sure", "pass",
)


def fields_of(audience: str) -> tuple[ProfileField, ...]:
    """The fields asked of ``audience`` (``citizen`` or ``enterprise``), in catalog order."""
    return tuple(f for f in FIELDS if f.audience == audience)


def field(key: str) -> ProfileField:
    """The field ``key``; KeyError names the known fields."""
    try:
        return FIELDS_BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown profile field {key!r}; known: {', '.join(FIELDS_BY_KEY)}") from None


# --------------------------------------------------------------------------- values

_SPAN = re.compile(r"^(\d+)(?:(-)(\d+)?)?$")


def parse_span(text: str) -> Span:
    """``"65-69"`` → 65..69, ``"65-"`` → 65 or more, ``"67"`` → exactly 67, ``"none"`` → none.

    ValueError (naming the text and the forms) for anything else.
    """
    t = text.strip()
    if t == "none":
        return Span(0, 0, none=True)
    m = _SPAN.match(t)
    if not m:
        raise ValueError(f"{text!r} is not a number answer; write 67, 65-69, 65- (65 or more) or none")
    low = int(m.group(1))
    if not m.group(2):
        return Span(low, low)
    high = int(m.group(3)) if m.group(3) else None
    if high is not None and high < low:
        raise ValueError(f"{text!r}: the upper bound is below the lower one; write 67, 65-69, 65- or none")
    return Span(low, high)


def span_text(span: Span) -> str:
    """The answer text of ``span`` (the inverse of :func:`parse_span`)."""
    if span.none:
        return "none"
    if span.high == span.low:
        return str(span.low)
    return f"{span.low}-" + ("" if span.high is None else str(span.high))


def with_value(profile: Profile, key: str, value: str) -> Profile:
    """``profile`` with ``key`` answered ``value`` (a choice key or a span text); ValueError if invalid."""
    f = field(key)
    if f.audience != profile.audience:
        raise ValueError(f"field {key!r} is asked of {f.audience}s, not of {profile.audience}s")
    declined = tuple(d for d in profile.declined if d != key)
    if f.kind == "choice":
        if value not in f.values():
            raise ValueError(f"{value!r} is not an answer to {key!r}; use one of {', '.join(f.values())}")
        return Profile(profile.audience, {**profile.choices, key: value}, profile.numbers, declined)
    span = parse_span(value)
    if span.none and f.none is None:
        raise ValueError(f"{key!r} cannot be 'none'; give a number")
    if not span.none and (span.low > f.maximum or (span.high is not None and span.high > f.maximum)):
        raise ValueError(f"{value!r} is out of range for {key!r} (0 to {f.maximum})")
    return Profile(profile.audience, profile.choices, {**profile.numbers, key: span}, declined)


def declined(profile: Profile, key: str) -> Profile:
    """``profile`` with ``key`` skipped (不想说): unknown from now on."""
    choices = {k: v for k, v in profile.choices.items() if k != key}
    numbers = {k: v for k, v in profile.numbers.items() if k != key}
    return Profile(profile.audience, choices, numbers, tuple(dict.fromkeys((*profile.declined, key))))


def value_text(profile: Profile, key: str) -> str:
    """The answer ``profile`` holds for ``key`` as text (``hukou``, ``65-69``), or ""."""
    if key in profile.choices:
        return profile.choices[key]
    if key in profile.numbers:
        return span_text(profile.numbers[key])
    return ""


def describe(key: str, value: str, lang: str = "zh") -> str:
    """An answer in words: ``residence=hukou`` → 上海户籍, ``age=65-69`` → 65–69岁."""
    f = field(key)
    en = lang == "en"
    if f.kind == "choice":
        c = f.choice(value)
        return value if c is None else (c.label_en if en else c.label)
    span = parse_span(value)
    if span.none:
        return value if f.none is None else (f.none.label_en if en else f.none.label)
    return band_label(f, span.low, span.high, lang)


def band_label(f: ProfileField, low: int, high: int | None, lang: str = "zh") -> str:
    """Words for a number between ``low`` and ``high`` (None: no bound) in the field's unit."""
    en = lang == "en"
    if f.unit == "months":
        if high == 0:
            return "none" if en else "没有缴纳"

        def amount(m: int) -> str:
            if m % 12 == 0:
                y = m // 12
                return f"{y} year{'s' if y != 1 else ''}" if en else f"{y}年"
            return f"{m} month{'s' if m != 1 else ''}" if en else f"{m}个月"

        if low == high:
            return amount(low)
        if low <= 1 and high is not None:
            return f"under {amount(high + 1)}" if en else f"不满{amount(high + 1)}"
        if high is None:
            return f"{amount(low)} or more" if en else f"{amount(low)}及以上"
        return f"{amount(low)} to under {amount(high + 1)}" if en else f"满{amount(low)}、不满{amount(high + 1)}"
    unit = "" if en else "岁"
    if low == high:
        return f"{low}{unit}"
    if low == 0 and high is not None:
        return f"under {high + 1}" if en else f"不满{high + 1}岁"
    if high is None:
        return f"{low} or older" if en else f"{low}岁及以上"
    return f"{low}–{high}" if en else f"{low}–{high}岁"


# --------------------------------------------------------------------------- tests


@dataclass(frozen=True)
class CriterionResult:
    """A test's three-valued outcome; an unknown one says what is missing to settle it."""

    outcome: Literal["met", "unmet", "unknown"]
    #: unanswered (or declined) fields that would settle an unknown outcome.
    missing: tuple[str, ...] = ()
    #: office leaves of an unknown outcome: what only the office can check.
    office: tuple[Criterion, ...] = ()


def evaluate(test: Criterion, profile: Profile) -> CriterionResult:
    """``test`` over ``profile`` in three-valued (Kleene) logic.

    ``all`` fails when any part fails and passes when every part passes; ``any``
    passes when any part passes and fails when every part fails; otherwise the
    outcome is unknown and names what is missing (unanswered fields, office checks).
    """
    if test.all or test.any:
        parts = [evaluate(t, profile) for t in (test.all or test.any)]
        decisive = "unmet" if test.all else "met"
        if any(p.outcome == decisive for p in parts):
            return CriterionResult(decisive)  # type: ignore[arg-type]
        unknown = [p for p in parts if p.outcome == "unknown"]
        if not unknown:
            return CriterionResult("met" if test.all else "unmet")
        return CriterionResult(
            "unknown",
            tuple(dict.fromkeys(f for p in unknown for f in p.missing)),
            tuple(dict.fromkeys(o for p in unknown for o in p.office)),
        )
    if test.office:
        return CriterionResult("unknown", office=(test,))
    key = test.field
    if key in profile.choices:
        return CriterionResult("met" if profile.choices[key] in test.one_of else "unmet")
    if key in profile.numbers:
        return _number(test, profile.numbers[key])
    return CriterionResult("unknown", (key,))


def _number(test: Criterion, span: Span) -> CriterionResult:
    if span.none:
        return CriterionResult("unmet")
    low_ok = test.min is None or span.low >= test.min
    high_ok = test.max is None or (span.high is not None and span.high <= test.max)
    if low_ok and high_ok:
        return CriterionResult("met")
    below = test.min is not None and span.high is not None and span.high < test.min
    above = test.max is not None and span.low > test.max
    if below or above:
        return CriterionResult("unmet")
    return CriterionResult("unknown", (test.field,))


def criterion_problems(test: Criterion, *, audience: str) -> list[str]:
    """What is wrong with ``test`` for an item of ``audience``: unknown fields or values,
    mixed kinds, bounds on a choice field; each a sentence naming the fix."""
    out: list[str] = []
    kinds = [bool(test.field), bool(test.office), bool(test.all), bool(test.any)]
    if sum(kinds) != 1:
        return ["a test is exactly one of: a field leaf (field: …), an office leaf (office: …), all: […] or any: […]"]
    if test.all or test.any:
        for t in (*test.all, *test.any):
            out.extend(criterion_problems(t, audience=audience))
        return out
    if test.office:
        if test.one_of or test.min is not None or test.max is not None:
            out.append(f"office leaf {test.office!r} cannot also test a value")
        if not test.office_en.strip():
            out.append(f"office leaf {test.office!r} needs office_en (its English)")
        return out
    f = FIELDS_BY_KEY.get(test.field)
    if f is None:
        return [f"unknown profile field {test.field!r}; use one of {', '.join(FIELDS_BY_KEY)}"]
    if f.audience != audience:
        out.append(f"field {test.field!r} belongs to {f.audience} profiles, but the item's audience is {audience}")
    if f.kind == "choice":
        if test.min is not None or test.max is not None:
            out.append(f"{test.field!r} is a choice field; test it with one_of, not min/max")
        if not test.one_of:
            out.append(f"{test.field!r}: one_of must list the values that pass ({', '.join(f.values())})")
        for v in test.one_of:
            if v not in f.values():
                out.append(f"{v!r} is not a value of {test.field!r}; use one of {', '.join(f.values())}")
    else:
        if test.one_of:
            out.append(f"{test.field!r} is a number field; test it with min/max, not one_of")
        if test.min is None and test.max is None:
            out.append(f"{test.field!r}: give min or max")
        for bound in (test.min, test.max):
            if bound is not None and not 0 <= bound <= f.maximum:
                out.append(f"{test.field!r}: bound {bound} is outside 0..{f.maximum}")
        if f.group and f.ticks:
            # a checklist must settle the test: every row and the unticked value decide it
            answers = [t.value for t in f.ticks] + [f.unticked]
            for a in answers:
                if evaluate(test, Profile(f.audience, numbers={f.key: parse_span(a)})).outcome == "unknown":
                    out.append(
                        f"{test.field!r} with min={test.min} max={test.max} is not settled by the checklist answer "
                        f"{a!r}; test a bound the checklist rows decide, or add a row to the field"
                    )
    return out


def tested_fields(tests: Sequence[Criterion]) -> tuple[str, ...]:
    """Every field the tests read, in order."""
    return tuple(dict.fromkeys(f for t in tests for f in t.fields()))
