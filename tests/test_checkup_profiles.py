"""The policy check-up over 60 profiles: expected verdicts, questions asked, and why each was asked.

Each row is a citizen or a company with everything the check-up could ask
(some answers declined), and the verdicts expected on every item that carries
eligibility data.  The expectations were written by reading each item's
conditions (``knowledge_base/items/*.yaml``: ``conditions``, the situations,
and the ``eligibility`` restating them), not by running the engine:

- 老年综合津贴 (EA): 上海户籍 and 65+ → eligible.
- 老年人免费健康体检 (HC): 65+; 户籍 → eligible, 常住非户籍 (permit / resident) → possible
  (符合条件 is the centre's to say), not living in Shanghai → not.
- 养老服务补贴 (CS): 上海户籍 and 60+ → possible at best (the care assessment; 经济困难 "等").
- 长护险评估 (LTC): 60+; retired with Shanghai employee insurance → eligible, otherwise possible
  (居民医保 also qualifies and is not asked).
- 育儿补贴 (CC): a child under 3 → eligible.
- 失业保险金 (UB): 12+ months of insurance and out of work not by one's own will → eligible.
- 创业补贴 (ES): running a business → possible (当年扶持对象); otherwise not.
- 职业技能培训补贴 (VT): a recent certificate → possible (当年对象范围); otherwise not.
- 残疾人两项补贴 (DS): 上海户籍 and a 残疾人证; with 低保 the living subsidy → eligible, else possible.
- 低保 (SA): 上海户籍 and income below the 低保 line → possible (assets are checked by the centre).
- 廉租房 (LR): 上海户籍 → possible (area, income and years are announced standards).
- 共有产权房 (SO): 上海户籍 → possible; 居住证 and no home → possible; otherwise not.
- 公租房 (PR): employed with Shanghai insurance, and 户籍 or 居住证 → possible (other housing
  support is the operator's to check); otherwise not.
- 租房提取公积金 (FR): paying into the fund, no home, renting → possible (the centre checks
  other withdrawals); otherwise not.
- 居住证积分 (RP): 居住证, employed with insurance → possible (一票否决 is not asked).
- 居转户 (RH): 居住证 → possible (years, tax, title and record are the office's).
- 稳岗补贴 (JS, companies): on the 严重失信 list → not; insurance paid in full, no layoffs
  and not listed → eligible (免申即享); otherwise possible.
- 吸纳高校毕业生就业补贴 (GE, companies): hired unemployed graduates or youth → possible.

Every profile is also walked through the check-up conversation (answering from
the profile, in buttons' words or everyday words): the verdicts at the end must
be the expected ones, every question asked must be able to change a verdict
(shown by trying every answer to it, the rest of what is known held fixed), and
the test prints the mean number of questions.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant.checkup import CheckupEngine
from assistant.core.profile import FIELDS_BY_KEY, fields_of, parse_span, with_value
from assistant.core.types import DialogueState, Profile, ProfileQuestion
from assistant.dialogue.checkup import CheckupDialogue
from knowledge_base.loader import load_items

KB = Path(__file__).resolve().parents[1] / "knowledge_base" / "items"

ITEMS = {
    "EA": "elderly-allowance",
    "HC": "elderly-health-checkup",
    "CS": "elderly-care-subsidy",
    "LTC": "medical-insurance-ltc",
    "CC": "childcare-subsidy",
    "UB": "unemployment-benefit",
    "ES": "entrepreneurship-subsidy",
    "VT": "vocational-training-subsidy",
    "DS": "disability-subsidy",
    "SA": "subsistence-allowance",
    "LR": "housing-low-rent",
    "SO": "housing-shared-ownership",
    "PR": "housing-public-rental",
    "FR": "housing-fund-withdraw-rent",
    "RP": "residence-permit-points",
    "RH": "hukou-residence-to-hukou",
    "JS": "job-stabilization-subsidy",
    "GE": "graduate-employment-subsidy",
}
CITIZEN_ITEMS = [k for k in ITEMS if k not in ("JS", "GE")]
ENTERPRISE_ITEMS = ["JS", "GE"]

#: an ordinary working Shanghai resident; rows change what differs.
BASE = {
    "age": 35, "residence": "hukou", "employment": "employed", "insurance_months": 60, "income": "neither",
    "disability": "no", "youngest_child_age": None, "home": "own", "renting": "no", "housing_fund": "yes",
    "certificate": "no",
}
COMPANY = {"company_size": "sme", "sector": "services", "unemployment_insurance": "yes", "layoffs": "none",
           "dishonest": "no", "hired_youth": "no"}
CIRCUMSTANCES = ("income", "disability", "youngest_child_age", "home", "renting", "housing_fund", "certificate")
COMPANY_CHECKLIST = ("unemployment_insurance", "layoffs", "dishonest", "hired_youth")


@dataclass(frozen=True)
class Row:
    name: str
    changes: Mapping[str, object]
    eligible: frozenset[str]
    possible: frozenset[str]
    declined: tuple[str, ...] = ()
    audience: str = "citizen"
    lang: str = "zh"
    #: typed replies instead of buttons, per field (a checklist under "circumstances" / "company").
    say: Mapping[str, str] = field(default_factory=dict)
    start: str = ""

    def values(self) -> dict[str, object]:
        base = BASE if self.audience == "citizen" else COMPANY
        return {**base, **self.changes}


def row(name: str, eligible: str = "", possible: str = "", **kw: object) -> Row:
    split = lambda s: frozenset(s.split())  # noqa: E731
    known = {"declined", "audience", "lang", "say", "start"}
    changes = {k: v for k, v in kw.items() if k not in known}
    extra = {k: v for k, v in kw.items() if k in known}
    return Row(name, changes, split(eligible), split(possible), **extra)  # type: ignore[arg-type]


ALL = " ".join(CITIZEN_ITEMS)
ROWS: list[Row] = [
    # ---- seniors
    row("retired Shanghai senior, 70", "EA HC LTC", "CS LR SO", age=70, employment="retired", insurance_months=360, housing_fund="no"),
    row("66, 低保 and disabled, homemaker", "EA HC DS", "LTC CS SA LR SO", age=66, employment="other", insurance_months=0,
        income="dibao", disability="yes", housing_fund="no"),
    row("68, residence permit, retired", "LTC", "HC RH", age=68, residence="permit", employment="retired", insurance_months=240,
        housing_fund="no"),
    row("75, living in Shanghai without a permit", "", "HC LTC", age=75, residence="resident", employment="other",
        insurance_months=0, housing_fund="no"),
    row("80, not living in Shanghai, retired elsewhere", "", "LTC", age=80, residence="away", employment="retired",
        insurance_months=0, housing_fund="no"),
    row("62, still employed, Shanghai hukou", "", "CS LTC PR LR SO", age=62, insurance_months=400),
    row("exactly 65, retired, low income", "EA HC LTC", "CS LR SO", age=65, employment="retired", insurance_months=300,
        income="low", housing_fund="no"),
    row("64, retired", "LTC", "CS LR SO", age=64, employment="retired", insurance_months=300, housing_fund="no"),
    row("70, 低保, disabled, renting, no home", "EA HC LTC DS", "CS SA LR SO", age=70, employment="retired",
        insurance_months=200, income="dibao", disability="yes", home="none", renting="yes", housing_fund="no"),
    row("66, no permit, 低保 (not for non-hukou)", "", "HC LTC", age=66, residence="resident", employment="other",
        insurance_months=0, income="dibao", housing_fund="no"),
    row("exactly 60, homemaker, low income", "", "CS LTC LR SO", age=60, employment="other", insurance_months=0, income="low",
        housing_fund="no"),
    row("59, employed", "", "PR LR SO", age=59, insurance_months=400),
    # ---- working age, Shanghai hukou
    row("35, employed, owns a home", "", "PR LR SO"),
    row("35, employed, renting, paying the housing fund", "", "PR LR SO FR", home="none", renting="yes"),
    row("new parent, Shanghai hukou", "CC", "PR LR SO", youngest_child_age=1),
    row("child exactly 3", "", "PR LR SO", youngest_child_age=3),
    row("laid off after 5 years", "UB", "LR SO", age=40, employment="laid_off", housing_fund="no"),
    row("laid off after 8 months", "", "LR SO", age=28, employment="laid_off", insurance_months=8, housing_fund="no"),
    row("runs a business", "", "ES LR SO", age=45, employment="business", insurance_months=120, housing_fund="no"),
    row("freelancer with a new certificate", "", "VT LR SO", age=29, employment="flexible", insurance_months=30,
        certificate="yes", housing_fund="no"),
    row("student, no home of her own", "", "LR SO", age=20, employment="student", insurance_months=0, home="none",
        housing_fund="no"),
    row("低保 family with a toddler", "CC", "SA LR SO", age=40, employment="other", insurance_months=0, income="dibao",
        youngest_child_age=2, housing_fund="no"),
    row("low income, disabled", "", "DS LR SO", age=50, employment="other", insurance_months=100, income="low",
        disability="yes", housing_fund="no"),
    row("employed a few months", "", "PR LR SO", age=24, insurance_months=5),
    row("laid off, with a new certificate", "UB", "VT LR SO", age=36, employment="laid_off", insurance_months=100,
        certificate="yes", housing_fund="no"),
    row("young parent, 低保, disabled, renting", "CC DS", "SA LR SO", age=31, employment="other", insurance_months=0,
        income="dibao", disability="yes", youngest_child_age=2, home="none", renting="yes", housing_fund="no"),
    row("freelancer renting, paying the fund", "", "FR LR SO", age=34, employment="flexible", insurance_months=70,
        home="none", renting="yes"),
    row("owns a home but rents where she works", "", "PR LR SO", renting="yes"),
    # ---- residence permit, no permit, not in Shanghai
    row("new parent with a residence permit, renting", "CC", "PR SO FR RP RH", age=30, residence="permit",
        insurance_months=36, youngest_child_age=0, home="none", renting="yes"),
    row("resigned, residence permit", "", "SO RH", age=30, residence="permit", employment="quit", insurance_months=48,
        home="none", renting="yes", housing_fund="no"),
    row("business owner with a permit, renting", "", "ES SO FR RH", age=33, residence="permit", employment="business",
        insurance_months=24, home="none", renting="yes"),
    row("disabled, residence permit, employed", "", "PR RP RH", age=45, residence="permit", income="dibao", disability="yes"),
    row("employed, no residence permit, renting", "", "FR", age=27, residence="resident", insurance_months=12, home="none",
        renting="yes"),
    row("student not living in Shanghai", "", "", age=22, residence="away", employment="student", insurance_months=0,
        housing_fund="no"),
    row("permit, employed, never insured", "", "RH SO", age=26, residence="permit", insurance_months=0, home="none",
        renting="yes", housing_fund="no"),
    row("laid off with a permit, 2 years insured", "UB", "RH SO", age=32, residence="permit", employment="laid_off",
        insurance_months=24, home="none", renting="yes", housing_fund="no"),
    row("works for a Shanghai firm, lives elsewhere", "", "", age=40, residence="away", housing_fund="no"),
    row("permit, business, certificate, owns a home", "", "ES VT RH", age=38, residence="permit", employment="business",
        insurance_months=80, certificate="yes", housing_fund="no"),
    # ---- declined answers
    row("declines the age: retired, hukou", "", "EA HC CS LTC LR SO", declined=("age",), employment="retired",
        insurance_months=300, housing_fund="no"),
    row("declines residence: 70, retired", "LTC", "EA HC CS LR SO RH", declined=("residence",), age=70,
        employment="retired", insurance_months=300, housing_fund="no"),
    row("declines the checklist", "", "CC DS SA LR SO PR FR VT", declined=CIRCUMSTANCES),
    row("declines work: permit, renting", "", "UB ES PR RP RH SO FR", declined=("employment",), age=30,
        residence="permit", insurance_months=24, home="none", renting="yes"),
    row("declines insurance: laid off", "", "UB LR SO", declined=("insurance_months",), age=38, employment="laid_off",
        housing_fund="no"),
    row("declines everything", "", ALL,
        declined=("age", "residence", "employment", "insurance_months", *CIRCUMSTANCES)),
    # ---- typed replies and English
    row("English: permit holder, employed, renting, certificate", "", "PR RP RH SO FR VT", lang="en", age=29,
        residence="permit", insurance_months=30, home="none", renting="yes", certificate="yes",
        start="What benefits am I eligible for?"),
    row("English: retired Shanghai senior", "EA HC LTC", "CS LR SO", lang="en", age=72, employment="retired",
        insurance_months=360, housing_fund="no", start="Which benefits can I get? Please do a benefits check-up"),
    row("typed: senior in everyday words", "EA HC LTC", "CS LR SO", age=72, employment="retired", insurance_months=300,
        housing_fund="no",
        say={"residence": "上海户口", "age": "七十二岁", "employment": "退休了", "insurance_months": "二十五年",
             "circumstances": "没有"}),
    row("typed: permit holder in everyday words", "", "PR RP RH", age=26, residence="permit", insurance_months=36,
        renting="yes",
        say={"residence": "我有居住证", "age": "26", "employment": "在公司上班", "insurance_months": "3年",
             "circumstances": "租房；公积金"}),
    # ---- companies
    row("company: all in order, hired graduates", "JS", "GE", audience="enterprise", hired_youth="yes"),
    row("company: laid off staff last year", "", "JS", audience="enterprise", layoffs="some"),
    row("company: on the dishonesty list, hired graduates", "", "GE", audience="enterprise", dishonest="yes",
        hired_youth="yes"),
    row("company: insurance not paid in full", "", "JS", audience="enterprise", unemployment_insurance="no"),
    row("company: short insurance and layoffs", "", "JS", audience="enterprise", unemployment_insurance="no",
        layoffs="some"),
    row("company: nothing ticked", "", "JS", audience="enterprise", unemployment_insurance="no",
        say={"company": "以上都没有"}),
    row("company: declines the checklist", "", "JS GE", audience="enterprise", declined=COMPANY_CHECKLIST),
    row("company: typed reply", "JS", "GE", audience="enterprise", hired_youth="yes",
        say={"company": "我们足额交了失业保险，没有裁员，今年招了应届毕业生"}),
    row("company in English", "JS", "GE", audience="enterprise", lang="en", hired_youth="yes",
        start="Which subsidies can our company get?"),
    row("company: dishonest and short insurance", "", "", audience="enterprise", dishonest="yes",
        unemployment_insurance="no"),
    row("company: a small manufacturer says so up front", "JS", "GE", audience="enterprise", hired_youth="yes",
        company_size="sme", sector="manufacturing", start="我们是一家制造业小企业，帮我看看公司能享受哪些政策"),
    row("company: layoffs, hired graduates", "", "JS GE", audience="enterprise", layoffs="some", hired_youth="yes"),
]


def _span_text(value: object) -> str:
    return "none" if value is None else str(value)


def full_profile(r: Row) -> Profile:
    """Everything the row's citizen or company would answer (declined fields left out)."""
    p = Profile(r.audience)  # type: ignore[arg-type]
    for key, value in r.values().items():
        if key in r.declined:
            continue
        text = _span_text(value) if FIELDS_BY_KEY[key].kind == "number" else str(value)
        p = with_value(p, key, text)
    return Profile(p.audience, p.choices, p.numbers, tuple(r.declined))


@pytest.fixture(scope="module")
def items():  # type: ignore[no-untyped-def]
    return {i.id: i for i in load_items(KB)}


@pytest.fixture(scope="module")
def engine(items):  # type: ignore[no-untyped-def]
    return CheckupEngine(items.values())


def expected(r: Row) -> dict[str, str]:
    keys = CITIZEN_ITEMS if r.audience == "citizen" else ENTERPRISE_ITEMS
    return {
        ITEMS[k]: "eligible" if k in r.eligible else "possible" if k in r.possible else "ineligible" for k in keys
    }


def test_the_table_is_large_and_consistent() -> None:
    assert len(ROWS) >= 60, len(ROWS)
    assert len({r.name for r in ROWS}) == len(ROWS)
    for r in ROWS:
        assert not (r.eligible & r.possible), r.name
        assert r.eligible | r.possible <= set(ITEMS), r.name


def test_at_least_15_items_carry_conditions(engine: CheckupEngine) -> None:
    assert len(engine.items) >= 15
    assert {i.id for i in engine.items} == set(ITEMS.values())


@pytest.mark.parametrize("r", ROWS, ids=[r.name for r in ROWS])
def test_verdicts_of_the_full_profile(engine: CheckupEngine, r: Row) -> None:
    result = engine.assess(full_profile(r))
    assert result.statuses() == expected(r)


def answer_for(q: ProfileQuestion, r: Row) -> str:
    """What the row's citizen says to ``q``: a button's words, 不想说, or a typed reply."""
    en = r.lang == "en"
    values = r.values()
    key = q.key
    if key in r.say:
        return r.say[key]
    if any(f in r.declined for f in q.fields):
        return "Prefer not to say" if en else "不想说"
    if q.checklist:
        labels = []
        for a in q.answers:
            v = values[a.field]
            if FIELDS_BY_KEY[a.field].kind == "number":
                span = parse_span(a.value)
                ticked = v is not None and span.low <= int(v) and (span.high is None or int(v) <= span.high)  # type: ignore[arg-type]
            else:
                ticked = v == a.value
            if ticked:
                labels.append(a.label_en if en else a.label)
        return "；".join(labels) if labels else ("None of these" if en else "以上都没有")
    (f_key,) = q.fields
    v = values[f_key]
    for a in q.answers:
        if FIELDS_BY_KEY[f_key].kind == "choice":
            if a.value == v:
                return a.label_en if en else a.label
        else:
            span = parse_span(a.value)
            if (v is None and span.none) or (
                v is not None and not span.none and span.low <= int(v) and (span.high is None or int(v) <= span.high)  # type: ignore[arg-type]
            ):
                return a.label_en if en else a.label
    raise AssertionError(f"no answer of {q.key} fits {v!r}")


#: values tried for number fields when proving a question could matter: a grid of our own,
#: not the engine's bands.
GRID = {
    "age": [0, 1, 2, 3, 5, 17, 18, 30, 59, 60, 61, 64, 65, 66, 80, 100, 130],
    "insurance_months": [0, 1, 6, 11, 12, 13, 60, 83, 84, 85, 240, 720],
    "youngest_child_age": ["none", 0, 1, 2, 3, 4, 6, 10, 18, 60],
}


def grid(key: str) -> list[str]:
    f = FIELDS_BY_KEY[key]
    return [str(v) for v in GRID[key]] if f.kind == "number" else list(f.values())


def reads(item) -> set[str]:  # type: ignore[no-untyped-def]
    """The profile fields an item's eligibility data names, walked here (not by the engine)."""
    out: set[str] = set()

    def walk_test(t) -> None:  # type: ignore[no-untyped-def]
        if t.field:
            out.add(t.field)
        for c in (*t.all, *t.any):
            walk_test(c)

    rules = item.eligibility
    for req in (*rules.requires, *(r for route in rules.routes for r in route.requires)):
        if req.test is not None:
            walk_test(req.test)
    return out


def can_change(engine: CheckupEngine, profile: Profile, key: str, still_open: set[str]) -> bool:
    """Whether some answer to ``key`` changes some item's verdict, for some answers to the
    questions still open then (``still_open``), everything already known held fixed.

    Brute force over every choice and a grid of numbers, per item over the other open
    fields it reads.
    """
    for item in engine.items_of(profile.audience):
        fields = reads(item)
        if key not in fields:
            continue
        others = sorted(f for f in fields if f in still_open and f != key and not profile.knows(f))
        for combo in itertools.product(*(grid(f) for f in others)):
            p = profile
            for f, v in zip(others, combo):
                p = with_value(p, f, v)
            if len({engine.verdict(item, with_value(p, key, v)).status for v in grid(key)}) > 1:
                return True
    return False


def walk(engine: CheckupEngine, items: dict, r: Row):  # type: ignore[no-untyped-def]
    """Run the check-up conversation for ``r``; returns the final session and each asked question."""
    dialogue = CheckupDialogue(engine, items)
    start = r.start or ("帮我看看公司能享受哪些政策" if r.audience == "enterprise" else "帮我看看我能享受哪些政策")
    turn = dialogue.start(start, r.audience, r.lang)  # type: ignore[arg-type]
    asked: list[tuple[ProfileQuestion, Profile]] = []
    for _ in range(20):
        session = turn.session
        if not session.pending:
            return session, asked, turn
        q = engine.question_for(session.profile, session.pending)
        asked.append((q, session.profile))
        nxt = dialogue.reply(answer_for(q, r), DialogueState(lang=r.lang, checkup=session))  # type: ignore[arg-type]
        assert nxt is not None, f"{r.name}: the reply to {q.key} was not understood"
        assert nxt.session.retries == 0, f"{r.name}: the reply to {q.key} was asked again"
        turn = nxt
    raise AssertionError(f"{r.name}: the check-up did not end")


@pytest.mark.parametrize("r", ROWS, ids=[r.name for r in ROWS])
def test_conversation_reaches_the_expected_verdicts(engine: CheckupEngine, items: dict, r: Row) -> None:
    session, asked, turn = walk(engine, items, r)
    assert engine.assess(session.profile).statuses() == expected(r)
    assert session.questions == len(asked)
    asked_before: set[str] = set()
    everything = {f.key for f in fields_of(r.audience)}
    for q, profile in asked:
        still_open = everything - asked_before - set(profile.answered()) - set(profile.declined)
        for key in q.fields:
            assert can_change(engine, profile, key, still_open), (
                f"{r.name}: {key} was asked but no answer could change a verdict"
            )
        asked_before |= set(q.fields)
    # the three lists end the check-up, every item in its place
    text = turn.answer.text
    for k in (ITEMS[x] for x in (*r.eligible, *r.possible)):
        item = items[k]
        assert (item.name_en if r.lang == "en" else item.name) in text


def test_mean_questions_asked(engine: CheckupEngine, items: dict, capsys: pytest.CaptureFixture[str]) -> None:
    counts = {r.name: walk(engine, items, r)[0].questions for r in ROWS}
    citizens = [counts[r.name] for r in ROWS if r.audience == "citizen"]
    companies = [counts[r.name] for r in ROWS if r.audience == "enterprise"]
    mean = sum(counts.values()) / len(counts)
    with capsys.disabled():
        print(
            f"\ncheck-up questions asked over {len(counts)} profiles: mean {mean:.2f} "
            f"(citizens {sum(citizens) / len(citizens):.2f} over {len(citizens)}, "
            f"companies {sum(companies) / len(companies):.2f} over {len(companies)}), max {max(counts.values())}; "
            f"fields a citizen could be asked: {len(fields_of('citizen'))}"
        )
    assert mean <= 5
