"""SqlHandoffQueue: the human helpdesk queue, stored with the conversations.

Ticket states: ``new`` → ``claimed`` → ``answered`` → ``resolved`` / ``closed``,
and ``reopen`` puts a finished ticket back to ``new``.  A claim is a single
conditional UPDATE, so among concurrent agents exactly one changes the row
and wins; the others see zero rows changed and get Conflict.  A claim is a
lease: an agent who does nothing for ``claim_lease_s`` seconds loses the
ticket to the next agent who claims it (every reply renews the lease).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from assistant.db import rules, serde
from assistant.db.engine import WRITE_OPTION
from assistant.db.models import ConversationRow, TicketEventRow, TicketRow
from assistant.db.rules import RESOLUTIONS
from assistant.db.store import (
    add_ticket,
    plain_message_row,
    ticket_from_row,
    turn_from_row,
)
from assistant.core.errors import InvalidInput
from assistant.core.types import (
    OPEN_TICKET_STATUSES,
    Ticket,
    TicketDraft,
    TicketEvent,
    Turn,
)

__all__ = ["RESOLUTIONS", "SqlHandoffQueue"]


class SqlHandoffQueue:
    """The HandoffQueue on SQLAlchemy, with leased atomic claims."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime], lease_s: int) -> None:
        if lease_s <= 0:
            raise InvalidInput(f"claim lease {lease_s}s must be positive")
        self.engine = engine
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self.clock = clock
        self.lease = timedelta(seconds=lease_s)

    def _reading(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _writing(self) -> Session:
        return Session(self._write_engine, expire_on_commit=False)

    @staticmethod
    def _row(session: Session, ticket_id: int, *, lock: bool = False) -> TicketRow:
        query = select(TicketRow).where(TicketRow.id == ticket_id)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise rules.ticket_not_found(ticket_id)
        return row

    @staticmethod
    def _event(session: Session, ticket_id: int, kind: str, agent: str, detail: str, now: datetime) -> None:
        session.add(TicketEventRow(ticket_id=ticket_id, kind=kind, agent=agent, detail=detail, created_at=now))

    @staticmethod
    def _holder(row: TicketRow, agent: str, now: datetime, doing: str) -> None:
        """Conflict unless ``agent`` holds a live claim on the ticket."""
        rules.check_holder(row.id, row.status, row.agent, row.lease_until, agent, now, doing)

    # ------------------------------------------------------------------ HandoffQueue

    def enqueue(
        self,
        conversation_id: str,
        *,
        reason: str,
        department: str,
        summary: str,
        item_ids: Sequence[str] = (),
        priority: int = 0,
        callback: bool = False,
    ) -> Ticket:
        """Open a ticket for a conversation (one open ticket per conversation)."""
        now = self.clock()
        draft = TicketDraft(
            reason=reason,
            department=department,
            summary=summary,
            item_ids=tuple(item_ids),
            priority=priority,
            callback=callback,
        )
        with self._writing() as session, session.begin():
            if session.get(ConversationRow, conversation_id) is None:
                raise rules.conversation_not_found(conversation_id)
            row = add_ticket(session, conversation_id, draft, now)
            session.flush()
            return ticket_from_row(row)

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Claim a ticket for ``agent``: exactly one of many concurrent claimers wins.

        Claimable: a ``new`` ticket, a claimed/answered ticket whose lease has
        lapsed, or one the same agent already holds (which renews the lease).
        """
        agent = _agent(agent)
        now = self.clock()
        with self._writing() as session, session.begin():
            previous = self._row(session, ticket_id)
            previous_agent, previous_status = previous.agent, previous.status
            claimable = or_(
                TicketRow.status == "new",
                and_(
                    TicketRow.status.in_(("claimed", "answered")),
                    or_(TicketRow.lease_until < now, TicketRow.agent == agent),
                ),
            )
            # The WHERE clause is the lock: the database applies one conditional
            # UPDATE at a time, so only the first claimer finds the row claimable.
            changed = session.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, claimable)
                .values(
                    status=_claimed_status(),
                    agent=agent,
                    lease_until=now + self.lease,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed == 1:
                detail = rules.claim_detail(previous_status, previous_agent, agent)
                self._event(session, ticket_id, "claimed", agent, detail, now)
                row = self._row(session, ticket_id)
                session.refresh(row)
                return ticket_from_row(row)
        # Lost the race (or the ticket is not claimable): say who holds it.
        current = self.get(ticket_id)
        raise rules.claim_lost(ticket_id, current.status, current.agent, current.lease_until)

    def resolve(self, ticket_id: int, agent: str, *, resolution: str, notice: str = "") -> Ticket:
        """Finish a ticket with a resolution code and give the conversation back to the bot.

        ``notice`` (optional) is stored as a system message in the same transaction.
        """
        rules.check_resolution(resolution)
        agent = _agent(agent)
        now = self.clock()
        with self._writing() as session, session.begin():
            row = self._row(session, ticket_id, lock=True)
            self._holder(row, agent, now, "resolve it")
            row.status = RESOLUTIONS[resolution]
            row.resolution = resolution
            row.resolved_at = now
            row.lease_until = None
            row.updated_at = now
            self._event(session, ticket_id, row.status, agent, resolution, now)
            self._set_handed_off(session, row.conversation_id, False, now)
            if notice:
                session.add(plain_message_row(row.conversation_id, "system", notice, now))
            session.flush()
            return ticket_from_row(row)

    def get(self, ticket_id: int) -> Ticket:
        """The ticket; NotFound for an unknown id."""
        with self._reading() as session, session.begin():
            return ticket_from_row(self._row(session, ticket_id))

    def list(self, *, status: str | None = None) -> list[Ticket]:
        """Tickets, oldest first, optionally of one status."""
        rules.check_status(status)
        with self._reading() as session, session.begin():
            query = select(TicketRow).order_by(TicketRow.id)
            if status is not None:
                query = query.where(TicketRow.status == status)
            return [ticket_from_row(r) for r in session.scalars(query).all()]

    # ------------------------------------------------------------------ the rest of the life cycle

    def open_tickets(self) -> list[Ticket]:
        """Tickets a person still owns (new, claimed, answered), oldest first."""
        with self._reading() as session, session.begin():
            rows = session.scalars(
                select(TicketRow).where(TicketRow.status.in_(OPEN_TICKET_STATUSES)).order_by(TicketRow.id)
            ).all()
            return [ticket_from_row(r) for r in rows]

    def reply(self, ticket_id: int, agent: str, text: str) -> Turn:
        """The claiming agent writes to the citizen: message, first response time and lease together."""
        agent = _agent(agent)
        if not text.strip():
            raise InvalidInput("reply text is empty; write the answer to send")
        now = self.clock()
        with self._writing() as session, session.begin():
            row = self._row(session, ticket_id, lock=True)
            self._holder(row, agent, now, "reply")
            message = plain_message_row(row.conversation_id, "agent", text.strip(), now, agent=agent)
            session.add(message)
            if row.first_response_at is None:
                row.first_response_at = now
            row.status = "answered"
            row.lease_until = now + self.lease
            row.updated_at = now
            self._event(session, ticket_id, "replied", agent, "", now)
            conversation = session.get(ConversationRow, row.conversation_id)
            assert conversation is not None
            conversation.updated_at = now
            session.flush()
            return turn_from_row(message)

    def release(self, ticket_id: int, agent: str) -> Ticket:
        """Give a claimed ticket back to the queue."""
        agent = _agent(agent)
        now = self.clock()
        with self._writing() as session, session.begin():
            row = self._row(session, ticket_id, lock=True)
            self._holder(row, agent, now, "release it")
            row.agent = ""
            row.lease_until = None
            if row.status == "claimed":
                row.status = "new"
            row.updated_at = now
            self._event(session, ticket_id, "released", agent, "", now)
            session.flush()
            return ticket_from_row(row)

    def transfer(self, ticket_id: int, agent: str, department: str, *, note: str = "") -> Ticket:
        """Send the ticket to another department's queue; its wait restarts there."""
        agent = _agent(agent)
        if not department.strip():
            raise InvalidInput("department is empty; name the department to transfer to")
        now = self.clock()
        with self._writing() as session, session.begin():
            row = self._row(session, ticket_id, lock=True)
            self._holder(row, agent, now, "transfer it")
            department = rules.check_department(ticket_id, row.department, department)
            detail = f"{row.department} -> {department}" + (f": {note}" if note else "")
            row.department = department
            row.status = "new"
            row.agent = ""
            row.lease_until = None
            row.queued_at = now
            row.updated_at = now
            self._event(session, ticket_id, "transferred", agent, detail, now)
            session.flush()
            return ticket_from_row(row)

    def reopen(self, ticket_id: int, agent: str = "", *, note: str = "") -> Ticket:
        """Put a resolved or closed ticket back in the queue; the bot goes silent again."""
        now = self.clock()
        with self._writing() as session, session.begin():
            row = self._row(session, ticket_id, lock=True)
            other = session.scalar(
                select(TicketRow.id).where(
                    TicketRow.conversation_id == row.conversation_id,
                    TicketRow.status.in_(OPEN_TICKET_STATUSES),
                )
            )
            rules.check_reopenable(ticket_id, row.status, other)
            row.status = "new"
            row.agent = ""
            row.lease_until = None
            row.resolved_at = None
            row.resolution = ""
            row.queued_at = now
            row.updated_at = now
            self._event(session, ticket_id, "reopened", agent, note, now)
            self._set_handed_off(session, row.conversation_id, True, now)
            session.flush()
            return ticket_from_row(row)

    def events(self, ticket_id: int) -> list[TicketEvent]:
        """The ticket's history, oldest first."""
        with self._reading() as session, session.begin():
            self._row(session, ticket_id)
            rows = session.scalars(
                select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.id)
            ).all()
            return [TicketEvent(r.id, r.ticket_id, r.kind, r.agent, r.detail, r.created_at) for r in rows]

    @staticmethod
    def _set_handed_off(session: Session, conversation_id: str, handed_off: bool, now: datetime) -> None:
        conversation = session.get(ConversationRow, conversation_id, with_for_update=True)
        assert conversation is not None, "ticket rows reference a conversation"
        # Read, changed and written under the row lock: a concurrent record_turn that
        # read the state before this sees a newer version and retries (StaleState).
        state = rules.handed_over(serde.state_from_json(conversation.state), handed_off)
        conversation.state = serde.state_to_json(state)
        conversation.status = rules.conversation_status(state)
        conversation.version = conversation.version + 1
        conversation.updated_at = now


def _claimed_status():  # type: ignore[no-untyped-def]
    from sqlalchemy import case

    # An answered ticket stays answered when a new agent takes it over.
    return case((TicketRow.status == "new", "claimed"), else_=TicketRow.status)


_agent = rules.agent_name


