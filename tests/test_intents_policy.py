"""The action policy on hand-made evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.types import INTENTS, Action, DialogueState, Hit, IntentPrediction
from intents.policy import DEFAULT_POLICY_PATH, ActionPolicy, PolicyInput, PolicyThresholds, load_policy
from tests.fakes import tiny_items

ITEMS = {i.id: i for i in tiny_items()}
T = PolicyThresholds(answer_score=0.3, clarify_margin=0.1, switch_score=0.6, refuse_confidence=0.6, chitchat_confidence=0.5)


def pred(label: str, conf: float = 0.9) -> IntentPrediction:
    return IntentPrediction(label, conf, {label: conf})


def decide(label: str, hits: list[tuple[str, float]], *, conf: float = 0.9, state: DialogueState | None = None,
           mentioned: tuple[str, ...] = (), t: PolicyThresholds = T):
    return ActionPolicy(t).decide(
        PolicyInput(pred(label, conf), [Hit(i, s) for i, s in hits], state or DialogueState(), ITEMS, mentioned)
    )


def test_request_human_hands_off_whatever_the_evidence() -> None:
    d = decide("request_human", [("passport-apply", 0.99)])
    assert d.action is Action.HANDOFF and d.handoff_reason == "customer_request"


def test_complaint_answers_with_complaint_items_present() -> None:
    t = PolicyThresholds(complaint_items=("missing-item", "passport-apply"))
    d = decide("complaint", [], t=t)
    assert d.action is Action.ANSWER and d.item_ids == ("passport-apply",)
    # A knowledge base without complaint channels (an FAQ corpus): a person takes it.
    d = decide("complaint", [], t=PolicyThresholds(complaint_items=("nothing",)))
    assert d.action is Action.HANDOFF and d.handoff_reason == "complaint"


def test_confident_out_of_scope_is_refused_even_with_a_match() -> None:
    assert decide("out_of_scope", [("passport-apply", 0.9)], conf=0.8).action is Action.REFUSE


def test_unsure_out_of_scope_with_a_clear_match_is_answered() -> None:
    d = decide("out_of_scope", [("passport-apply", 0.9), ("hukou-newborn", 0.1)], conf=0.4)
    assert d.action is Action.ANSWER and d.intent == "consult.overview"


def test_greeting_is_small_talk() -> None:
    assert decide("greeting", [("passport-apply", 0.1)]).action is Action.CHITCHAT


def test_weak_evidence_clarifies_then_hands_off() -> None:
    d = decide("consult.fee", [("passport-apply", 0.2)])
    assert d.action is Action.CLARIFY and d.clarify_kind == "no_match" and d.unresolved
    d2 = decide("consult.fee", [("passport-apply", 0.2)], state=DialogueState(unresolved_turns=1))
    assert d2.action is Action.HANDOFF and d2.handoff_reason == "low_confidence"


def test_close_items_clarify_unless_one_is_named() -> None:
    hits = [("housing-fund-withdraw-rent", 0.80), ("housing-fund-withdraw-buy", 0.78), ("passport-apply", 0.3)]
    d = decide("consult.process", hits)
    assert d.action is Action.CLARIFY and d.item_ids == ("housing-fund-withdraw-rent", "housing-fund-withdraw-buy")
    d2 = decide("consult.process", hits, mentioned=("housing-fund-withdraw-buy",))
    assert d2.action is Action.ANSWER and d2.item_ids == ("housing-fund-withdraw-buy",)


def test_follow_up_versus_topic_switch() -> None:
    state = DialogueState(current_item="passport-apply")
    weak_other = decide("consult.fee", [("hukou-newborn", 0.5)], state=state)
    assert weak_other.action is Action.ANSWER and weak_other.item_ids == ("passport-apply",) and weak_other.follow_up
    strong_other = decide("consult.fee", [("hukou-newborn", 0.9)], state=state)
    assert strong_other.item_ids == ("hukou-newborn",) and not strong_other.follow_up
    named = decide("consult.fee", [("passport-apply", 0.9)], state=state, mentioned=("hukou-newborn",))
    assert named.item_ids == ("hukou-newborn",) or named.action is Action.CLARIFY


def test_score_key_reads_a_component_and_names_a_missing_one() -> None:
    t = PolicyThresholds(score_key="dense", answer_score=0.5)
    pol = ActionPolicy(t)
    assert pol.evidence(Hit("x", 0.1, components={"dense": 0.7})) == 0.7
    with pytest.raises(ConfigError, match="dense"):
        pol.evidence(Hit("x", 0.1, components={"bm25": 3.0}))


def test_policy_file_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    p = tmp_path / "policy.json"
    p.write_text(json.dumps({"thresholds": T.to_json()}), encoding="utf-8")
    assert ActionPolicy.load(p).thresholds == T
    p.write_text(json.dumps({"thresholds": {"answer_scor": 1}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="answer_scor"):
        ActionPolicy.load(p)
    with pytest.raises(ConfigError, match="fit-policy"):
        ActionPolicy.load(tmp_path / "absent.json")


def test_committed_policy_file_loads() -> None:
    assert DEFAULT_POLICY_PATH.is_file()
    assert load_policy(None).thresholds.max_unresolved >= 1
    assert set(INTENTS)  # the taxonomy the policy reasons over is non-empty


def test_long_detailed_questions_are_not_clarified() -> None:
    hits = [Hit("housing-fund-withdraw-rent", 0.80), Hit("housing-fund-withdraw-buy", 0.78)]
    t = PolicyThresholds(answer_score=0.3, clarify_margin=0.1, clarify_max_chars=8)
    short = ActionPolicy(t).decide(PolicyInput(pred("consult.process"), hits, DialogueState(), ITEMS, (), "公积金怎么取"))
    long = ActionPolicy(t).decide(PolicyInput(pred("consult.process"), hits, DialogueState(), ITEMS, (), "我在上海租房子住，想用公积金交房租怎么取"))
    assert short.action is Action.CLARIFY
    assert long.action is Action.ANSWER and long.item_ids == ("housing-fund-withdraw-rent",)


def test_an_item_and_the_bundle_containing_it_are_not_a_choice() -> None:
    # onething-birth bundles hukou-newborn: asking "户口 or 出生一件事?" is no real question
    hits = [("hukou-newborn", 0.80), ("onething-birth", 0.79), ("passport-apply", 0.2)]
    d = decide("consult.process", hits)
    assert d.action is Action.ANSWER and d.item_ids == ("hukou-newborn",)
    assert ActionPolicy(T).close_items([Hit(i, s) for i, s in hits]) == ["hukou-newborn", "onething-birth"]


def test_message_length_counts_han_characters_and_latin_words() -> None:
    from intents.policy import message_length

    assert message_length("公积金怎么取？") == 6
    assert message_length("How can I withdraw my housing fund?") == 7
    assert message_length("办 ID card") == 3


def test_situation_is_asked_only_when_the_asked_field_differs_by_situation() -> None:
    from intents.policy import depends_on_situation

    permit = ITEMS["residence-permit-apply"]  # materials differ by situation (劳动合同 / 在读证明)
    assert depends_on_situation(permit, "consult.materials")
    assert not depends_on_situation(permit, "consult.fee")
    plain = ITEMS["passport-apply"]
    assert not any(depends_on_situation(plain, label) for label in INTENTS)


def test_a_member_service_that_matches_better_is_answered_instead_of_its_bundle() -> None:
    # onething-birth bundles hukou-newborn; both close, the member's own evidence is higher
    t = PolicyThresholds(answer_score=0.3, clarify_margin=0.2, score_key="bm25")
    hits = [Hit("onething-birth", 0.93, components={"bm25": 22.9}), Hit("hukou-newborn", 0.90, components={"bm25": 29.0})]
    d = ActionPolicy(t).decide(PolicyInput(pred("consult.process"), hits, DialogueState(), ITEMS, (), "孩子出生了想报户口"))
    assert d.action is Action.ANSWER and d.item_ids == ("hukou-newborn",)
    # the bundle matching best stays the answer
    hits = [Hit("onething-birth", 0.93, components={"bm25": 30.0}), Hit("hukou-newborn", 0.90, components={"bm25": 29.0})]
    d = ActionPolicy(t).decide(PolicyInput(pred("consult.overview"), hits, DialogueState(), ITEMS, (), "孩子出生了要办哪些事"))
    assert d.item_ids == ("onething-birth",)


def test_a_tie_is_asked_about_even_in_a_long_message() -> None:
    hits = [Hit("housing-fund-withdraw-rent", 0.800), Hit("housing-fund-withdraw-buy", 0.798), Hit("passport-apply", 0.3)]
    long = "我想问一下提取住房公积金的时候需要准备哪些材料"
    plain = PolicyThresholds(answer_score=0.3, clarify_margin=0.1, clarify_max_chars=8)
    d = ActionPolicy(plain).decide(PolicyInput(pred("consult.materials"), hits, DialogueState(), ITEMS, (), long))
    assert d.action is Action.ANSWER
    tie = PolicyThresholds(answer_score=0.3, clarify_margin=0.1, clarify_max_chars=8, tie_margin=0.01)
    d = ActionPolicy(tie).decide(PolicyInput(pred("consult.materials"), hits, DialogueState(), ITEMS, (), long))
    assert d.action is Action.CLARIFY and d.item_ids == ("housing-fund-withdraw-rent", "housing-fund-withdraw-buy")
    # a clear lead is no tie
    lead = [Hit("housing-fund-withdraw-rent", 0.80), Hit("housing-fund-withdraw-buy", 0.75)]
    d = ActionPolicy(tie).decide(PolicyInput(pred("consult.materials"), lead, DialogueState(), ITEMS, (), long))
    assert d.action is Action.ANSWER
