"""The storage contract in one process: conversations, queue and reports in dicts.

For tests, demos and the evaluation runner (``XS_DATABASE__URL=memory://``);
nothing survives the process.  It applies the same rules as the SQL backends
(``assistant.db.rules``) and passes the same contract suite, so code tested on
it behaves the same on SQLite and PostgreSQL.

Thread safety: one re-entrant lock guards every table, and every method holds
it from its first read to its last write, which makes each call one atomic
transaction, like a SQL transaction holding its row locks: checks happen
before anything changes, so a refused call leaves nothing half-written.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from assistant.core.errors import InvalidInput
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    OPEN_TICKET_STATUSES,
    REPEAT_WINDOW,
    Activity,
    Answer,
    Conversation,
    ConversationRecord,
    DialogueState,
    FeedbackRecord,
    IdempotentWrite,
    Lang,
    Role,
    Ticket,
    TicketDraft,
    TicketEvent,
    Turn,
    TurnResult,
)
from assistant.db import rules, serde
from assistant.db.vault import OriginalsVault, make_vault
from assistant.db.idempotency import MemoryIdempotencyStore
from assistant.db.accounts import MemoryAccountStore, MemoryAuditLog, MemoryConversationTokens, MemorySessionStore


@dataclass
class _ConversationRow:
    id: str
    lang: Lang
    elder_mode: bool
    client_id: str
    state: DialogueState
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    message_ids: list[int] = field(default_factory=list)
    ticket_ids: list[int] = field(default_factory=list)


class _Tables:
    """The shared tables and their lock (one per opened storage)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self.conversations: dict[str, _ConversationRow] = {}
        self.messages: dict[int, Turn] = {}
        self.feedback: list[FeedbackRecord] = []
        self.tickets: dict[int, Ticket] = {}
        self.events: list[TicketEvent] = []
        #: message id -> Fernet ciphertext of the typed original.
        self.originals: dict[int, str] = {}
        self._message_ids = itertools.count(1)
        self._ticket_ids = itertools.count(1)
        self._event_ids = itertools.count(1)

    def now(self) -> datetime:
        """The clock's time in UTC; a naive time is refused as the SQL column refuses it."""
        value = self._clock()
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def conversation(self, conversation_id: str) -> _ConversationRow:
        row = self.conversations.get(conversation_id)
        if row is None:
            raise rules.conversation_not_found(conversation_id)
        return row

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise rules.ticket_not_found(ticket_id)
        return ticket

    def open_ticket_id(self, conversation_id: str) -> int | None:
        row = self.conversations.get(conversation_id)
        ids = row.ticket_ids if row is not None else []
        return next((i for i in ids if self.tickets[i].status in OPEN_TICKET_STATUSES), None)

    def add_message(self, conversation_id: str, role: str, text: str, now: datetime, **fields: object) -> Turn:
        turn = Turn(
            id=next(self._message_ids),
            conversation_id=conversation_id,
            role=role,  # type: ignore[arg-type]
            text=text,
            created_at=now,
            **fields,  # type: ignore[arg-type]
        )
        self.messages[turn.id] = turn
        self.conversations[conversation_id].message_ids.append(turn.id)
        return turn

    def add_ticket(self, conversation_id: str, draft: TicketDraft, now: datetime) -> Ticket:
        """Insert a new ticket and its ``created`` event (the caller checked the one-open rule)."""
        ticket = Ticket(
            id=next(self._ticket_ids),
            conversation_id=conversation_id,
            status="new",
            reason=draft.reason,
            department=draft.department,
            summary=draft.summary,
            created_at=now,
            item_ids=tuple(draft.item_ids),
            priority=draft.priority,
            callback=draft.callback,
            queued_at=now,
        )
        self.tickets[ticket.id] = ticket
        self.conversations[conversation_id].ticket_ids.append(ticket.id)
        self.event(ticket.id, "created", "", draft.reason, now)
        return ticket

    def event(self, ticket_id: int, kind: str, agent: str, detail: str, now: datetime) -> None:
        self.events.append(TicketEvent(next(self._event_ids), ticket_id, kind, agent, detail, now))

    @staticmethod
    def write_state(row: _ConversationRow, state: DialogueState, now: datetime) -> None:
        # Through JSON, as the SQL column stores it: a value it could not store fails here too.
        row.state = serde.state_from_json(serde.state_to_json(state))
        row.status = rules.conversation_status(state)
        row.version += 1
        row.updated_at = now


def _answer_fields(answer: Answer) -> dict[str, object]:
    return {"action": answer.action.value, "citations": answer.citations, "options": answer.options}


class MemoryConversationStore:
    """The ConversationStore in this process."""

    def __init__(
        self, tables: _Tables, *, vault: OriginalsVault | None = None, keys: MemoryIdempotencyStore | None = None
    ) -> None:
        self._t = tables
        #: encrypts the typed originals of masked messages; None: originals are not kept.
        self.vault = vault
        #: the idempotency keys a turn completes under the tables' lock (the SQL stores: in its transaction).
        self._keys = keys

    def create(self, *, lang: Lang = "zh", elder_mode: bool = False, client_id: str = "") -> Conversation:
        """Open a conversation; ``client_id`` is an anonymous browser id used to spot repeat questions."""
        rules.check_lang(lang)
        with self._t.lock:
            now = self._t.now()
            row = _ConversationRow(
                id=str(uuid.uuid4()),
                lang=lang,
                elder_mode=elder_mode,
                client_id=client_id[: rules.MAX_CLIENT_ID_CHARS],
                state=DialogueState(lang=lang),
                status="open",
                version=0,
                created_at=now,
                updated_at=now,
            )
            self._t.conversations[row.id] = row
            return self._conversation(row)

    def _conversation(self, row: _ConversationRow) -> Conversation:
        return Conversation(
            id=row.id,
            created_at=row.created_at,
            lang=row.lang,
            state=row.state,
            turns=tuple(self._t.messages[i] for i in row.message_ids),
            status=row.status,
            elder_mode=row.elder_mode,
            version=row.version,
        )

    def get(self, conversation_id: str) -> Conversation:
        """The conversation with every turn, oldest first; NotFound for an unknown id."""
        with self._t.lock:
            return self._conversation(self._t.conversation(conversation_id))

    def exists(self, conversation_id: str) -> bool:
        """Whether the conversation exists."""
        with self._t.lock:
            return conversation_id in self._t.conversations

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
        """Store the user message, the answer, the new state, the handoff ticket and the
        Idempotency-Key's response at once (AlreadyRecorded, nothing written, if the key has one)."""
        if idempotency is not None and self._keys is None:
            raise ValueError("this MemoryConversationStore was built without its idempotency keys (open_memory)")
        with self._t.lock:
            row = self._t.conversation(conversation_id)
            rules.check_version(conversation_id, row.version, expected_version)
            if idempotency is not None:
                self._keys.open_for(conversation_id, idempotency)  # type: ignore[union-attr]
            if ticket is not None:
                rules.one_open_ticket(conversation_id, self._t.open_ticket_id(conversation_id))
            now = self._t.now()
            self._t.write_state(row, result.state, now)
            user = self._t.add_message(conversation_id, "user", user_text, now, intent=result.intent.label)
            answer = self._t.add_message(
                conversation_id,
                "assistant",
                result.answer.text,
                now,
                intent=result.intent.label,
                item_ids=tuple(h.item_id for h in result.hits),
                **_answer_fields(result.answer),
            )
            made = self._t.add_ticket(conversation_id, ticket, now) if ticket is not None else None
            if original is not None and self.vault is not None:
                # encrypted here too: the in-memory backend behaves as the SQL ones do
                self._t.originals[user.id] = self.vault.encrypt(original)
            if idempotency is not None:
                self._keys.finish(conversation_id, idempotency, idempotency.render(user, answer, made))  # type: ignore[union-attr]
            return user, answer, made

    def reveal_original(self, turn_id: int) -> str | None:
        """The decrypted typed text of user message ``turn_id``, or None when none was kept."""
        with self._t.lock:
            token = self._t.originals.get(turn_id)
        if token is None or self.vault is None:
            return None
        return self.vault.decrypt(token)

    def escalate(
        self,
        conversation_id: str,
        notice: Answer,
        state: DialogueState,
        draft: TicketDraft,
        *,
        expected_version: int | None = None,
    ) -> tuple[Turn, Ticket]:
        """A handoff the system starts: notice, state and ticket at once."""
        with self._t.lock:
            row = self._t.conversation(conversation_id)
            rules.check_version(conversation_id, row.version, expected_version)
            rules.one_open_ticket(conversation_id, self._t.open_ticket_id(conversation_id))
            now = self._t.now()
            self._t.write_state(row, state, now)
            message = self._t.add_message(conversation_id, "system", notice.text, now, **_answer_fields(notice))
            return message, self._t.add_ticket(conversation_id, draft, now)

    def add_message(self, conversation_id: str, role: Role, text: str, *, agent: str = "") -> Turn:
        """Append one message (agent replies, system notices); the state is untouched."""
        rules.check_message(role, text)
        with self._t.lock:
            row = self._t.conversation(conversation_id)
            now = self._t.now()
            row.updated_at = now
            return self._t.add_message(conversation_id, role, text, now)

    def set_state(self, conversation_id: str, state: DialogueState, *, expected_version: int | None = None) -> int:
        """Replace the dialogue state (compare-and-set with ``expected_version``); the new version."""
        with self._t.lock:
            row = self._t.conversation(conversation_id)
            rules.check_version(conversation_id, row.version, expected_version)
            self._t.write_state(row, state, self._t.now())
            return row.version

    def add_feedback(
        self,
        conversation_id: str,
        turn_id: int | None,
        *,
        helpful: bool | None = None,
        comment: str = "",
        rating: int | None = None,
    ) -> int:
        """Store thumbs up/down or a 1-5 rating; the conversation's thumbs-down count."""
        rules.check_feedback(helpful, rating)
        with self._t.lock:
            self._t.conversation(conversation_id)
            if turn_id is not None:
                message = self._t.messages.get(turn_id)
                rules.check_feedback_target(
                    conversation_id,
                    turn_id,
                    message.conversation_id if message is not None else None,
                    message.role if message is not None else "",
                )
            self._t.feedback.append(
                FeedbackRecord(
                    len(self._t.feedback) + 1, conversation_id, turn_id, helpful, rating,
                    comment[: rules.MAX_COMMENT_CHARS], self._t.now(),
                )
            )
            return sum(1 for f in self._t.feedback if f.conversation_id == conversation_id and f.helpful is False)

    def messages_after(self, conversation_id: str, after_id: int) -> list[Turn]:
        """Messages with an id above ``after_id`` (live updates of the chat)."""
        with self._t.lock:
            row = self._t.conversation(conversation_id)
            return [self._t.messages[i] for i in row.message_ids if i > after_id]

    def tickets_of(self, conversation_id: str) -> list[Ticket]:
        """Every ticket of a conversation, oldest first (none for an unknown id)."""
        with self._t.lock:
            row = self._t.conversations.get(conversation_id)
            return [self._t.tickets[i] for i in row.ticket_ids] if row is not None else []


class MemoryHandoffQueue:
    """The HandoffQueue in this process, with leased atomic claims."""

    def __init__(self, tables: _Tables, *, lease_s: int) -> None:
        if lease_s <= 0:
            raise InvalidInput(f"claim lease {lease_s}s must be positive")
        self._t = tables
        self.lease = timedelta(seconds=lease_s)

    def _save(self, ticket: Ticket) -> Ticket:
        self._t.tickets[ticket.id] = ticket
        return ticket

    def _held(self, ticket_id: int, agent: str, now: datetime, doing: str) -> Ticket:
        t = self._t.ticket(ticket_id)
        rules.check_holder(t.id, t.status, t.agent, t.lease_until, agent, now, doing)
        return t

    def _set_handed_off(self, conversation_id: str, handed_off: bool, now: datetime) -> None:
        row = self._t.conversations[conversation_id]
        self._t.write_state(row, rules.handed_over(row.state, handed_off), now)

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
        draft = TicketDraft(reason, department, summary, tuple(item_ids), priority, callback)
        with self._t.lock:
            self._t.conversation(conversation_id)
            rules.one_open_ticket(conversation_id, self._t.open_ticket_id(conversation_id))
            return self._t.add_ticket(conversation_id, draft, self._t.now())

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Claim a ticket for ``agent``: exactly one of many concurrent claimers wins."""
        agent = rules.agent_name(agent)
        with self._t.lock:
            now = self._t.now()
            t = self._t.ticket(ticket_id)
            if not rules.claimable(t.status, t.agent, t.lease_until, agent, now):
                raise rules.claim_lost(ticket_id, t.status, t.agent, t.lease_until)
            self._t.event(ticket_id, "claimed", agent, rules.claim_detail(t.status, t.agent, agent), now)
            status = "claimed" if t.status == "new" else t.status
            return self._save(replace(t, status=status, agent=agent, lease_until=now + self.lease))  # type: ignore[arg-type]

    def reply(self, ticket_id: int, agent: str, text: str) -> Turn:
        """The claiming agent writes to the citizen: message, first response time and lease together."""
        agent = rules.agent_name(agent)
        if not text.strip():
            raise InvalidInput("reply text is empty; write the answer to send")
        with self._t.lock:
            now = self._t.now()
            t = self._held(ticket_id, agent, now, "reply")
            message = self._t.add_message(t.conversation_id, "agent", text.strip(), now)
            self._save(
                replace(t, status="answered", first_response_at=t.first_response_at or now, lease_until=now + self.lease)
            )
            self._t.event(ticket_id, "replied", agent, "", now)
            self._t.conversations[t.conversation_id].updated_at = now
            return message

    def release(self, ticket_id: int, agent: str) -> Ticket:
        """Give a claimed ticket back to the queue."""
        agent = rules.agent_name(agent)
        with self._t.lock:
            now = self._t.now()
            t = self._held(ticket_id, agent, now, "release it")
            self._t.event(ticket_id, "released", agent, "", now)
            status = "new" if t.status == "claimed" else t.status
            return self._save(replace(t, agent="", lease_until=None, status=status))  # type: ignore[arg-type]

    def transfer(self, ticket_id: int, agent: str, department: str, *, note: str = "") -> Ticket:
        """Send the ticket to another department's queue; its wait restarts there."""
        agent = rules.agent_name(agent)
        if not department.strip():
            raise InvalidInput("department is empty; name the department to transfer to")
        with self._t.lock:
            now = self._t.now()
            t = self._held(ticket_id, agent, now, "transfer it")
            department = rules.check_department(ticket_id, t.department, department)
            detail = f"{t.department} -> {department}" + (f": {note}" if note else "")
            self._t.event(ticket_id, "transferred", agent, detail, now)
            return self._save(
                replace(t, department=department, status="new", agent="", lease_until=None, queued_at=now)
            )

    def resolve(self, ticket_id: int, agent: str, *, resolution: str, notice: str = "") -> Ticket:
        """Finish a ticket with a resolution code and give the conversation back to the bot."""
        rules.check_resolution(resolution)
        agent = rules.agent_name(agent)
        with self._t.lock:
            now = self._t.now()
            t = self._held(ticket_id, agent, now, "resolve it")
            status = rules.RESOLUTIONS[resolution]
            done = self._save(replace(t, status=status, resolution=resolution, resolved_at=now, lease_until=None))
            self._t.event(ticket_id, status, agent, resolution, now)
            self._set_handed_off(t.conversation_id, False, now)
            if notice:
                self._t.add_message(t.conversation_id, "system", notice, now)
            return done

    def reopen(self, ticket_id: int, agent: str = "", *, note: str = "") -> Ticket:
        """Put a resolved or closed ticket back in the queue; the bot goes silent again."""
        with self._t.lock:
            now = self._t.now()
            t = self._t.ticket(ticket_id)
            rules.check_reopenable(ticket_id, t.status, self._t.open_ticket_id(t.conversation_id))
            reopened = self._save(
                replace(t, status="new", agent="", lease_until=None, resolved_at=None, resolution="", queued_at=now)
            )
            self._t.event(ticket_id, "reopened", agent, note, now)
            self._set_handed_off(t.conversation_id, True, now)
            return reopened

    def get(self, ticket_id: int) -> Ticket:
        """The ticket; NotFound for an unknown id."""
        with self._t.lock:
            return self._t.ticket(ticket_id)

    def list(self, *, status: str | None = None) -> list[Ticket]:
        """Tickets, oldest first, optionally of one status."""
        rules.check_status(status)
        with self._t.lock:
            return [t for _, t in sorted(self._t.tickets.items()) if status is None or t.status == status]

    def open_tickets(self) -> list[Ticket]:
        """Tickets a person still owns (new, claimed, answered), oldest first."""
        with self._t.lock:
            return [t for _, t in sorted(self._t.tickets.items()) if t.status in OPEN_TICKET_STATUSES]

    def events(self, ticket_id: int) -> list[TicketEvent]:
        """The ticket's history, oldest first."""
        with self._t.lock:
            self._t.ticket(ticket_id)
            return [e for e in self._t.events if e.ticket_id == ticket_id]


class MemoryServiceLevelReports:
    """The ServiceLevelReports over the in-memory tables."""

    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def conversation_meta(self, ids: Sequence[str]) -> dict[str, tuple[bool, Lang]]:
        """``{conversation id: (elder_mode, lang)}`` for the given ids."""
        with self._t.lock:
            rows = (self._t.conversations.get(i) for i in set(ids))
            return {r.id: (r.elder_mode, r.lang) for r in rows if r is not None}

    def recent_first_response_waits(self, limit: int) -> list[float]:
        """Seconds from handoff to first human reply, for the ``limit`` latest answered tickets."""
        with self._t.lock:
            answered = [t for t in self._t.tickets.values() if t.first_response_at is not None and not t.callback]
        answered.sort(key=lambda t: t.first_response_at, reverse=True)  # type: ignore[arg-type, return-value]
        return [(t.first_response_at - t.created_at).total_seconds() for t in answered[:limit]]  # type: ignore[operator]

    def records(self, since: datetime, until: datetime) -> tuple[list[ConversationRecord], list[Ticket]]:
        """Conversations and tickets created in ``[since, until)`` as service-level records."""
        horizon = until + REPEAT_WINDOW
        with self._t.lock:
            rows = [c for c in self._t.conversations.values() if since <= c.created_at < horizon]
            records = [
                rules.conversation_record(
                    c.id,
                    c.created_at,
                    c.client_id,
                    [self._t.messages[i] for i in c.message_ids],
                    [f for f in self._t.feedback if f.conversation_id == c.id],
                    c.ticket_ids,
                    in_window=since <= c.created_at < until,
                )
                for c in rows
            ]
            tickets = [t for _, t in sorted(self._t.tickets.items()) if since <= t.created_at < until]
        return records, tickets

    def activity(self, since: datetime, until: datetime) -> Activity:
        """The messages, feedback and tickets of the conversations created in ``[since, until)``."""
        with self._t.lock:
            rows = sorted(
                (c for c in self._t.conversations.values() if since <= c.created_at < until),
                key=lambda c: c.created_at,
            )
            ids = {c.id for c in rows}
            turns = sorted((self._t.messages[i] for c in rows for i in c.message_ids), key=lambda t: t.id)
            feedback = [f for f in self._t.feedback if f.conversation_id in ids]
            tickets = [t for _, t in sorted(self._t.tickets.items()) if t.conversation_id in ids]
            meta = {c.id: (c.created_at, c.lang, c.elder_mode) for c in rows}
        return Activity(meta, tuple(turns), tuple(feedback), tuple(tickets))


@dataclass(frozen=True)
class MemoryStorage:
    """The in-process Storage: store, queue and reports over one set of tables."""

    conversations: MemoryConversationStore
    queue: MemoryHandoffQueue
    reports: MemoryServiceLevelReports
    idempotency: MemoryIdempotencyStore
    clock: Callable[[], datetime]
    accounts: MemoryAccountStore
    sessions: MemorySessionStore
    audit: MemoryAuditLog
    conversation_tokens: MemoryConversationTokens

    def ping(self) -> None:
        """Always ready: the tables are in this process."""

    def dispose(self) -> None:
        """Nothing to release (the tables go with the object)."""


def open_memory(
    *, helpdesk: HelpdeskSettings, clock: Callable[[], datetime], privacy_key: str = ""
) -> MemoryStorage:
    """A fresh, empty in-memory storage on ``clock``; ``privacy_key`` as in ``open_database``."""
    tables = _Tables(clock)
    keys = MemoryIdempotencyStore(clock)
    conversations = MemoryConversationStore(tables, vault=make_vault(privacy_key), keys=keys)
    accounts = MemoryAccountStore(clock)
    return MemoryStorage(
        conversations=conversations,
        queue=MemoryHandoffQueue(tables, lease_s=helpdesk.claim_lease_s),
        reports=MemoryServiceLevelReports(tables),
        idempotency=keys,
        clock=clock,
        accounts=accounts,
        sessions=MemorySessionStore(clock, accounts),
        audit=MemoryAuditLog(clock),
        conversation_tokens=MemoryConversationTokens(conversations.exists),
    )


__all__ = [
    "MemoryConversationStore",
    "MemoryHandoffQueue",
    "MemoryServiceLevelReports",
    "MemoryStorage",
    "open_memory",
]
