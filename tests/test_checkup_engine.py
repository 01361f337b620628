"""The check-up's building blocks: spans, three-valued tests, verdicts, questions, kb validation."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from assistant.checkup import CheckupEngine
from assistant.checkup.engine import cite
from assistant.core.profile import (
    FIELDS,
    criterion_problems,
    declined,
    describe,
    evaluate,
    parse_span,
    span_text,
    with_value,
)
from assistant.core.types import (
    Criterion,
    Eligibility,
    EligibilityChecker,
    Profile,
    Requirement,
    Route,
    ServiceItem,
    Situation,
    Span,
)
from knowledge_base.eligibility_checks import eligibility_problems
from knowledge_base.loader import load_items

KB = Path(__file__).resolve().parents[1] / "knowledge_base" / "items"


def C(**kw: object) -> Criterion:
    return TypeAdapter(Criterion).validate_python(kw)


def P(**values: object) -> Profile:
    p = Profile()
    for k, v in values.items():
        p = with_value(p, k, str(v))
    return p


def item(**kw: object) -> ServiceItem:
    base = dict(id="x", kind="policy", name="测试津贴", domain="民政", department="民政局", summary="测试。",
                updated=date(2026, 1, 1), conditions=("具有本市户籍", "年满65周岁", "本人申请"))
    base.update(kw)
    return ServiceItem(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "text, span",
    [("67", Span(67, 67)), ("65-69", Span(65, 69)), ("65-", Span(65, None)), ("none", Span(0, 0, none=True))],
)
def test_span_texts_round_trip(text: str, span: Span) -> None:
    assert parse_span(text) == span
    assert span_text(span) == text


@pytest.mark.parametrize("bad", ["", "abc", "69-65", "-5", "6.5"])
def test_a_bad_span_names_the_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="67, 65-69"):
        parse_span(bad)


def test_with_value_rejects_unknown_values_and_fields() -> None:
    with pytest.raises(ValueError, match="not an answer to 'residence'"):
        with_value(Profile(), "residence", "mars")
    with pytest.raises(KeyError, match="unknown profile field"):
        with_value(Profile(), "shoe_size", "42")
    with pytest.raises(ValueError, match="out of range"):
        with_value(Profile(), "age", "300")
    with pytest.raises(ValueError, match="cannot be 'none'"):
        with_value(Profile(), "age", "none")
    with pytest.raises(ValueError, match="asked of enterprises"):
        with_value(Profile(), "layoffs", "none")


def test_declining_forgets_the_answer() -> None:
    p = declined(P(age=70), "age")
    assert not p.knows("age") and p.declined == ("age",)
    assert with_value(p, "age", "71").declined == ()


def test_describe_speaks_both_languages() -> None:
    assert describe("residence", "hukou") == "上海户籍"
    assert describe("age", "65-") == "65岁及以上"
    assert describe("age", "65-", "en") == "65 or older"
    assert describe("insurance_months", "12-83") == "满1年、不满7年"
    assert describe("insurance_months", "0") == "没有缴纳"
    assert describe("youngest_child_age", "none", "en") == "no children"


def test_a_profile_never_shows_its_values() -> None:
    p = P(age=67, residence="hukou")
    shown = repr(p) + str(p) + repr(dataclasses.replace(p))
    assert "67" not in shown and "hukou" not in shown and "masked" in shown


# --------------------------------------------------------------------------- three-valued tests


def test_leaves_and_bounds() -> None:
    assert evaluate(C(field="age", min=65), P(age=65)).outcome == "met"
    assert evaluate(C(field="age", min=65), P(age=64)).outcome == "unmet"
    assert evaluate(C(field="age", min=65), P(age="60-69")).outcome == "unknown"
    assert evaluate(C(field="age", min=65), P(age="65-")).outcome == "met"
    assert evaluate(C(field="age", max=2), P(age="3-")).outcome == "unmet"
    assert evaluate(C(field="youngest_child_age", max=2), P(youngest_child_age="none")).outcome == "unmet"
    r = evaluate(C(field="age", min=65), Profile())
    assert (r.outcome, r.missing) == ("unknown", ("age",))
    assert evaluate(C(field="residence", one_of=["hukou"]), P(residence="permit")).outcome == "unmet"


def test_all_and_any_in_kleene_logic() -> None:
    both = C(all=[{"field": "age", "min": 65}, {"field": "residence", "one_of": ["hukou"]}])
    either = C(any=[{"field": "age", "min": 65}, {"field": "residence", "one_of": ["hukou"]}])
    office = C(office="只有窗口能认定", office_en="only the office can tell")
    assert evaluate(both, P(age=30)).outcome == "unmet"  # one failing part settles all
    r = evaluate(both, P(age=70))
    assert (r.outcome, r.missing) == ("unknown", ("residence",))
    assert evaluate(either, P(residence="hukou")).outcome == "met"  # one passing part settles any
    assert evaluate(either, P(age=30, residence="permit")).outcome == "unmet"
    r = evaluate(C(any=[{"field": "income", "one_of": ["dibao"]}, dataclasses.asdict(office)]), P(income="neither"))
    assert r.outcome == "unknown" and r.missing == () and r.office[0].office == "只有窗口能认定"


def test_criterion_problems_name_the_field_value_and_fix() -> None:
    assert "unknown profile field 'shoe'" in criterion_problems(C(field="shoe", min=1), audience="citizen")[0]
    assert "'mars' is not a value of 'residence'" in criterion_problems(
        C(field="residence", one_of=["mars"]), audience="citizen"
    )[0]
    assert "choice field" in criterion_problems(C(field="residence", min=1, one_of=["hukou"]), audience="citizen")[0]
    assert "number field" in criterion_problems(C(field="age", one_of=["65"]), audience="citizen")[0]
    assert "belongs to enterprise" in criterion_problems(C(field="layoffs", one_of=["none"]), audience="citizen")[0]
    assert "office_en" in criterion_problems(C(office="窗口认定"), audience="citizen")[0]
    assert "exactly one of" in criterion_problems(C(field="age", min=1, office="x", office_en="x"), audience="citizen")[0]
    # a checklist field must be settled by its rows: under-3 is, under-6 is not
    assert criterion_problems(C(field="youngest_child_age", max=2), audience="citizen") == []
    assert "not settled by the checklist" in criterion_problems(C(field="youngest_child_age", max=5), audience="citizen")[0]


# --------------------------------------------------------------------------- kb validate


ELIGIBLE = Eligibility(
    requires=(
        Requirement("具有本市户籍", C(field="residence", one_of=["hukou"])),
        Requirement("年满65周岁", C(field="age", min=65)),
        Requirement("本人申请", procedure=True),
    )
)


def test_a_faithful_item_has_no_problem() -> None:
    assert eligibility_problems(item(eligibility=ELIGIBLE)) == []


def test_every_condition_line_must_be_cited() -> None:
    rules = dataclasses.replace(ELIGIBLE, requires=ELIGIBLE.requires[:2])
    (problem,) = eligibility_problems(item(eligibility=rules))
    assert problem[0] == "eligibility.requires" and "condition 2 ('本人申请') is not cited" in problem[1]


def test_citations_must_be_the_items_own_words() -> None:
    rules = dataclasses.replace(ELIGIBLE, requires=(Requirement("年满60周岁", C(field="age", min=60)), *ELIGIBLE.requires))
    problems = eligibility_problems(item(eligibility=rules))
    assert ("eligibility.requires.0.cites", "'年满60周岁' is not in the item's conditions; quote them word for word") in problems


def test_a_requirement_needs_a_test_or_is_a_procedure() -> None:
    rules = Eligibility(requires=(
        Requirement("具有本市户籍"),
        Requirement("年满65周岁", C(field="age", min=65), procedure=True),
        Requirement("本人申请", procedure=True),
    ))
    reasons = [r for _, r in eligibility_problems(item(eligibility=rules))]
    assert any("needs a test" in r for r in reasons)
    assert any("a procedure decides nothing" in r for r in reasons)


def test_routes_must_name_situations_and_cite_their_conditions() -> None:
    sits = (Situation("a", "甲", "哪种？", conditions=("持有居住证",)), Situation("b", "乙", "哪种？"))
    rules = dataclasses.replace(ELIGIBLE, routes=(Route("a"), Route("zzz")))
    problems = eligibility_problems(item(eligibility=rules, situations=sits))
    assert any(f == "eligibility.routes.1.situation" and "unknown situation 'zzz'" in r for f, r in problems)
    assert any(f == "eligibility.routes.0.requires" and "'持有居住证'" in r for f, r in problems)


def test_automatic_must_be_said_by_the_item() -> None:
    rules = dataclasses.replace(ELIGIBLE, automatic=True)
    assert any(f == "eligibility.automatic" for f, _ in eligibility_problems(item(eligibility=rules)))
    said = item(eligibility=rules, summary="本市一般采取“免申即享”方式。")
    assert eligibility_problems(said) == []


def test_kb_validate_reports_an_unknown_field_in_a_file(tmp_path: Path) -> None:
    from knowledge_base.loader import validate

    text = (KB / "elderly-allowance.yaml").read_text(encoding="utf-8")
    assert "{field: age, min: 65}" in text
    (tmp_path / "elderly-allowance.yaml").write_text(text.replace("{field: age, min: 65}", "{field: agee, min: 65}"))
    problems = [str(p) for p in validate(tmp_path)]
    assert any("eligibility.requires.1.test: unknown profile field 'agee'" in p for p in problems), problems


def test_the_shipped_items_carry_at_least_15_faithful_eligibility_blocks() -> None:
    items = load_items(KB)
    with_rules = [i for i in items if i.eligibility is not None]
    assert len(with_rules) >= 15
    for i in with_rules:
        assert eligibility_problems(i) == [], i.id


# --------------------------------------------------------------------------- verdicts and questions


@pytest.fixture(scope="module")
def engine() -> CheckupEngine:
    return CheckupEngine(load_items(KB))


def test_the_engine_is_an_eligibility_checker(engine: CheckupEngine) -> None:
    assert isinstance(engine, EligibilityChecker)


def test_a_verdict_cites_the_exact_condition_line(engine: CheckupEngine) -> None:
    allowance = next(i for i in engine.items if i.id == "elderly-allowance")
    v = engine.verdict(allowance, P(age=70, residence="hukou"))
    assert v.status == "eligible"
    assert [c.cited.text for c in v.reasons] == ["具有本市户籍", "年满65周岁"]
    assert [c.cited.where for c in v.reasons] == ["conditions.0", "conditions.1"]
    assert v.reasons[0].cited.text_en == allowance.conditions_en[0]
    assert [p.text for p in v.procedures] == ["本人申请，也可由家属等代为申请"]
    v = engine.verdict(allowance, P(age=70, residence="permit"))
    assert v.status == "ineligible" and [c.cited.text for c in v.reasons] == ["具有本市户籍"]
    v = engine.verdict(allowance, P(residence="hukou"))
    assert v.status == "possible" and v.reasons[0].missing == ("age",)


def test_a_route_that_qualifies_is_named(engine: CheckupEngine) -> None:
    two = next(i for i in engine.items if i.id == "disability-subsidy")
    v = engine.verdict(two, P(residence="hukou", disability="yes", income="dibao"))
    assert (v.status, v.route) == ("eligible", "living")
    assert v.reasons[-1].cited.where == "situations.living.conditions.0"
    v = engine.verdict(two, P(residence="hukou", disability="yes", income="neither"))
    assert v.status == "possible" and any(c.office for c in v.reasons)


def test_the_same_profile_always_gets_the_same_result(engine: CheckupEngine) -> None:
    p = P(age=70, residence="hukou", employment="retired")
    assert engine.assess(p) == engine.assess(p) == CheckupEngine(load_items(KB)).assess(p)


def test_number_answers_are_bands_between_the_tested_bounds(engine: CheckupEngine) -> None:
    assert [a.label for a in engine.answers("age")] == ["不满60岁", "60–64岁", "65岁及以上"]
    assert [a.value for a in engine.answers("insurance_months")] == ["0", "1-11", "12-"]
    assert [a.value for a in engine.answers("youngest_child_age")] == ["none", "0-2", "3-"]


def test_fields_no_item_tests_are_never_asked(engine: CheckupEngine) -> None:
    keys = {k for q in engine.questions(Profile("enterprise")) for k in q.fields}
    assert "company_size" not in keys and "sector" not in keys
    assert keys == {"unemployment_insurance", "layoffs", "dishonest", "hired_youth"}


def test_two_facts_that_only_together_settle_an_item_are_both_asked(engine: CheckupEngine) -> None:
    # 稳岗补贴: full insurance alone, or no layoffs alone, leaves it possible; both make it eligible
    p = with_value(with_value(Profile("enterprise"), "dishonest", "no"), "hired_youth", "no")
    q = engine.next_question(p, asked=("dishonest", "hired_youth"))
    assert q is not None and set(q.fields) == {"unemployment_insurance", "layoffs"}


def test_the_most_decisive_question_comes_first(engine: CheckupEngine) -> None:
    matters = engine.matters(Profile(), open_fields=engine.open_fields(Profile()))
    ranked = engine.questions(Profile())
    scores = [max(len(matters[f]) for f in q.fields) for q in ranked]
    assert scores == sorted(scores, reverse=True)
    assert ranked[0].key == "residence" and scores[0] == max(len(v) for v in matters.values())
    assert engine.next_question(Profile()) == ranked[0]


def test_no_question_once_every_verdict_is_settled(engine: CheckupEngine) -> None:
    p = P(age=30, residence="away", employment="student", insurance_months=0)
    for k in ("income", "disability", "home", "renting", "housing_fund", "certificate"):
        p = with_value(p, k, {"income": "neither", "home": "own"}.get(k, "no"))
    p = with_value(p, "youngest_child_age", "none")
    assert engine.next_question(p) is None


def test_catalog_fields_have_both_languages() -> None:
    for f in FIELDS:
        assert f.question and f.question_en and f.label and f.label_en, f.key
        for c in (*f.choices, *f.ticks):
            assert c.label and c.label_en, (f.key, c.value)
        if f.group:
            assert f.ticks and f.unticked, f.key


def test_cite_finds_situation_lines_then_conditions() -> None:
    sits = (Situation("a", "甲情形", "哪种？", conditions=("持有居住证满7年",), conditions_en=("7 years",)),
            Situation("b", "乙", "哪种？"))
    it = item(situations=sits)
    assert cite(it, "满7年", "a").where == "situations.a.conditions.0"
    assert cite(it, "甲情形", "a").where == "situations.a.label"
    assert cite(it, "年满65", "a").where == "conditions.1"
    assert cite(it, "测试。").where == "summary"
