"""好差评 review tasks: every bad rating is reviewed, its cause found and fixed, the citizen told.

A task exists for every 1-2 rating (``missed.BAD_RATING``) of a conversation
in the window; it is open until a reviewer closes it with a finding
(``knowledge_wrong``, ``knowledge_missing``, ``retrieval``, ``staff``), the fix
(a draft or published version of an item, a ticket, or words), and a note to
the citizen.  Closing resolves the conversation's open ticket with that note
(or, when its tickets are finished, leaves the note in the conversation) and
is kept in ``reviews.json``.

"Reviewed and fixed within 5 working days": closed with a fix no later than
``workbench.review_days`` working days (Monday to Friday, in the helpdesk's
time zone; public holidays are not modelled) after the rating.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant.core.types import Activity, FeedbackRecord
from assistant.workbench.missed import BAD_RATING

FINDINGS = ("knowledge_wrong", "knowledge_missing", "retrieval", "staff")


def add_working_days(day: date, n: int) -> date:
    """The date ``n`` working days (Monday-Friday) after ``day``."""
    current = day
    left = n
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def due_date(rated_at: datetime, days: int, tz: str) -> date:
    """The last day a review of a rating given at ``rated_at`` is on time."""
    return add_working_days(rated_at.astimezone(ZoneInfo(tz)).date(), days)


@dataclass(frozen=True)
class ReviewTask:
    """A bad rating and, once closed, what the reviewer found and did."""

    feedback: FeedbackRecord
    due: date
    closed: Mapping[str, Any] | None

    @property
    def status(self) -> str:
        return "closed" if self.closed else "open"

    def on_time(self, tz: str) -> bool | None:
        """Closed with a fix by the due date; None while open and not yet due."""
        if self.closed is None:
            return None
        closed_day = datetime.fromisoformat(self.closed["closed_at"]).astimezone(ZoneInfo(tz)).date()
        return bool(self.closed.get("fix")) and closed_day <= self.due


def review_tasks(activity: Activity, closed: Mapping[str, Any], *, days: int, tz: str) -> list[ReviewTask]:
    """Every bad rating of the window as a task, newest first."""
    tasks = [
        ReviewTask(f, due_date(f.created_at, days, tz), closed.get(str(f.id)))
        for f in activity.feedback
        if f.rating is not None and f.rating <= BAD_RATING
    ]
    tasks.sort(key=lambda t: t.feedback.created_at, reverse=True)
    return tasks


def review_summary(tasks: Sequence[ReviewTask], *, today: date, tz: str) -> dict[str, Any]:
    """The dashboard's figure: bad ratings reviewed and fixed within the working days."""
    on_time = sum(1 for t in tasks if t.on_time(tz))
    late = sum(1 for t in tasks if t.closed is not None and not t.on_time(tz))
    open_overdue = sum(1 for t in tasks if t.closed is None and today > t.due)
    open_due = sum(1 for t in tasks if t.closed is None and today <= t.due)
    judged = on_time + late + open_overdue
    return {
        "bad_ratings": len(tasks),
        "fixed_on_time": on_time,
        "closed_late_or_unfixed": late,
        "open_overdue": open_overdue,
        "open_not_due": open_due,
        "on_time_rate": round(on_time / judged, 4) if judged else None,
    }
