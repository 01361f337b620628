"""Replay a benchmark through the dialogue engine: dialogue figures and policy fitting.

This is the dialogue's own fast loop (no database, no API): each case is a
fresh DialogueState and its turns run in order through
``DialogueEngine.turn``, exactly the call ``Assistant.handle`` makes.  It
measures what the dialogue issue promises (intent accuracy and macro-F1,
action accuracy, clarify/handoff recall, refusal precision, items kept across
multi-turn follow-ups) and ``fit_policy`` searches the policy thresholds on it.
The full evaluation harness (``xiaoshen eval run``) remains the reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.core.types import INTENTS, Action, DialogueState, Hit, IntentPrediction, RetrievalQuery

if TYPE_CHECKING:
    from assistant.core.settings import IntentSettings
    from assistant.dialogue.engine import DialogueEngine
    from eval.benchmark import Benchmark
    from assistant.dialogue.policy import ActionPolicy, PolicyThresholds


@dataclass(frozen=True)
class TurnRecord:
    """What one benchmark turn expected and what the dialogue did."""

    case_id: str
    turn: int
    text: str
    multi_turn: bool
    expected_intent: str | None
    expected_action: str | None
    expected_items: tuple[str, ...]
    intent: str
    confidence: float
    action: str
    top_items: tuple[str, ...]
    handoff_reason: str


class CachingClassifier:
    """Remembers predictions by text: the policy search replays the same turns many times."""

    def __init__(self, inner: object, preset: Mapping[str, IntentPrediction] | None = None) -> None:
        self.inner = inner
        self.name = str(getattr(inner, "name", "classifier"))
        #: ``preset`` holds out-of-fold predictions for texts the model was trained on.
        self.cache: dict[str, IntentPrediction] = dict(preset or {})

    def classify(self, text: str, *, state: DialogueState | None = None) -> IntentPrediction:
        if text not in self.cache:
            self.cache[text] = self.inner.classify(text, state=state)  # type: ignore[attr-defined]
        return self.cache[text]


def with_out_of_fold(classifier: object, settings: IntentSettings, benchmark: Path) -> tuple[object, int]:
    """``classifier``, answering the texts of ``benchmark`` it was trained on out of fold.

    The shipped model has seen every labelled turn of the development
    benchmark, so its own predictions there are training figures; each such
    text instead gets the prediction of the cross-validation model that never
    saw its case (saved by ``xiaoshen intents train``).  Returns the classifier
    to use and how many texts are answered out of fold (0: unchanged).
    """
    if settings.backend != "trained":
        return classifier, 0
    from intents.trained import DEFAULT_MODEL_PATH, out_of_fold_predictions

    preset = out_of_fold_predictions(settings.model_path or DEFAULT_MODEL_PATH, benchmark)
    return (CachingClassifier(classifier, preset), len(preset)) if preset else (classifier, 0)


class CachingRetriever:
    """Remembers rankings by (query, current item, intent, language).

    With ``path`` the rankings persist between runs (a development aid for
    repeated fitting on a slow machine); ``stamp`` (the index's content) is
    part of the file, so a changed index never reuses stale rankings.
    """

    def __init__(self, inner: object, *, path: Path | None = None, stamp: str = "") -> None:
        self.inner = inner
        self.cache: dict[tuple[str, str, str, str, int], list[Hit]] = {}
        self.path = path
        self.stamp = stamp
        if path is not None and path.is_file():
            with path.open("rb") as f:
                saved_stamp, saved = pickle.load(f)
            if saved_stamp == stamp:
                self.cache = saved

    def retrieve(self, query: RetrievalQuery, *, top_k: int = 10) -> list[Hit]:
        key = (query.text, query.current_item, query.intent, query.lang, top_k)
        if key not in self.cache:
            self.cache[key] = list(self.inner.retrieve(query, top_k=top_k))  # type: ignore[attr-defined]
        return self.cache[key]

    def save(self) -> None:
        """Write the rankings to ``path`` (no-op without one)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("wb") as f:
                pickle.dump((self.stamp, self.cache), f)


def replay(engine: DialogueEngine, bench: Benchmark) -> list[TurnRecord]:
    """Run every case of ``bench`` through ``engine``; a handed-off case gets the helpdesk's turn."""
    records: list[TurnRecord] = []
    for case in bench.cases:
        state = DialogueState(lang="en" if case.lang == "en" else "zh")
        for n, bt in enumerate(case.turns):
            if state.handed_off:
                # Assistant.handle keeps the bot silent once a person owns the conversation.
                intent, conf, action, tops, reason = "request_human", 1.0, Action.HANDOFF.value, (), ""
            else:
                result = engine.turn(bt.user, state, ())
                state = result.state
                intent, conf = result.intent.label, result.intent.confidence
                action, reason = result.answer.action.value, result.handoff_reason
                tops = tuple(h.item_id for h in result.hits[:10])
            records.append(
                TurnRecord(
                    case_id=case.id,
                    turn=n,
                    text=bt.user,
                    multi_turn=len(case.turns) > 1,
                    expected_intent=bt.expect.intent,
                    expected_action=bt.expect.action,
                    expected_items=tuple(bt.expect.items),
                    intent=intent,
                    confidence=conf,
                    action=action,
                    top_items=tops,
                    handoff_reason=reason,
                )
            )
    return records


def _prf(records: Sequence[TurnRecord], label: str) -> tuple[float, float]:
    tp = sum(1 for r in records if r.action == label and r.expected_action == label)
    pred = sum(1 for r in records if r.action == label and r.expected_action is not None)
    gold = sum(1 for r in records if r.expected_action == label)
    return (tp / pred if pred else 1.0), (tp / gold if gold else 1.0)


def dialogue_metrics(records: Sequence[TurnRecord]) -> dict[str, float]:
    """Intent, action and multi-turn figures of a replay (pure function)."""
    with_intent = [r for r in records if r.expected_intent]
    intent_acc = sum(r.intent == r.expected_intent for r in with_intent) / len(with_intent) if with_intent else 0.0
    f1s = []
    for label in INTENTS:
        tp = sum(1 for r in with_intent if r.intent == label and r.expected_intent == label)
        fp = sum(1 for r in with_intent if r.intent == label and r.expected_intent != label)
        fn = sum(1 for r in with_intent if r.intent != label and r.expected_intent == label)
        if tp + fp + fn == 0:
            continue  # a label absent from both sides does not count toward the macro average
        f1s.append(2 * tp / (2 * tp + fp + fn))
    with_action = [r for r in records if r.expected_action]
    action_acc = sum(r.action == r.expected_action for r in with_action) / len(with_action) if with_action else 0.0
    out: dict[str, float] = {
        "turns": float(len(records)),
        "intent_accuracy": intent_acc,
        "intent_macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "action_accuracy": action_acc,
    }
    for label in ("clarify", "handoff", "refuse"):
        p, r = _prf(records, label)
        out[f"{label}_precision"], out[f"{label}_recall"] = p, r
    answer_turns = [r for r in records if r.expected_action == "answer" and r.expected_items]
    out["resolution_proxy"] = (
        sum(1 for r in answer_turns if r.action == "answer" and r.top_items[:1] and r.top_items[0] in r.expected_items)
        / len(answer_turns)
        if answer_turns
        else 0.0
    )
    follow = [r for r in records if r.multi_turn and r.turn > 0 and r.expected_items and r.expected_action == "answer"]
    out["multi_turn_item_kept"] = (
        sum(1 for r in follow if r.top_items[:1] and r.top_items[0] in r.expected_items) / len(follow) if follow else 0.0
    )
    return out


#: The floors the dialogue issue sets on the development benchmark: a setting
#: that falls short of one is worse than any that meets them all.
POLICY_FLOORS: Mapping[str, float] = {
    "action_accuracy": 0.95,
    "clarify_recall": 0.90,
    "handoff_recall": 0.90,
    "refuse_precision": 0.95,
}


def objective(m: Mapping[str, float], *, floors: bool = True) -> float:
    """What the policy search maximises: the floors first, then action accuracy and answered-right turns.

    Each shortfall below :data:`POLICY_FLOORS` costs ten times its size, so the
    search never buys accuracy with a broken promise (asking when the answer
    depends on what the citizen has not said, handing off on request,
    refusing only what must be refused) while a setting can meet them.  Among
    settings that meet them, action accuracy leads and the resolution proxy
    follows; the recalls enter as small terms so that, between equally
    accurate settings, the one that keeps the promises better wins.
    """
    shortfall = sum(max(0.0, floor - m[key]) for key, floor in POLICY_FLOORS.items()) if floors else 0.0
    return (
        m["action_accuracy"]
        + 0.5 * m["resolution_proxy"]
        + 0.1 * (m["clarify_recall"] + m["handoff_recall"] + m["refuse_precision"])
        - 10.0 * shortfall
    )


def threshold_grid(evidence: Iterable[float]) -> list[float]:
    """Candidate score thresholds: quantiles of the observed top-hit evidence."""
    values = sorted(set(evidence))
    if not values:
        return [0.0]
    qs = [i / 20 for i in range(0, 20)]
    return sorted({values[min(len(values) - 1, int(q * len(values)))] for q in qs} | {values[0] - 1e-9})


def fit_policy(
    engine: DialogueEngine,
    bench: Benchmark,
    base: PolicyThresholds,
    *,
    score_keys: Sequence[str] = ("score",),
    rounds: int = 3,
    progress: bool = False,
    retrieval_cache: Path | None = None,
    cache_stamp: str = "",
) -> tuple[PolicyThresholds, dict[str, float], int]:
    """Search the thresholds on ``bench``; returns the best, its metrics and the settings tried.

    Coordinate ascent: each threshold in turn is set to the best value of its
    grid with the others fixed, for ``rounds`` rounds, from ``base``, once per
    candidate ``score_key``.  The ascent runs twice: first for accuracy alone
    (``objective(floors=False)``), then from there with the floors, so the
    floors are restored by the moves that cost the least accuracy (a search
    with the floors from the start grabs the first move that raises a recall
    and stays in that corner).  Classification and retrieval are cached, so each
    setting replays only the policy and the composer.  Candidate score
    thresholds are quantiles of the top-hit evidence seen on the benchmark, so
    they live on the retriever's own scale.  On a benchmark the classifier
    was trained on, pass it wrapped by :func:`with_out_of_fold`, so the
    thresholds see honest confidences.
    """
    from assistant.dialogue.policy import ActionPolicy

    engine.classifier = CachingClassifier(engine.classifier)  # type: ignore[assignment]
    caching = CachingRetriever(engine.retriever, path=retrieval_cache, stamp=cache_stamp)
    engine.retriever = caching  # type: ignore[assignment]
    tried = 0
    best: tuple[float, PolicyThresholds, dict[str, float]] | None = None
    try:
        for key in score_keys:
            current = replace(base, score_key=key)
            probe = ActionPolicy(current)
            engine.policy = probe
            replay(engine, bench)  # fills the caches and shows the evidence scale
            caching.save()
            evidence = [probe.evidence(hits[0]) for hits in engine.retriever.cache.values() if hits]  # type: ignore[attr-defined]
            grids: dict[str, list[object]] = {
                "answer_score": [float(v) for v in threshold_grid(evidence)],
                # the last value never switches topic on retrieval alone (only a named item does)
                "switch_score": [float(v) for v in threshold_grid(evidence)] + [max(evidence, default=0.0) + 1.0],
                # margin and length decide together whether close items are asked about,
                # so they are searched jointly (one at a time gets stuck in a corner)
                "clarify": [
                    {"clarify_margin": m, "clarify_max_chars": n}
                    for m in (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.16, 0.2, 0.3)
                    for n in (6, 8, 10, 12, 15, 20, 1000)
                ],
                "tie_margin": [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08],
                "undistinguished_margin": [0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3],
                "vague_max_terms": [0, 1, 2],
                "refuse_confidence": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                "chitchat_confidence": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                "clarify_situations": [False, True],
            }
            engine.policy = ActionPolicy(current)
            m = dialogue_metrics(replay(engine, bench))
            steps = [(name, value) for _ in range(rounds) for name, grid in grids.items() for value in grid]
            for floors in (False, True):
                score = objective(m, floors=floors)
                iterator = steps
                if progress:
                    from tqdm import tqdm

                    stage = "floors" if floors else "accuracy"
                    iterator = tqdm(steps, desc=f"fit-policy [{key}, {stage}]", unit="setting")
                for name, value in iterator:
                    candidate = replace(current, **(value if isinstance(value, dict) else {name: value}))
                    engine.policy = ActionPolicy(candidate)
                    cm = dialogue_metrics(replay(engine, bench))
                    tried += 1
                    cs = objective(cm, floors=floors)
                    if cs > score + 1e-12:
                        current, m, score = candidate, cm, cs
            score = objective(m)
            if best is None or score > best[0]:
                best = (score, current, m)
    finally:
        caching.save()
        engine.classifier = engine.classifier.inner  # type: ignore[attr-defined]
        engine.retriever = engine.retriever.inner  # type: ignore[attr-defined]
    assert best is not None
    return best[1], best[2], tried
