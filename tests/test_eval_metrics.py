"""Metric functions on tiny cases worked out by hand (and one check against scikit-learn)."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    TurnOutcome,
    accuracy,
    confusion_matrix,
    first_relevant_rank,
    hit_at_k,
    macro_f1,
    mrr_at_k,
    percentile,
    precision_recall,
    resolution_proxy,
    summarize,
)

# Three queries: acceptable at rank 1, at rank 3 (via the second of two acceptable ids), absent.
RANKINGS = [["a", "b", "c"], ["x", "y", "b", "a"], ["p", "q"]]
ACCEPT = [{"a"}, {"a", "b"}, {"z"}]


def test_first_relevant_rank() -> None:
    assert first_relevant_rank(["x", "a", "b"], {"b", "a"}) == 2
    assert first_relevant_rank(["x", "a"], {"a"}, k=1) is None
    assert first_relevant_rank([], {"a"}) is None


def test_hit_at_k_by_hand() -> None:
    assert hit_at_k(RANKINGS, ACCEPT, 1) == pytest.approx(1 / 3)
    assert hit_at_k(RANKINGS, ACCEPT, 2) == pytest.approx(1 / 3)
    assert hit_at_k(RANKINGS, ACCEPT, 3) == pytest.approx(2 / 3)
    assert hit_at_k([], [], 1) is None
    with pytest.raises(ValueError, match="one per query"):
        hit_at_k(RANKINGS, ACCEPT[:2], 1)


def test_mrr_by_hand() -> None:
    # (1/1 + 1/3 + 0) / 3
    assert mrr_at_k(RANKINGS, ACCEPT, 10) == pytest.approx((1 + 1 / 3) / 3)
    # with k=2 the rank-3 hit no longer counts
    assert mrr_at_k(RANKINGS, ACCEPT, 2) == pytest.approx(1 / 3)


def test_accuracy_and_precision_recall_by_hand() -> None:
    expected = ["refuse", "refuse", "answer", "handoff", "answer"]
    predicted = ["refuse", "answer", "refuse", "handoff", "answer"]
    assert accuracy(expected, predicted) == pytest.approx(3 / 5)
    # refuse: tp=1, predicted 2, expected 2
    assert precision_recall(expected, predicted, "refuse") == (pytest.approx(0.5), pytest.approx(0.5))
    assert precision_recall(expected, predicted, "handoff") == (1.0, 1.0)
    # clarify never expected nor predicted: both undefined, not 0 or 1
    assert precision_recall(expected, predicted, "clarify") == (None, None)
    assert accuracy([], []) is None


def test_macro_f1_by_hand_over_labels_present() -> None:
    expected = ["greeting", "greeting", "thanks", "complaint"]
    predicted = ["greeting", "thanks", "thanks", "greeting"]
    # greeting: p=1/2 r=1/2 f1=1/2; thanks: p=1/2 r=1 f1=2/3; complaint: p=None r=0 f1=0
    assert macro_f1(expected, predicted) == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_macro_f1_matches_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    expected = ["consult.fee", "consult.fee", "greeting", "out_of_scope", "consult.process", "thanks"]
    predicted = ["consult.fee", "consult.process", "greeting", "greeting", "consult.process", "out_of_scope"]
    ours = macro_f1(expected, predicted)
    theirs = sklearn_metrics.f1_score(expected, predicted, average="macro", zero_division=0)
    assert ours == pytest.approx(theirs)


def test_confusion_matrix_by_hand() -> None:
    m = confusion_matrix(["a", "a", "b", "c"], ["a", "b", "b", "a"], ["a", "b", "c"])
    assert m == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


def test_percentile_by_hand() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)  # 30 + 0.85 * 10
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def _o(**kw: object) -> TurnOutcome:
    base: dict[str, object] = dict(case_id="c", turn=0, user="q", lang="zh")
    base.update(kw)
    return TurnOutcome(**base)  # type: ignore[arg-type]


def test_turn_pass_rules() -> None:
    ok = _o(expect_items=("a",), expect_intent="consult.fee", expect_action="answer", ranking=("a", "b"), intent="consult.fee", action="answer")
    assert ok.passed and ok.rank == 1
    second = _o(expect_items=("a",), expect_action="answer", ranking=("b", "a"), action="answer")
    assert second.failures == ("items",)
    # a clarifying turn only needs the candidate in the top 5
    clarify = _o(expect_items=("a",), expect_action="clarify", ranking=("b", "c", "a"), action="clarify")
    assert clarify.passed
    wrong = _o(expect_intent="out_of_scope", expect_action="refuse", intent="greeting", action="chitchat")
    assert wrong.failures == ("intent", "action")
    assert _o(error="RuntimeError: boom").failures == ("error",)


def test_resolution_proxy_by_hand() -> None:
    outcomes = [
        _o(expect_items=("a",), expect_action="answer", ranking=("a",), action="answer"),  # resolved
        _o(expect_items=("a",), expect_action="answer", ranking=("b", "a"), action="answer"),  # wrong top item
        _o(expect_items=("a",), expect_action="answer", ranking=("a",), action="clarify"),  # did not answer
        _o(expect_action="answer", action="answer"),  # nothing to check against: resolved
        _o(expect_action="refuse", action="refuse"),  # not in the pool
        _o(expect_items=("a",), expect_action="answer", error="X: y"),  # errored: not in the pool
    ]
    assert resolution_proxy(outcomes) == pytest.approx(2 / 4)
    assert resolution_proxy([_o(expect_action="refuse", action="refuse")]) is None


def test_summarize_has_the_keys_of_the_format_file_and_excludes_errors() -> None:
    outcomes = [
        _o(case_id="m", turn=0, case_turns=2, expect_items=("a",), expect_intent="consult.overview", expect_action="answer",
           ranking=("a", "b"), intent="consult.overview", action="answer", latency_ms=10.0, domain="D1"),
        _o(case_id="m", turn=1, case_turns=2, expect_items=("a",), expect_intent="consult.materials", expect_action="answer",
           ranking=("b", "a"), intent="consult.materials", action="answer", latency_ms=30.0, domain="D1"),
        _o(case_id="r", expect_intent="out_of_scope", expect_action="refuse", intent="out_of_scope", action="refuse", latency_ms=20.0),
        _o(case_id="e", expect_items=("a",), expect_action="answer", error="RuntimeError: boom"),
    ]
    m = summarize(outcomes, cases=3, errors=["case 'e' turn 1: RuntimeError: boom"])
    for key in ("cases", "turns", "retrieval", "intent", "action", "resolution_proxy", "latency_ms", "errors"):
        assert key in m
    assert m["cases"] == 3 and m["turns"] == 4
    assert m["retrieval"]["turns"] == 2
    assert m["retrieval"]["hit@1"] == 0.5 and m["retrieval"]["hit@3"] == 1.0
    assert m["retrieval"]["mrr@10"] == 0.75
    assert m["intent"]["accuracy"] == 1.0 and m["intent"]["macro_f1"] == 1.0
    assert m["action"]["accuracy"] == 1.0
    assert m["action"]["refuse"] == {"precision": 1.0, "recall": 1.0, "support": 1}
    assert m["action"]["handoff"]["recall"] is None
    assert m["resolution_proxy"] == 0.5
    assert m["latency_ms"]["p50"] == 20.0
    assert m["multi_turn"] == {"follow_up_turns": 1, "item_kept": 0.0}
    assert m["by_domain"]["D1"] == {"turns": 2, "hit@1": 0.5}
    assert m["errored_turns"] == 1 and m["passed_turns"] == 2
    assert m["errors"] == ["case 'e' turn 1: RuntimeError: boom"]
    assert not any(isinstance(v, float) and math.isnan(v) for v in m["retrieval"].values())


def test_stage_latencies_and_action_confusion_by_hand() -> None:
    from eval.metrics import action_confusion

    outcomes = [
        _o(expect_action="answer", action="answer", latency_ms=10.0, timings_ms={"retrieval": 4.0, "intent": 1.0}),
        _o(expect_action="refuse", action="answer", latency_ms=30.0, timings_ms={"retrieval": 8.0, "intent": 3.0}),
        _o(expect_action="clarify", action="clarify", latency_ms=20.0, timings_ms={"retrieval": 6.0}),
    ]
    m = summarize(outcomes, cases=3)
    assert m["latency_ms"]["stages"]["retrieval"] == {"p50": 6.0, "p95": 7.8}
    assert m["latency_ms"]["stages"]["intent"] == {"p50": 2.0, "p95": 2.9}
    labels, matrix = action_confusion(outcomes)
    assert labels == ["answer", "clarify", "refuse"]
    assert matrix == [[1, 0, 0], [0, 1, 0], [1, 0, 0]]


def test_facts_recall_and_citations_by_hand() -> None:
    from eval.metrics import cited_acceptable, facts_recall

    outcomes = [
        # 2 of 3 facts stated (whitespace and case ignored)
        _o(expect_facts=("12345", "随申办 APP", "15个工作日"), answer="可拨打12345，或在随申办app申请。", action="answer"),
        # 1 of 1
        _o(expect_facts=("免费",), answer="不收费，免费办理。"),
        _o(answer="no facts expected"),
    ]
    assert facts_recall(outcomes) == pytest.approx((2 / 3 + 1) / 2)
    assert facts_recall([_o(answer="x")]) is None
    cited = [
        _o(expect_items=("a",), action="answer", citations=("b", "a")),
        _o(expect_items=("a",), action="answer", citations=("b",)),
        _o(expect_items=("a",), action="clarify", citations=()),  # not an answer: not in the pool
    ]
    assert cited_acceptable(cited) == 0.5


def test_facts_first_aspects_and_answer_length_worked_by_hand() -> None:
    from eval.metrics import aspect_precision_recall, answer_breakdown, facts_first, median_answer_chars

    long_head = "x" * 160
    a = TurnOutcome("a", 0, "q", "zh", expect_facts=("120元", "15日"), answer="收费120元。" + long_head + "15日内",
                    action="answer", expect_aspects=("fee", "time_limit"), aspects=("fee",))
    b = TurnOutcome("b", 0, "q", "en", expect_facts=("free",), answer="It is FREE.", action="answer",
                    expect_aspects=("fee",), aspects=("fee", "location"))
    assert facts_first([a, b]) == (0.5 + 1.0) / 2
    p, r, n = aspect_precision_recall([a, b])
    assert (p, r, n) == (2 / 3, 2 / 3, 2)
    assert median_answer_chars([a, b]) == (len(a.answer) + len(b.answer)) / 2
    assert answer_breakdown([b])["facts_recall"] == 1.0


def test_answers_in_the_cases_language_and_figures_per_tag_by_hand() -> None:
    from eval.metrics import answered_in_lang, summarize

    en_ok = TurnOutcome("e1", 0, "q", "en", action="answer", answer="It is free (免费).\n\nOfficial channel: 一网通办",
                        expect_items=("x",), ranking=("x",), tags=("en", "fee"))
    en_zh = TurnOutcome("e2", 0, "q", "en", action="answer", answer="不收费。\n\n官方渠道：一网通办",
                        expect_items=("x",), ranking=("y", "x"), tags=("en",))
    zh_ok = TurnOutcome("z1", 0, "q", "zh", action="answer", answer="不收费。", expect_items=("x",), ranking=("x",),
                        tags=("life-event",))
    clarify = TurnOutcome("z2", 0, "q", "zh", action="clarify", answer="Which one?", tags=("life-event",))
    # the English answer in Chinese counts against; a clarifying question is not an answer
    assert answered_in_lang([en_ok, en_zh, zh_ok, clarify]) == 2 / 3
    by_tag = summarize([en_ok, en_zh, zh_ok, clarify], cases=4)["answer"]["by_tag"]
    assert by_tag["en"]["hit@1"] == 0.5 and by_tag["en"]["answered_in_lang"] == 0.5
    assert by_tag["life-event"]["hit@1"] == 1.0 and set(by_tag) == {"en", "fee", "life-event"}
