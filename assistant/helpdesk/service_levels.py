"""Service levels of the helpdesk: pure functions over conversation and ticket records.

Self-service resolution rate, handoff rate and reasons, first human response
p50/p90 and share within target, human resolution rate, 好差评 ratings;
overall and per item, department and day.  Tested on a scripted timeline
without a database; the records come from a ``ServiceLevelReports`` backend.
(Not to be confused with ``eval/metrics.py``, the benchmark scores, or the
Prometheus ``/metrics`` endpoint, the server's observability.)
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from assistant.core.types import GENERAL_DEPARTMENT, REPEAT_WINDOW, ConversationRecord, ServiceItem, Ticket
from assistant.helpdesk.hours import WorkingHours


@dataclass(frozen=True)
class Rates:
    """Counts and rates for one slice (overall, an item, a department or a day)."""

    conversations: int = 0
    handoffs: int = 0
    handoff_rate: float | None = None
    self_service_resolved: int = 0
    self_service_unresolved: int = 0
    #: too recent to judge: a repeat question may still come within 24 h.
    self_service_pending: int = 0
    self_service_rate: float | None = None
    tickets: int = 0
    first_responses: int = 0
    first_response_p50_s: float | None = None
    first_response_p90_s: float | None = None
    #: share of first responses within the target (one minute by default).
    first_response_within_target: float | None = None
    #: tickets still without a first response whose target has passed.
    open_breaches: int = 0
    human_resolved: int = 0
    human_closed: int = 0
    human_resolution_rate: float | None = None
    ratings: int = 0
    rating_mean: float | None = None
    rating_distribution: Mapping[str, int] = field(default_factory=dict)
    thumbs_up: int = 0
    thumbs_down: int = 0


@dataclass(frozen=True)
class ServiceLevels:
    """The whole service-level report."""

    generated_at: datetime
    first_response_target_s: int
    overall: Rates
    handoff_reasons: Mapping[str, int]
    resolutions: Mapping[str, int]
    by_item: Mapping[str, Rates]
    by_department: Mapping[str, Rates]
    by_day: Mapping[str, Rates]
    #: names of the items in ``by_item`` (ids are the keys).
    item_names: Mapping[str, str] = field(default_factory=dict)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by the nearest-rank method (an observed value, no interpolation)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


def normalise_question(text: str) -> str:
    """Question text compared for "asked again": NFKC, lower case, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def self_service_outcome(
    conversation: ConversationRecord, later: Iterable[ConversationRecord], now: datetime
) -> str:
    """``handoff``, ``unresolved``, ``resolved`` or ``pending`` for one conversation.

    Resolved by self-service means: no handoff, no negative feedback, and the
    same question not asked again within 24 h (in the conversation itself, or
    in a later conversation from the same browser about the same item or with
    the same question text).  Until 24 h have passed without a repeat the
    outcome is ``pending`` and stays out of the rate.
    """
    if conversation.ticket_ids:
        return "handoff"
    if conversation.negative_feedback:
        return "unresolved"
    asked = [normalise_question(q) for q in conversation.questions]
    asked = [q for q in asked if q]
    if len(asked) != len(set(asked)):
        return "unresolved"
    window_end = conversation.last_at + REPEAT_WINDOW
    if conversation.client_id:
        for other in later:
            if other.id == conversation.id or other.client_id != conversation.client_id:
                continue
            if not (conversation.last_at <= other.created_at < window_end):
                continue
            same_item = bool(conversation.item_id) and other.item_id == conversation.item_id
            same_text = bool(set(asked) & {normalise_question(q) for q in other.questions})
            if same_item or same_text:
                return "unresolved"
    if now < window_end:
        return "pending"
    return "resolved"


def compute_service_levels(
    conversations: Sequence[ConversationRecord],
    tickets: Sequence[Ticket],
    *,
    now: datetime,
    items: Mapping[str, ServiceItem],
    hours: WorkingHours,
    first_response_target_s: int,
) -> ServiceLevels:
    """Every service-level figure from plain records (pure; see the module docstring)."""
    everything = [c for c in conversations if c.questions]
    conversations = [c for c in everything if c.in_window]
    by_client: dict[str, list[ConversationRecord]] = defaultdict(list)
    for c in everything:
        if c.client_id:
            by_client[c.client_id].append(c)
    outcome = {c.id: self_service_outcome(c, by_client.get(c.client_id, ()), now) for c in conversations}
    ticket_conversation_item = {c.id: c.item_id for c in conversations}

    def department_of_item(item_id: str) -> str:
        item = items.get(item_id)
        return item.department if item else GENERAL_DEPARTMENT

    slices_c: dict[tuple[str, str], list[ConversationRecord]] = defaultdict(list)
    slices_t: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    for c in conversations:
        keys = [("overall", ""), ("day", hours.local_date(c.created_at).isoformat())]
        keys.append(("item", c.item_id or "(none)"))
        keys.append(("department", department_of_item(c.item_id) if c.item_id else GENERAL_DEPARTMENT))
        for k in keys:
            slices_c[k].append(c)
    for t in tickets:
        item_id = t.item_ids[0] if t.item_ids else ticket_conversation_item.get(t.conversation_id, "")
        keys = [
            ("overall", ""),
            ("day", hours.local_date(t.created_at).isoformat()),
            ("item", item_id or "(none)"),
            ("department", t.department),
        ]
        for k in keys:
            slices_t[k].append(t)

    def rates(cs: Sequence[ConversationRecord], ts: Sequence[Ticket]) -> Rates:
        n = len(cs)
        handoffs = sum(1 for c in cs if outcome[c.id] == "handoff")
        resolved = sum(1 for c in cs if outcome[c.id] == "resolved")
        unresolved = sum(1 for c in cs if outcome[c.id] == "unresolved")
        pending = sum(1 for c in cs if outcome[c.id] == "pending")
        waits = [
            (t.first_response_at - t.created_at).total_seconds()
            for t in ts
            if t.first_response_at is not None and not t.callback
        ]
        breaches = sum(
            1
            for t in ts
            if t.first_response_at is None
            and not t.callback
            and t.status not in ("resolved", "closed")
            and (now - t.created_at).total_seconds() > first_response_target_s
        )
        h_resolved = sum(1 for t in ts if t.status == "resolved")
        h_closed = sum(1 for t in ts if t.status == "closed")
        all_ratings = [r for c in cs for r in c.ratings]
        return Rates(
            conversations=n,
            handoffs=handoffs,
            handoff_rate=_ratio(handoffs, n),
            self_service_resolved=resolved,
            self_service_unresolved=unresolved,
            self_service_pending=pending,
            self_service_rate=_ratio(resolved, resolved + unresolved + handoffs),
            tickets=len(ts),
            first_responses=len(waits),
            first_response_p50_s=percentile(waits, 50) if waits else None,
            first_response_p90_s=percentile(waits, 90) if waits else None,
            first_response_within_target=_ratio(sum(1 for w in waits if w <= first_response_target_s), len(waits)),
            open_breaches=breaches,
            human_resolved=h_resolved,
            human_closed=h_closed,
            human_resolution_rate=_ratio(h_resolved, h_resolved + h_closed),
            ratings=len(all_ratings),
            rating_mean=round(sum(all_ratings) / len(all_ratings), 3) if all_ratings else None,
            rating_distribution={str(k): sum(1 for r in all_ratings if r == k) for k in range(1, 6)},
            thumbs_up=sum(c.positive_feedback for c in cs),
            thumbs_down=sum(c.negative_feedback for c in cs),
        )

    def group(kind: str) -> dict[str, Rates]:
        keys = sorted({k for (g, k) in (*slices_c, *slices_t) if g == kind})
        return {k: rates(slices_c.get((kind, k), []), slices_t.get((kind, k), [])) for k in keys}

    by_item = group("item")
    return ServiceLevels(
        generated_at=now,
        first_response_target_s=first_response_target_s,
        overall=rates(slices_c.get(("overall", ""), []), slices_t.get(("overall", ""), [])),
        handoff_reasons=dict(Counter(t.reason for t in tickets).most_common()),
        resolutions=dict(Counter(t.resolution for t in tickets if t.resolution).most_common()),
        by_item=by_item,
        by_department=group("department"),
        by_day=group("day"),
        item_names={k: items[k].name for k in by_item if k in items},
    )


def _ratio(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places, or None when there is nothing to divide (not 0)."""
    return round(part / whole, 4) if whole else None
