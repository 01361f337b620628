"""Dialogue metrics on hand-computed records, and policy fitting on a tiny benchmark with fakes."""

from __future__ import annotations

from eval.benchmark import BenchTurn, Benchmark, Case, Expect
from assistant.dialogue.engine import DialogueEngine
from assistant.generators.composer import Composer
from eval.dialogue_replay import TurnRecord, dialogue_metrics, fit_policy, replay
from assistant.dialogue.policy import ActionPolicy, PolicyThresholds
from intents.rules import RuleClassifier
from tests.fakes import tiny_items
from tests.test_dialogue_engine import BigramRetriever


def rec(case: str, turn: int, multi: bool, ei: str, ea: str, items: tuple[str, ...], i: str, a: str, top: tuple[str, ...]) -> TurnRecord:
    return TurnRecord(case, turn, "t", multi, ei, ea, items, i, 0.9, a, top, "")


def test_dialogue_metrics_by_hand() -> None:
    records = [
        rec("a", 0, True, "consult.overview", "answer", ("x",), "consult.overview", "answer", ("x",)),
        rec("a", 1, True, "consult.fee", "answer", ("x",), "consult.fee", "answer", ("y", "x")),
        rec("b", 0, False, "out_of_scope", "refuse", (), "out_of_scope", "refuse", ()),
        rec("c", 0, False, "greeting", "chitchat", (), "consult.overview", "refuse", ()),
        rec("d", 0, False, "consult.process", "clarify", ("x", "y"), "consult.process", "clarify", ("x", "y")),
    ]
    m = dialogue_metrics(records)
    assert m["intent_accuracy"] == 4 / 5
    assert m["action_accuracy"] == 4 / 5
    assert m["refuse_precision"] == 1 / 2 and m["refuse_recall"] == 1.0
    assert m["clarify_recall"] == 1.0 and m["handoff_recall"] == 1.0  # no handoff expected: vacuous 1
    assert m["resolution_proxy"] == 1 / 2  # two answer turns with items, the first right at rank 1
    assert m["multi_turn_item_kept"] == 0.0  # the only follow-up answered from "y"
    # macro-F1 over labels present: overview 2/3 (one false positive), fee 1, oos 1, greeting 0, process 1
    assert abs(m["intent_macro_f1"] - (2 / 3 + 1 + 1 + 0 + 1) / 5) < 1e-9


def _bench() -> Benchmark:
    def case(cid: str, *turns: tuple[str, Expect]) -> Case:
        return Case(cid, tuple(BenchTurn(u, e) for u, e in turns))

    return Benchmark(
        "tiny",
        (
            case("c1", ("公积金怎么取", Expect(("housing-fund-withdraw-rent", "housing-fund-withdraw-buy"), "consult.overview", "clarify"))),
            case("c2", ("办护照多少钱", Expect(("passport-apply",), "consult.fee", "answer"))),
            case("c3", ("居住证怎么办理", Expect(("residence-permit-apply",), "consult.overview", "answer")),
                 ("需要带什么材料", Expect(("residence-permit-apply",), "consult.materials", "answer"))),
            case("c4", ("转人工", Expect((), "request_human", "handoff"))),
        ),
    )


def test_fit_policy_finds_thresholds_that_clarify_and_answer() -> None:
    items = {i.id: i for i in tiny_items()}
    engine = DialogueEngine(
        classifier=RuleClassifier(), retriever=BigramRetriever(list(items.values())), reranker=None,
        generator=Composer(), policy=ActionPolicy(PolicyThresholds(answer_score=0.95)), items=items,
    )
    before = dialogue_metrics(replay(engine, _bench()))
    best, metrics, tried = fit_policy(engine, _bench(), PolicyThresholds(answer_score=0.95), rounds=1)
    assert tried > 10
    assert before["action_accuracy"] < 1.0
    assert metrics["action_accuracy"] == 1.0 and metrics["clarify_recall"] == 1.0
    engine.policy = ActionPolicy(best)
    assert dialogue_metrics(replay(engine, _bench())) == metrics  # the returned figures are reproducible
    assert not hasattr(engine.retriever, "cache")  # the caches are removed after fitting


def test_objective_puts_the_issue_floors_before_accuracy() -> None:
    from eval.dialogue_replay import POLICY_FLOORS, objective

    met = {"action_accuracy": 0.96, "resolution_proxy": 0.93, "clarify_recall": 0.92, "handoff_recall": 1.0,
           "refuse_precision": 1.0}
    short = {**met, "action_accuracy": 0.98, "resolution_proxy": 0.95, "clarify_recall": 0.84}
    # more accurate but below the clarify floor: worse with the floors, better without them
    assert objective(met) > objective(short)
    assert objective(short, floors=False) > objective(met, floors=False)
    assert set(POLICY_FLOORS) <= set(met)
