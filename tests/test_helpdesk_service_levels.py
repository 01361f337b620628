"""Service levels (resolution and first-response figures) on a scripted timeline whose answers are worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from assistant.helpdesk import (
    WorkingHours,
    compute_service_levels,
    percentile,
    self_service_outcome,
)
from assistant.core.types import ConversationRecord, Ticket
from tests.fakes import tiny_items

UTC = timezone.utc
DAY1 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
ITEMS = {i.id: i for i in tiny_items()}
HOURS = WorkingHours("00:00-24:00", "Asia/Shanghai")


def conv(cid: str, at: datetime, *, client: str = "", questions=("问题",), item: str = "", neg: int = 0,
         pos: int = 0, ratings=(), tickets=(), last: datetime | None = None, in_window: bool = True) -> ConversationRecord:
    return ConversationRecord(
        id=cid, created_at=at, last_at=last or at + timedelta(minutes=2), client_id=client,
        questions=tuple(questions), item_id=item, negative_feedback=neg, positive_feedback=pos,
        ratings=tuple(ratings), ticket_ids=tuple(tickets), in_window=in_window,
    )


def ticket(tid: int, cid: str, at: datetime, *, reason: str, department: str, first_s: float | None = None,
           status: str = "new", resolution: str = "", callback: bool = False, item: str = "") -> Ticket:
    return Ticket(
        id=tid, conversation_id=cid, status=status, reason=reason, department=department, summary="",  # type: ignore[arg-type]
        created_at=at, item_ids=(item,) if item else (), callback=callback,
        first_response_at=at + timedelta(seconds=first_s) if first_s is not None else None,
        resolved_at=at + timedelta(minutes=10) if status in ("resolved", "closed") else None,
        resolution=resolution, queued_at=at,
    )


H = timedelta(hours=1)
CONVERSATIONS = [
    conv("c1", DAY1, client="A", questions=("护照怎么办",), item="passport-apply", pos=1),  # resolved
    conv("c2", DAY1 + H, client="B", item="hukou-newborn", neg=1),  # unresolved: thumbs down
    conv("c3", DAY1 + 2 * H, client="C", questions=("护照要多少钱",), item="passport-apply"),  # asked again -> unresolved
    conv("c4", DAY1 + 10 * H, client="C", questions=("护照费用",), item="passport-apply"),  # the repeat; resolved
    conv("c5", DAY1 + 3 * H, client="D", item="social-security-card", ratings=(5,), tickets=(1,)),
    conv("c6", DAY1 + 4 * H, client="E", item="hukou-newborn", ratings=(2,), tickets=(2,)),
    conv("c7", NOW - 2 * H, client="F", item="passport-apply"),  # too recent: pending
    conv("c8", DAY1 + 5 * H, client="G", tickets=(3,)),  # callback ticket
    conv("c9", DAY1 + 6 * H, client="H", tickets=(4,)),  # open ticket, never answered
    conv("c10", DAY1 + 7 * H, client="I", questions=()),  # opened, never asked: not counted
    conv("c11", DAY1 + 7 * H, client="J", item="social-security-card", tickets=(5,)),
]
TICKETS = [
    ticket(1, "c5", DAY1 + 3 * H, reason="customer_request", department="人社", first_s=30, status="resolved", resolution="answered"),
    ticket(2, "c6", DAY1 + 4 * H, reason="low_confidence", department="公安", first_s=120, status="closed", resolution="unresolved"),
    ticket(3, "c8", DAY1 + 5 * H, reason="customer_request", department="公安", first_s=20 * 3600, status="resolved",
           resolution="callback_done", callback=True),
    ticket(4, "c9", DAY1 + 6 * H, reason="complaint", department="市场监管"),
    ticket(5, "c11", DAY1 + 7 * H, reason="customer_request", department="人社", first_s=45, status="resolved", resolution="answered"),
]


@pytest.fixture(scope="module")
def report():
    return compute_service_levels(CONVERSATIONS, TICKETS, now=NOW, items=ITEMS, hours=HOURS, first_response_target_s=60)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([30, 120, 45], 50) == 45
    assert percentile([30, 120, 45], 90) == 120
    assert percentile([7], 90) == 7
    assert percentile(list(range(1, 11)), 90) == 9
    with pytest.raises(ValueError):
        percentile([], 50)


def test_overall_figures(report) -> None:
    o = report.overall
    assert o.conversations == 10  # c10 never asked anything
    assert o.handoffs == 5 and o.handoff_rate == 0.5
    assert (o.self_service_resolved, o.self_service_unresolved, o.self_service_pending) == (2, 2, 1)
    assert o.self_service_rate == round(2 / 9, 4)  # resolved / (resolved + unresolved + handoffs)
    assert o.tickets == 5
    assert o.first_responses == 3  # the call-back ticket is not a first-response case
    assert o.first_response_p50_s == 45 and o.first_response_p90_s == 120
    assert o.first_response_within_target == round(2 / 3, 4)
    assert o.open_breaches == 1  # ticket 4
    assert (o.human_resolved, o.human_closed, o.human_resolution_rate) == (3, 1, 0.75)
    assert o.ratings == 2 and o.rating_mean == 3.5
    assert o.rating_distribution == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert (o.thumbs_up, o.thumbs_down) == (1, 1)
    assert report.handoff_reasons == {"customer_request": 3, "low_confidence": 1, "complaint": 1}
    assert report.resolutions == {"answered": 2, "unresolved": 1, "callback_done": 1}


def test_per_item_department_and_day(report) -> None:
    assert report.item_names["passport-apply"] == "普通护照申领" and "(none)" not in report.item_names
    passport = report.by_item["passport-apply"]
    assert passport.conversations == 4  # c1, c3, c4, c7
    assert passport.self_service_rate == round(2 / 3, 4)
    assert passport.self_service_pending == 1
    people = report.by_department["人社"]
    assert people.tickets == 2 and people.first_response_p50_s == 30 and people.first_response_p90_s == 45
    assert people.human_resolution_rate == 1.0
    police = report.by_department["公安"]
    assert police.first_responses == 1 and police.human_resolution_rate == 0.5
    # c4 was created at 20:00 Shanghai time on the 23rd; c7 on the 26th (08:00 local)
    assert report.by_day["2026-11-23"].conversations == 9
    assert report.by_day["2026-11-26"].conversations == 1
    assert report.by_day["2026-11-23"].tickets == 5


def test_no_data_is_none_not_zero() -> None:
    r = compute_service_levels([], [], now=NOW, items=ITEMS, hours=HOURS, first_response_target_s=60)
    assert r.overall.conversations == 0
    assert r.overall.handoff_rate is None and r.overall.first_response_p50_s is None
    assert r.overall.human_resolution_rate is None and r.overall.rating_mean is None


def test_repeat_outside_24h_or_other_client_does_not_count() -> None:
    base = conv("x", DAY1, client="K", questions=("社保卡怎么补",), item="social-security-card")
    later_other_client = conv("y", DAY1 + H, client="L", questions=("社保卡怎么补",), item="social-security-card")
    much_later = conv("z", DAY1 + 30 * H, client="K", questions=("社保卡怎么补",), item="social-security-card")
    assert self_service_outcome(base, [later_other_client, much_later], NOW) == "resolved"
    same_text = conv("w", DAY1 + H, client="K", questions=("社保卡 怎么补？",), item="")
    assert self_service_outcome(base, [same_text], NOW) == "unresolved"
    repeated_inside = conv("v", DAY1, questions=("护照怎么办", "护照怎么办？"))
    assert self_service_outcome(repeated_inside, [], NOW) == "unresolved"
    # a conversation read only to spot repeats is not itself counted
    outside = conv("u", NOW + H, client="K", in_window=False)
    r = compute_service_levels([base, outside], [], now=NOW + 2 * H, items=ITEMS, hours=HOURS, first_response_target_s=60)
    assert r.overall.conversations == 1
