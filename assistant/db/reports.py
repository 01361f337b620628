"""SqlServiceLevelReports: read-only queries behind the helpdesk's queue view and service levels.

They return plain records (``assistant.core.types.ConversationRecord``); the
figures themselves are computed by the pure functions of
``assistant.helpdesk.service_levels`` so that they can be tested on a scripted
timeline without a database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from assistant.db import rules
from assistant.db.models import ConversationRow, FeedbackRow, MessageRow, TicketRow
from assistant.db.store import ticket_from_row, turn_from_row
from assistant.core.types import REPEAT_WINDOW, Activity, ConversationRecord, FeedbackRecord, Lang, Ticket

#: ids per ``IN (…)`` query (SQLite allows 999 bound parameters).
ID_CHUNK = 500


class SqlServiceLevelReports:
    """The ServiceLevelReports over conversations, messages, feedback and tickets."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def conversation_meta(self, ids: Sequence[str]) -> dict[str, tuple[bool, Lang]]:
        """``{conversation id: (elder_mode, lang)}`` for the given ids."""
        if not ids:
            return {}
        with self._session() as session, session.begin():
            rows = session.execute(
                select(ConversationRow.id, ConversationRow.elder_mode, ConversationRow.lang).where(
                    ConversationRow.id.in_(list(set(ids)))
                )
            ).all()
            return {r.id: (bool(r.elder_mode), r.lang) for r in rows}  # type: ignore[misc]

    def recent_first_response_waits(self, limit: int) -> list[float]:
        """Seconds from handoff to first human reply, for the ``limit`` latest answered tickets."""
        with self._session() as session, session.begin():
            rows = session.execute(
                select(TicketRow.created_at, TicketRow.first_response_at)
                .where(TicketRow.first_response_at.is_not(None), TicketRow.callback.is_(False))
                .order_by(TicketRow.first_response_at.desc())
                .limit(limit)
            ).all()
            return [(r.first_response_at - r.created_at).total_seconds() for r in rows]

    def records(self, since: datetime, until: datetime) -> tuple[list[ConversationRecord], list[Ticket]]:
        """Conversations and tickets created in ``[since, until)`` as metric records.

        Conversations up to 24 h after ``until`` are read as well, because a
        repeat question there decides whether a conversation inside the window
        was really resolved.
        """
        horizon = until + REPEAT_WINDOW
        with self._session() as session, session.begin():
            conversations = session.scalars(
                select(ConversationRow).where(
                    ConversationRow.created_at >= since, ConversationRow.created_at < horizon
                )
            ).all()
            ids = [c.id for c in conversations]
            messages: dict[str, list[MessageRow]] = defaultdict(list)
            feedback: dict[str, list[FeedbackRow]] = defaultdict(list)
            ticket_ids: dict[str, list[int]] = defaultdict(list)
            for chunk in _chunks(ids, ID_CHUNK):
                for m in session.scalars(
                    select(MessageRow).where(MessageRow.conversation_id.in_(chunk)).order_by(MessageRow.id)
                ):
                    messages[m.conversation_id].append(m)
                for f in session.scalars(select(FeedbackRow).where(FeedbackRow.conversation_id.in_(chunk))):
                    feedback[f.conversation_id].append(f)
                for tid, cid in session.execute(
                    select(TicketRow.id, TicketRow.conversation_id).where(TicketRow.conversation_id.in_(chunk))
                ):
                    ticket_ids[cid].append(tid)
            tickets: list[Ticket] = [
                ticket_from_row(t)
                for t in session.scalars(
                    select(TicketRow)
                    .where(TicketRow.created_at >= since, TicketRow.created_at < until)
                    .order_by(TicketRow.id)
                )
            ]
        records = [
            rules.conversation_record(
                c.id,
                c.created_at,
                c.client_id,
                messages.get(c.id, []),
                feedback.get(c.id, []),
                ticket_ids.get(c.id, []),
                in_window=since <= c.created_at < until,
            )
            for c in conversations
        ]
        return records, tickets

    def activity(self, since: datetime, until: datetime) -> Activity:
        """The messages, feedback and tickets of the conversations created in ``[since, until)``."""
        with self._session() as session, session.begin():
            rows = session.execute(
                select(ConversationRow.id, ConversationRow.created_at, ConversationRow.lang, ConversationRow.elder_mode)
                .where(ConversationRow.created_at >= since, ConversationRow.created_at < until)
                .order_by(ConversationRow.created_at)
            ).all()
            meta = {r.id: (r.created_at, r.lang, bool(r.elder_mode)) for r in rows}
            turns, feedback, tickets = [], [], []
            for chunk in _chunks(list(meta), ID_CHUNK):
                turns += [
                    turn_from_row(m)
                    for m in session.scalars(
                        select(MessageRow).where(MessageRow.conversation_id.in_(chunk)).order_by(MessageRow.id)
                    )
                ]
                feedback += [
                    FeedbackRecord(f.id, f.conversation_id, f.message_id, f.helpful, f.rating, f.comment, f.created_at)
                    for f in session.scalars(
                        select(FeedbackRow).where(FeedbackRow.conversation_id.in_(chunk)).order_by(FeedbackRow.id)
                    )
                ]
                tickets += [
                    ticket_from_row(t)
                    for t in session.scalars(
                        select(TicketRow).where(TicketRow.conversation_id.in_(chunk)).order_by(TicketRow.id)
                    )
                ]
        turns.sort(key=lambda t: t.id)
        feedback.sort(key=lambda f: f.id)
        tickets.sort(key=lambda t: t.id)
        return Activity(meta, tuple(turns), tuple(feedback), tuple(tickets))  # type: ignore[arg-type]


def _chunks(values: Sequence[str], size: int):  # type: ignore[no-untyped-def]
    for i in range(0, len(values), size):
        yield list(values[i : i + size])
