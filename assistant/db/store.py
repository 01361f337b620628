"""SqlConversationStore: conversations, messages, dialogue state and feedback.

Every method that writes runs in one transaction; ``record_turn`` stores the
user message, the answer, the new dialogue state, the handoff ticket and the
Idempotency-Key's response together, so a failure leaves nothing half-written.  A write of the state
locks the conversation row (PostgreSQL ``FOR UPDATE``; SQLite's ``BEGIN
IMMEDIATE`` takes the database lock), compares ``expected_version`` with the
stored version inside that transaction and bumps it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from assistant.db import idempotency as idempotency_in
from assistant.db import rules, serde
from assistant.db.engine import WRITE_OPTION
from assistant.db.models import ConversationRow, FeedbackRow, MessageRow, PiiOriginalRow, TicketEventRow, TicketRow
from assistant.db.vault import OriginalsVault
from assistant.core.types import (
    OPEN_TICKET_STATUSES,
    Answer,
    Conversation,
    DialogueState,
    IdempotentWrite,
    Lang,
    Role,
    Ticket,
    TicketDraft,
    Turn,
    TurnResult,
)


def turn_from_row(row: MessageRow) -> Turn:
    """The Turn of a stored message."""
    return Turn(
        id=row.id,
        conversation_id=row.conversation_id,
        role=row.role,  # type: ignore[arg-type]
        text=row.text,
        created_at=row.created_at,
        intent=row.intent,
        action=row.action,
        item_ids=tuple(row.item_ids),
        citations=serde.citations_from_json(row.citations),
        options=serde.options_from_json(row.options),
    )


def ticket_from_row(row: TicketRow) -> Ticket:
    """The Ticket of a stored ticket row."""
    return Ticket(
        id=row.id,
        conversation_id=row.conversation_id,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason,
        department=row.department,
        summary=row.summary,
        created_at=row.created_at,
        item_ids=tuple(row.item_ids),
        priority=row.priority,
        agent=row.agent,
        lease_until=row.lease_until,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
        callback=row.callback,
        queued_at=row.queued_at,
    )


def new_ticket_row(conversation_id: str, draft: TicketDraft, now: datetime) -> TicketRow:
    """A ``new`` ticket row for a handoff draft."""
    return TicketRow(
        conversation_id=conversation_id,
        status="new",
        reason=draft.reason,
        department=draft.department,
        summary=draft.summary,
        item_ids=list(draft.item_ids),
        priority=draft.priority,
        callback=draft.callback,
        agent="",
        lease_until=None,
        queued_at=now,
        first_response_at=None,
        resolved_at=None,
        resolution="",
        created_at=now,
        updated_at=now,
    )


def open_ticket_id(session: Session, conversation_id: str) -> int | None:
    """The id of the conversation's ticket that is still open, if any."""
    return session.scalar(
        select(TicketRow.id).where(
            TicketRow.conversation_id == conversation_id, TicketRow.status.in_(OPEN_TICKET_STATUSES)
        )
    )


def add_ticket(session: Session, conversation_id: str, draft: TicketDraft, now: datetime) -> TicketRow:
    """Insert a ticket (and its ``created`` event); one open ticket per conversation."""
    rules.one_open_ticket(conversation_id, open_ticket_id(session, conversation_id))
    row = new_ticket_row(conversation_id, draft, now)
    session.add(row)
    session.flush()
    session.add(
        TicketEventRow(ticket_id=row.id, kind="created", agent="", detail=draft.reason, created_at=now)
    )
    return row


class SqlConversationStore:
    """The ConversationStore on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime], vault: OriginalsVault | None = None) -> None:
        self.engine = engine
        #: encrypts the typed originals of masked messages; None: originals are not kept.
        self.vault = vault
        self._write_engine = engine.execution_options(**{WRITE_OPTION: True})
        self.clock = clock

    # ------------------------------------------------------------------ sessions

    def _reading(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _writing(self) -> Session:
        return Session(self._write_engine, expire_on_commit=False)

    @staticmethod
    def _conversation_row(session: Session, conversation_id: str, *, lock: bool = False) -> ConversationRow:
        query = select(ConversationRow).where(ConversationRow.id == conversation_id)
        if lock:
            # PostgreSQL: serialise concurrent writers of one conversation; SQLite's
            # BEGIN IMMEDIATE already does and ignores FOR UPDATE.
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            raise rules.conversation_not_found(conversation_id)
        return row

    @staticmethod
    def _write_state(
        conversation: ConversationRow, state: DialogueState, expected_version: int | None, now: datetime
    ) -> None:
        """Compare-and-set of the state on a row locked by this transaction."""
        rules.check_version(conversation.id, conversation.version, expected_version)
        conversation.state = serde.state_to_json(state)
        conversation.status = rules.conversation_status(state)
        conversation.version = conversation.version + 1
        conversation.updated_at = now

    # ------------------------------------------------------------------ ConversationStore

    def create(self, *, lang: Lang = "zh", elder_mode: bool = False, client_id: str = "") -> Conversation:
        """Open a conversation; ``client_id`` is an anonymous browser id used to spot repeat questions."""
        rules.check_lang(lang)
        now = self.clock()
        state = DialogueState(lang=lang)
        row = ConversationRow(
            id=str(uuid.uuid4()),
            lang=lang,
            elder_mode=elder_mode,
            client_id=client_id[: rules.MAX_CLIENT_ID_CHARS],
            state=serde.state_to_json(state),
            status="open",
            version=0,
            created_at=now,
            updated_at=now,
        )
        with self._writing() as session, session.begin():
            session.add(row)
        return Conversation(id=row.id, created_at=now, lang=lang, state=state, status="open", elder_mode=elder_mode)

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with every turn, oldest first; NotFound for an unknown id."""
        with self._reading() as session, session.begin():
            row = self._conversation_row(session, conversation_id)
            messages = session.scalars(
                select(MessageRow).where(MessageRow.conversation_id == conversation_id).order_by(MessageRow.id)
            ).all()
            return Conversation(
                id=row.id,
                created_at=row.created_at,
                lang=row.lang,  # type: ignore[arg-type]
                state=serde.state_from_json(row.state),
                turns=tuple(turn_from_row(m) for m in messages),
                status=row.status,
                elder_mode=row.elder_mode,
                version=row.version,
            )

    def exists(self, conversation_id: str) -> bool:
        """Whether the conversation exists (cheap; no turns loaded)."""
        with self._reading() as session, session.begin():
            return session.scalar(select(func.count()).where(ConversationRow.id == conversation_id)) == 1

    def record_turn(
        self,
        conversation_id: str,
        user_text: str,
        result: TurnResult,
        *,
        ticket: TicketDraft | None = None,
        expected_version: int | None = None,
        original: str | None = None,
        idempotency: IdempotentWrite | None = None,
    ) -> tuple[Turn, Turn, Ticket | None]:
        """Store the user message, the answer, the new state, the handoff ticket and
        the Idempotency-Key's response in one transaction.

        StaleState (nothing written) when ``expected_version`` is given and the state changed since;
        AlreadyRecorded (nothing written) when the key already has a response.
        """
        now = self.clock()
        with self._writing() as session, session.begin():
            conversation = self._conversation_row(session, conversation_id, lock=True)
            # under the conversation's lock: two requests with one key are serialised here
            key_row = idempotency_in.open_in(session, conversation_id, idempotency) if idempotency else None
            user = MessageRow(
                conversation_id=conversation_id,
                role="user",
                text=user_text,
                intent=result.intent.label,
                action="",
                item_ids=[],
                citations=[],
                options=[],
                timings={},
                handoff_reason="",
                generator="",
                agent="",
                created_at=now,
            )
            answer = _answer_row(conversation_id, result.answer, now)
            answer.intent = result.intent.label
            answer.item_ids = [h.item_id for h in result.hits]
            answer.timings = {k: float(v) for k, v in result.timings_ms.items()}
            answer.handoff_reason = result.handoff_reason
            self._write_state(conversation, result.state, expected_version, now)
            session.add_all([user, answer])
            ticket_row = add_ticket(session, conversation_id, ticket, now) if ticket is not None else None
            session.flush()
            if original is not None and self.vault is not None:
                session.add(PiiOriginalRow(message_id=user.id, ciphertext=self.vault.encrypt(original)))
                session.flush()
            stored = (
                turn_from_row(user),
                turn_from_row(answer),
                ticket_from_row(ticket_row) if ticket_row is not None else None,
            )
            if idempotency is not None:
                idempotency_in.finish_in(session, key_row, conversation_id, idempotency, stored, now)
            return stored

    def escalate(
        self,
        conversation_id: str,
        notice: Answer,
        state: DialogueState,
        draft: TicketDraft,
        *,
        expected_version: int | None = None,
    ) -> tuple[Turn, Ticket]:
        """A handoff the system starts (not a user message): notice, state and ticket in one transaction."""
        now = self.clock()
        with self._writing() as session, session.begin():
            conversation = self._conversation_row(session, conversation_id, lock=True)
            self._write_state(conversation, state, expected_version, now)
            message = _answer_row(conversation_id, notice, now)
            message.role = "system"
            message.handoff_reason = draft.reason
            session.add(message)
            ticket_row = add_ticket(session, conversation_id, draft, now)
            session.flush()
            return turn_from_row(message), ticket_from_row(ticket_row)

    def add_message(self, conversation_id: str, role: Role, text: str, *, agent: str = "") -> Turn:
        """Append one message (agent replies, system notices); the state is untouched."""
        rules.check_message(role, text)
        now = self.clock()
        with self._writing() as session, session.begin():
            conversation = self._conversation_row(session, conversation_id, lock=True)
            row = plain_message_row(conversation_id, role, text, now, agent=agent)
            session.add(row)
            conversation.updated_at = now
            session.flush()
            return turn_from_row(row)

    def set_state(self, conversation_id: str, state: DialogueState, *, expected_version: int | None = None) -> int:
        """Replace the dialogue state (compare-and-set with ``expected_version``); the new version."""
        now = self.clock()
        with self._writing() as session, session.begin():
            conversation = self._conversation_row(session, conversation_id, lock=True)
            self._write_state(conversation, state, expected_version, now)
            return conversation.version

    def add_feedback(
        self,
        conversation_id: str,
        turn_id: int | None,
        *,
        helpful: bool | None = None,
        comment: str = "",
        rating: int | None = None,
    ) -> int:
        """Store thumbs up/down on an answer (``turn_id``) or a 1–5 rating of the conversation.

        Returns the number of thumbs down the conversation's answers now have,
        which the escalation rules use (a low rating of a finished conversation
        counts in the metrics but does not reopen a handoff by itself).
        """
        rules.check_feedback(helpful, rating)
        now = self.clock()
        with self._writing() as session, session.begin():
            self._conversation_row(session, conversation_id, lock=True)
            if turn_id is not None:
                message = session.get(MessageRow, turn_id)
                rules.check_feedback_target(
                    conversation_id,
                    turn_id,
                    message.conversation_id if message is not None else None,
                    message.role if message is not None else "",
                )
            session.add(
                FeedbackRow(
                    conversation_id=conversation_id,
                    message_id=turn_id,
                    helpful=helpful,
                    rating=rating,
                    comment=comment[: rules.MAX_COMMENT_CHARS],
                    created_at=now,
                )
            )
            session.flush()
            return negative_feedback_count(session, conversation_id)

    # ------------------------------------------------------------------ reads for the front ends

    def reveal_original(self, turn_id: int) -> str | None:
        """The decrypted typed text of user message ``turn_id``, or None when none was kept."""
        with self._reading() as session:
            row = session.get(PiiOriginalRow, turn_id)
        if row is None or self.vault is None:
            return None
        return self.vault.decrypt(row.ciphertext)

    def messages_after(self, conversation_id: str, after_id: int) -> list[Turn]:
        """Messages with an id above ``after_id`` (live updates of the chat)."""
        with self._reading() as session, session.begin():
            self._conversation_row(session, conversation_id)
            rows = session.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == conversation_id, MessageRow.id > after_id)
                .order_by(MessageRow.id)
            ).all()
            return [turn_from_row(r) for r in rows]

    def tickets_of(self, conversation_id: str) -> list[Ticket]:
        """Every ticket of a conversation, oldest first."""
        with self._reading() as session, session.begin():
            rows = session.scalars(
                select(TicketRow).where(TicketRow.conversation_id == conversation_id).order_by(TicketRow.id)
            ).all()
            return [ticket_from_row(r) for r in rows]


def negative_feedback_count(session: Session, conversation_id: str) -> int:
    """Thumbs down given to the answers of a conversation."""
    return int(
        session.scalar(
            select(func.count()).where(
                FeedbackRow.conversation_id == conversation_id,
                FeedbackRow.helpful.is_(False),
            )
        )
        or 0
    )


def plain_message_row(conversation_id: str, role: str, text: str, now: datetime, *, agent: str = "") -> MessageRow:
    """A stored message with only its text (user, agent or system notices)."""
    return MessageRow(
        conversation_id=conversation_id,
        role=role,
        text=text,
        intent="",
        action="",
        item_ids=[],
        citations=[],
        options=[],
        timings={},
        handoff_reason="",
        generator="",
        agent=agent,
        created_at=now,
    )


def _answer_row(conversation_id: str, answer: Answer, now: datetime) -> MessageRow:
    row = plain_message_row(conversation_id, "assistant", answer.text, now)
    row.action = answer.action.value
    row.citations = serde.citations_to_json(answer.citations)
    row.options = serde.options_to_json(answer.options)
    row.generator = answer.generator
    return row


__all__: Sequence[str] = ("SqlConversationStore", "turn_from_row", "ticket_from_row")
