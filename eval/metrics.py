"""Pure metric functions and the per-run summary of ``shared/benchmark-format.md``.

Every function takes plain sequences and returns numbers: no I/O, no model,
so each is tested on small cases worked out by hand.  :func:`summarize` turns
the per-turn outcomes of a run into the object the format file defines (plus
breakdowns the reports use).

Conventions, written once here so every report means the same thing:

- ranks are 1-based; a ranking is the item order the answer was built from;
- a metric over an empty population is ``None`` (never a made-up 0 or 1);
- macro-F1 averages the per-label F1 over the taxonomy labels that occur in
  the expected or the predicted labels (as scikit-learn does by default); a
  label with no prediction and no occurrence would otherwise count as 0 and
  punish a benchmark for what it does not contain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.core.types import INTENTS

#: Actions whose precision and recall the format file asks for.
WATCHED_ACTIONS: tuple[str, ...] = ("handoff", "refuse", "clarify")
#: Cut-offs of the hit@k curve in the report.
CURVE_KS: tuple[int, ...] = tuple(range(1, 11))


# --------------------------------------------------------------------------- single metrics


def first_relevant_rank(ranking: Sequence[str], acceptable: Collection[str], k: int = 10) -> int | None:
    """1-based rank of the first acceptable id within the top ``k``, else None."""
    for rank, item_id in enumerate(ranking[:k], start=1):
        if item_id in acceptable:
            return rank
    return None


def hit_at_k(rankings: Sequence[Sequence[str]], acceptables: Sequence[Collection[str]], k: int) -> float | None:
    """Share of queries with an acceptable id in the top ``k``."""
    if len(rankings) != len(acceptables):
        raise ValueError(f"{len(rankings)} rankings but {len(acceptables)} acceptable sets; pass one per query")
    if not rankings:
        return None
    hits = sum(first_relevant_rank(r, a, k) is not None for r, a in zip(rankings, acceptables))
    return hits / len(rankings)


def mrr_at_k(rankings: Sequence[Sequence[str]], acceptables: Sequence[Collection[str]], k: int = 10) -> float | None:
    """Mean reciprocal rank of the first acceptable id, 0 when it is not in the top ``k``."""
    if len(rankings) != len(acceptables):
        raise ValueError(f"{len(rankings)} rankings but {len(acceptables)} acceptable sets; pass one per query")
    if not rankings:
        return None
    total = 0.0
    for r, a in zip(rankings, acceptables):
        rank = first_relevant_rank(r, a, k)
        total += 1.0 / rank if rank else 0.0
    return total / len(rankings)


def accuracy(expected: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Share of positions where the prediction equals the expectation."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected but {len(predicted)} predicted labels")
    if not expected:
        return None
    return sum(e == p for e, p in zip(expected, predicted)) / len(expected)


def precision_recall(expected: Sequence[str], predicted: Sequence[str], label: str) -> tuple[float | None, float | None]:
    """Precision and recall of one label; None where the denominator is 0."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected but {len(predicted)} predicted labels")
    tp = sum(e == label and p == label for e, p in zip(expected, predicted))
    predicted_n = sum(p == label for p in predicted)
    expected_n = sum(e == label for e in expected)
    precision = tp / predicted_n if predicted_n else None
    recall = tp / expected_n if expected_n else None
    return precision, recall


def f1(precision: float | None, recall: float | None) -> float:
    """Harmonic mean; 0 when either side is missing or both are 0."""
    if not precision or not recall:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def macro_f1(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = INTENTS) -> float | None:
    """Mean F1 over the ``labels`` that occur in ``expected`` or ``predicted``.

    A predicted label outside ``labels`` counts as a wrong prediction (it
    lowers recall of the expected label) but gets no F1 of its own.
    """
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected but {len(predicted)} predicted labels")
    present = [lab for lab in labels if lab in expected or lab in predicted]
    if not present:
        return None
    return sum(f1(*precision_recall(expected, predicted, lab)) for lab in present) / len(present)


def confusion_matrix(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Counts ``[expected][predicted]`` in the order of ``labels``; others are dropped."""
    index = {lab: i for i, lab in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for e, p in zip(expected, predicted):
        if e in index and p in index:
            matrix[index[e]][index[p]] += 1
    return matrix


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation (numpy's default)."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} must be within 0..100")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class TurnOutcome:
    """What happened on one benchmark turn, next to what was expected.

    ``ranking`` is the item order the answer was built from, ``scores`` the
    matching scores.  ``error`` is set when the pipeline raised; such a turn
    is listed in the run's errors and left out of every metric (an error is
    not a wrong answer, and scoring it 0 would hide it).
    """

    case_id: str
    turn: int
    user: str
    lang: str
    expect_items: tuple[str, ...] = ()
    expect_intent: str | None = None
    expect_action: str | None = None
    expect_facts: tuple[str, ...] = ()
    #: the aspects the turn asks (``expect.aspects``), and those the assistant predicted.
    expect_aspects: tuple[str, ...] = ()
    aspects: tuple[str, ...] = ()
    yes_no: bool = False
    ranking: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    intent: str = ""
    intent_confidence: float = 0.0
    action: str = ""
    handoff_reason: str = ""
    answer: str = ""
    #: item ids the answer cites.
    citations: tuple[str, ...] = ()
    latency_ms: float = 0.0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    #: domain of the first expected item (catalog domain, or corpus department).
    domain: str = ""
    #: number of turns of the case (multi-turn cases have more than one).
    case_turns: int = 1
    #: the case's free labels (``life-event``, ``two-part``…).
    tags: tuple[str, ...] = ()
    error: str = ""

    @property
    def rank(self) -> int | None:
        """Rank of the first acceptable item in the top 10."""
        return first_relevant_rank(self.ranking, self.expect_items, 10) if self.expect_items else None

    @property
    def failures(self) -> tuple[str, ...]:
        """Which expectations failed: ``items``, ``intent``, ``action`` (empty when the turn passes).

        The item expectation is judged at rank 1 for answered turns (the answer
        is built from the top item) and within the top 5 otherwise (a clarifying
        question offers the candidates).
        """
        if self.error:
            return ("error",)
        out = []
        if self.expect_items:
            k = 1 if self.expect_action in (None, "answer") else 5
            if first_relevant_rank(self.ranking, self.expect_items, k) is None:
                out.append("items")
        if self.expect_intent is not None and self.intent != self.expect_intent:
            out.append("intent")
        if self.expect_action is not None and self.action != self.expect_action:
            out.append("action")
        return tuple(out)

    @property
    def passed(self) -> bool:
        """True when every expectation of the turn holds."""
        return not self.failures


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def resolution_proxy(outcomes: Sequence[TurnOutcome]) -> float | None:
    """Share of expected-answer turns the assistant answered from an acceptable top item.

    A turn expecting an answer with no item listed counts as resolved when it
    was answered (nothing to check the item against).
    """
    pool = [o for o in outcomes if o.expect_action == "answer" and not o.error]
    if not pool:
        return None
    resolved = 0
    for o in pool:
        if o.action != "answer":
            continue
        if not o.expect_items or (o.ranking and o.ranking[0] in o.expect_items):
            resolved += 1
    return resolved / len(pool)


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


def facts_recall(outcomes: Sequence[TurnOutcome]) -> float | None:
    """Mean share of a turn's ``expect.facts`` found in its answer (whitespace and case ignored)."""
    pool = [o for o in outcomes if o.expect_facts and not o.error]
    if not pool:
        return None
    total = 0.0
    for o in pool:
        answer = _squash(o.answer)
        total += sum(_squash(f) in answer for f in o.expect_facts) / len(o.expect_facts)
    return total / len(pool)


#: "Facts first": a fact counts when it is stated within this many characters of the answer.
FACTS_FIRST_CHARS = 150


def facts_first(outcomes: Sequence[TurnOutcome], *, within: int = FACTS_FIRST_CHARS) -> float | None:
    """Mean share of a turn's facts that end within the first ``within`` characters of its answer.

    Characters are counted on the answer as shown (whitespace included), a fact is found
    as :func:`facts_recall` finds it.
    """
    pool = [o for o in outcomes if o.expect_facts and not o.error]
    if not pool:
        return None
    total = 0.0
    for o in pool:
        head = _squash(o.answer[:within])
        total += sum(_squash(f) in head for f in o.expect_facts) / len(o.expect_facts)
    return total / len(pool)


def aspect_precision_recall(outcomes: Sequence[TurnOutcome]) -> tuple[float | None, float | None, int]:
    """Micro precision and recall of predicted aspects on turns with ``expect.aspects``, and their count."""
    pool = [o for o in outcomes if o.expect_aspects and not o.error]
    tp = sum(len(set(o.aspects) & set(o.expect_aspects)) for o in pool)
    predicted = sum(len(set(o.aspects)) for o in pool)
    expected = sum(len(set(o.expect_aspects)) for o in pool)
    return (tp / predicted if predicted else None), (tp / expected if expected else None), len(pool)


def median_answer_chars(outcomes: Sequence[TurnOutcome]) -> float | None:
    """Median length in characters of the answers (action ``answer``)."""
    lengths = [len(o.answer) for o in outcomes if o.action == "answer" and not o.error]
    return percentile(lengths, 50) if lengths else None


def answered_in_lang(outcomes: Sequence[TurnOutcome]) -> float | None:
    """Share of answered turns whose answer is written in the case's language (an English
    question answered in English), read by the assistant's own language detector."""
    from assistant.core.text import detect_lang

    pool = [o for o in outcomes if o.action == "answer" and not o.error and o.lang in ("zh", "en")]
    if not pool:
        return None
    # the closing lines name official channels in Chinese: judge the answer by its body
    return sum(detect_lang(_body(o.answer), "zh") == o.lang for o in pool) / len(pool)


def _body(answer: str) -> str:
    return answer.split("\n\n")[0]


def answer_breakdown(outcomes: Sequence[TurnOutcome]) -> dict[str, Any]:
    """Facts recall, facts first, aspect precision/recall and median length of a population."""
    p, r, n = aspect_precision_recall(outcomes)
    return {
        "answered_in_lang": _round(answered_in_lang(outcomes)),
        "facts_recall": _round(facts_recall(outcomes)),
        "facts_first": _round(facts_first(outcomes)),
        "facts_turns": sum(1 for o in outcomes if o.expect_facts and not o.error),
        "aspect_precision": _round(p),
        "aspect_recall": _round(r),
        "aspect_turns": n,
        "median_answer_chars": _round(median_answer_chars(outcomes), 1),
        "answered_turns": sum(1 for o in outcomes if o.action == "answer" and not o.error),
    }


def cited_acceptable(outcomes: Sequence[TurnOutcome]) -> float | None:
    """Share of answered turns with expected items whose answer cites one of them."""
    pool = [o for o in outcomes if o.expect_items and o.action == "answer" and not o.error]
    if not pool:
        return None
    return sum(any(c in o.expect_items for c in o.citations) for o in pool) / len(pool)


def summarize(outcomes: Sequence[TurnOutcome], *, cases: int, errors: Sequence[str] = ()) -> dict[str, Any]:
    """The run's metrics: the keys of the format file plus breakdowns for reports."""
    ok = [o for o in outcomes if not o.error]
    with_items = [o for o in ok if o.expect_items]
    rankings = [o.ranking for o in with_items]
    acceptables = [o.expect_items for o in with_items]
    intent_pool = [o for o in ok if o.expect_intent is not None]
    exp_int = [o.expect_intent or "" for o in intent_pool]
    got_int = [o.intent for o in intent_pool]
    action_pool = [o for o in ok if o.expect_action is not None]
    exp_act = [o.expect_action or "" for o in action_pool]
    got_act = [o.action for o in action_pool]
    latencies = [o.latency_ms for o in ok]

    action: dict[str, Any] = {"accuracy": _round(accuracy(exp_act, got_act))}
    for label in WATCHED_ACTIONS:
        p, r = precision_recall(exp_act, got_act, label)
        action[label] = {"precision": _round(p), "recall": _round(r), "support": exp_act.count(label)}

    # Follow-up turns of multi-turn cases: does the conversation stay on the right item?
    follow = [o for o in with_items if o.case_turns > 1 and o.turn > 0]
    by_domain: dict[str, list[TurnOutcome]] = {}
    for o in with_items:
        by_domain.setdefault(o.domain or "-", []).append(o)
    by_lang: dict[str, list[TurnOutcome]] = {}
    for o in with_items:
        by_lang.setdefault(o.lang, []).append(o)

    intent_labels = [lab for lab in INTENTS if lab in exp_int or lab in got_int]
    per_intent = {}
    for lab in intent_labels:
        p, r = precision_recall(exp_int, got_int, lab)
        per_intent[lab] = {"precision": _round(p), "recall": _round(r), "f1": _round(f1(p, r)), "support": exp_int.count(lab)}

    return {
        "cases": cases,
        "turns": len(outcomes),
        "retrieval": {
            "hit@1": _round(hit_at_k(rankings, acceptables, 1)),
            "hit@3": _round(hit_at_k(rankings, acceptables, 3)),
            "hit@5": _round(hit_at_k(rankings, acceptables, 5)),
            "mrr@10": _round(mrr_at_k(rankings, acceptables, 10)),
            "turns": len(with_items),
        },
        "intent": {
            "accuracy": _round(accuracy(exp_int, got_int)),
            "macro_f1": _round(macro_f1(exp_int, got_int)),
            "turns": len(intent_pool),
            "per_label": per_intent,
        },
        "action": action,
        "resolution_proxy": _round(resolution_proxy(ok)),
        # generation, judged apart from retrieval: does the answer cite and state the right things?
        "answer": {
            "cited_acceptable": _round(cited_acceptable(ok)),
            **answer_breakdown(ok),
            "facts_first_chars": FACTS_FIRST_CHARS,
            # per language of the case and per aspect asked (a turn counts under each of its aspects)
            "by_lang": {lang: answer_breakdown(os_) for lang, os_ in sorted(_group(ok, lambda o: (o.lang,)).items())},
            "by_aspect": {
                a: answer_breakdown(os_)
                for a, os_ in sorted(_group(ok, lambda o: o.expect_aspects).items())
            },
            # per tag of the case (two-part, yesno, life-event…), with the retrieval's hit@1
            "by_tag": {
                tag: {
                    "hit@1": _round(hit_at_k([o.ranking for o in os_ if o.expect_items],
                                             [o.expect_items for o in os_ if o.expect_items], 1)),
                    **answer_breakdown(os_),
                }
                for tag, os_ in sorted(_group(ok, lambda o: o.tags).items())
            },
        },
        "latency_ms": {
            "p50": _round(percentile(latencies, 50), 2),
            "p95": _round(percentile(latencies, 95), 2),
            "max": _round(max(latencies) if latencies else None, 2),
            # per pipeline stage, as the dialogue reports it (intent, retrieval, generation…)
            "stages": _stage_latencies(ok),
        },
        "multi_turn": {
            "follow_up_turns": len(follow),
            "item_kept": _round(hit_at_k([o.ranking for o in follow], [o.expect_items for o in follow], 1)),
        },
        "hit_curve": {
            str(k): _round(hit_at_k(rankings, acceptables, k)) for k in CURVE_KS
        },
        "by_domain": {
            d: {"turns": len(os_), "hit@1": _round(hit_at_k([o.ranking for o in os_], [o.expect_items for o in os_], 1))}
            for d, os_ in sorted(by_domain.items())
        },
        "by_lang": {
            lang: {"turns": len(os_), "hit@1": _round(hit_at_k([o.ranking for o in os_], [o.expect_items for o in os_], 1))}
            for lang, os_ in sorted(by_lang.items())
        },
        "passed_turns": sum(o.passed for o in ok),
        "errored_turns": len(outcomes) - len(ok),
        "errors": list(errors),
    }


def _group(outcomes: Sequence[TurnOutcome], keys: Any) -> dict[str, list[TurnOutcome]]:
    groups: dict[str, list[TurnOutcome]] = {}
    for o in outcomes:
        for key in keys(o):
            groups.setdefault(key, []).append(o)
    return groups


def _stage_latencies(outcomes: Sequence[TurnOutcome]) -> dict[str, dict[str, float | None]]:
    stages: dict[str, list[float]] = {}
    for o in outcomes:
        for stage, ms in o.timings_ms.items():
            stages.setdefault(stage, []).append(float(ms))
    return {
        stage: {"p50": _round(percentile(v, 50), 2), "p95": _round(percentile(v, 95), 2)}
        for stage, v in stages.items()
    }


def _label_confusion(
    outcomes: Sequence[TurnOutcome], expected: str, chosen: str, order: Sequence[str]
) -> tuple[list[str], list[list[int]]]:
    """Labels of ``order`` that occur, and the expected × chosen counts of two outcome fields."""
    pool = [o for o in outcomes if not o.error and getattr(o, expected) is not None]
    exp = [getattr(o, expected) or "" for o in pool]
    got = [getattr(o, chosen) for o in pool]
    counts = Counter(exp) + Counter(got)
    labels = [lab for lab in order if counts[lab]]
    return labels, confusion_matrix(exp, got, labels)


def action_confusion(outcomes: Sequence[TurnOutcome]) -> tuple[list[str], list[list[int]]]:
    """Action labels (those that occur, in ACTIONS order) and the expected × chosen counts."""
    from assistant.core.types import ACTIONS

    return _label_confusion(outcomes, "expect_action", "action", ACTIONS)


def intent_confusion(outcomes: Sequence[TurnOutcome]) -> tuple[list[str], list[list[int]]]:
    """Labels (taxonomy order, those that occur) and the expected × predicted counts."""
    return _label_confusion(outcomes, "expect_intent", "intent", INTENTS)
