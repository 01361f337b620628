"""Missed questions: what citizens asked that the assistant did not answer well, grouped.

A citizen's question (a stored user message) is missed when one of these
signals holds, all read from stored turns, feedback and tickets:

- ``no_answer``: the assistant refused it (no item matched well enough, or it
  looked out of scope: an operator may add the knowledge or mark it out of scope);
- ``low_confidence``: the assistant asked a clarifying question instead of answering;
- ``clarify_unanswered``: that clarifying question was left: the citizen's next
  message picked none of the options, or there was none;
- ``thumbs_down``: the answer to it got a thumbs down;
- ``low_rating``: the conversation was rated 1 or 2 (好差评);
- ``handoff_missing``: it was handed to a person because the knowledge was
  missing or the assistant stayed unsure (handoff reasons ``missing_knowledge``,
  ``low_confidence``).

Questions are grouped by the cosine of their query embeddings (the retriever's
embedder, so asked questions come from its cache) at or above
``workbench.group_similarity``, greedily, most frequent first.  Messages are
stored masked (``assistant.core.pii``); they are masked again here, for rows
stored before masking existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from assistant.core.pii import mask
from assistant.core.types import Activity, Embedder, Turn

SIGNALS = ("no_answer", "low_confidence", "clarify_unanswered", "thumbs_down", "low_rating", "handoff_missing")
#: handoff reasons that mean the knowledge did not carry the question.
MISSING_REASONS = ("missing_knowledge", "low_confidence")
#: a 1-5 rating at or below this is a bad rating (好差评 差评).
BAD_RATING = 2


@dataclass(frozen=True)
class MissedQuestion:
    """One citizen question with the signals that mark it missed."""

    message_id: int
    conversation_id: str
    text: str
    asked_at: datetime
    signals: tuple[str, ...]
    #: the assistant's action on it and the items it ranked first.
    action: str = ""
    item_ids: tuple[str, ...] = ()


@dataclass
class QuestionGroup:
    """Questions asked alike, with how often and how recently."""

    key: str
    questions: list[MissedQuestion] = field(default_factory=list)
    _centroid: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def newest(self) -> datetime:
        return max(q.asked_at for q in self.questions)

    @property
    def text(self) -> str:
        """The representative question: the most often asked text, the newest on a tie."""
        counts: dict[str, int] = defaultdict(int)
        for q in self.questions:
            counts[q.text] += 1
        newest = {q.text: q.asked_at for q in sorted(self.questions, key=lambda q: q.asked_at)}
        return max(counts, key=lambda t: (counts[t], newest[t]))


def missed_questions(activity: Activity) -> list[MissedQuestion]:
    """Every missed question of the window, oldest first (see the module docstring)."""
    by_conversation: dict[str, list[Turn]] = defaultdict(list)
    for t in activity.turns:
        by_conversation[t.conversation_id].append(t)
    thumbs_down = {f.message_id for f in activity.feedback if f.helpful is False and f.message_id is not None}
    rated_bad = {f.conversation_id for f in activity.feedback if f.rating is not None and f.rating <= BAD_RATING}
    missing_handoff = {t.conversation_id for t in activity.tickets if t.reason in MISSING_REASONS}
    out: list[MissedQuestion] = []
    for cid, turns in by_conversation.items():
        for n, turn in enumerate(turns):
            if turn.role != "user":
                continue
            answer = next((t for t in turns[n + 1 :] if t.role in ("assistant", "system")), None)
            if answer is not None and turns.index(answer) != n + 1:
                answer = None  # another user message came first: no answer of its own
            signals: list[str] = []
            if answer is not None:
                if answer.action == "refuse" and turn.intent not in ("greeting", "thanks"):
                    signals.append("no_answer")
                if answer.action == "clarify":
                    signals.append("low_confidence")
                    later = next((t for t in turns[n + 2 :] if t.role == "user"), None)
                    picked = later is not None and any(
                        later.text.strip() in (o.value, o.label) for o in answer.options
                    )
                    if not picked:
                        signals.append("clarify_unanswered")
                if answer.id in thumbs_down:
                    signals.append("thumbs_down")
                if answer.action == "handoff" and cid in missing_handoff and turn.intent != "request_human":
                    signals.append("handoff_missing")
            if cid in rated_bad and turn.intent not in ("greeting", "thanks", "request_human"):
                signals.append("low_rating")
            if signals:
                out.append(
                    MissedQuestion(
                        message_id=turn.id,
                        conversation_id=cid,
                        text=mask(turn.text),
                        asked_at=turn.created_at,
                        signals=tuple(signals),
                        action=answer.action if answer is not None else "",
                        item_ids=answer.item_ids[:3] if answer is not None else (),
                    )
                )
    out.sort(key=lambda q: q.asked_at)
    return out


def group_questions(
    questions: Sequence[MissedQuestion], embedder: Embedder | None, *, similarity: float
) -> list[QuestionGroup]:
    """Greedy grouping: each question joins the group whose centroid is nearest, if at
    least ``similarity`` close, else starts one.  Same text, same group, always."""
    from assistant.helpdesk import normalise_question

    groups: list[QuestionGroup] = []
    by_text: dict[str, QuestionGroup] = {}
    texts = list(dict.fromkeys(q.text for q in questions))
    vectors: dict[str, np.ndarray] = {}
    if embedder is not None and texts:
        for t, v in zip(texts, np.asarray(embedder.embed_queries(texts), dtype=np.float32)):
            vectors[t] = v / (np.linalg.norm(v) or 1.0)
    for q in questions:
        key = normalise_question(q.text) or q.text
        group = by_text.get(key)
        if group is None and q.text in vectors:
            v = vectors[q.text]
            best, best_sim = None, similarity
            for g in groups:
                if g._centroid is None:
                    continue
                sim = float(g._centroid @ v)
                if sim >= best_sim:
                    best, best_sim = g, sim
            group = best
        if group is None:
            group = QuestionGroup(key=key)
            groups.append(group)
        group.questions.append(q)
        by_text[key] = group
        if q.text in vectors:
            vs = [vectors[x.text] for x in group.questions if x.text in vectors]
            c = np.mean(vs, axis=0)
            group._centroid = c / (np.linalg.norm(c) or 1.0)
    return groups


def group_json(group: QuestionGroup, marks: Mapping[str, Any], suggestions: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A group as the inbox shows it."""
    signals: dict[str, int] = defaultdict(int)
    for q in group.questions:
        for s in q.signals:
            signals[s] += 1
    texts = list(dict.fromkeys(q.text for q in sorted(group.questions, key=lambda q: q.asked_at, reverse=True)))
    return {
        "key": group.key,
        "text": group.text,
        "count": group.count,
        "newest": group.newest.isoformat(),
        "signals": dict(signals),
        "questions": texts[:20],
        "conversations": list(dict.fromkeys(q.conversation_id for q in group.questions))[:20],
        "mark": marks.get(group.key),
        "suggestions": list(suggestions),
    }
