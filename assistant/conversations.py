"""The assistant as one object: dialogue plus persistence plus handoff.

``Assistant.handle`` is the single path every front end uses (API, web chat,
CLI ``ask``, the evaluation runner), so what evaluators measure is what
citizens get.

A turn reads the conversation, decides outside any transaction (the dialogue
may take seconds), then writes with ``expected_version`` set to the version
it read.  When another writer changed the state meanwhile (an agent resolved
the ticket, another message of the same conversation), the store refuses the
write (StaleState) and the turn is decided again from the fresh state, so
neither writer's effect is lost.

Personal numbers (resident IDs, mobiles, cards… :mod:`assistant.core.pii`) are
masked as soon as a message is cleaned: the dialogue, its logs, the helpdesk
rules, the ticket summary, the store and every export see the masked text
only.  When the store keeps encrypted originals (``XS_PRIVACY__KEY``) it is
handed the typed text as well, and encrypts it in the same transaction.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from assistant.core.errors import InvalidInput, StaleState
from assistant.core.pii import mask
from assistant.core.types import (
    GENERAL_DEPARTMENT,
    Action,
    Answer,
    Conversation,
    ConversationStore,
    DialogueState,
    IdempotentWrite,
    IntentPrediction,
    Lang,
    ServiceItem,
    Ticket,
    Turn,
    TicketDraft,
    TurnResult,
)

if TYPE_CHECKING:
    from assistant.dialogue.engine import DialogueEngine

#: times a turn is decided at most when other writers keep changing the
#: conversation's state under it; the last loss surfaces as StaleState (HTTP 409).
STATE_ATTEMPTS = 5

#: Text shown while a person, not the bot, owns the conversation.
_WAITING = {
    "zh": "您的消息已转给人工客服，客服回复后会显示在这里，请稍候。",
    "en": "Your message has been passed to a staff member; their reply will appear here.",
}


_ASK_PERSON = {"zh": "转人工", "en": "I want to talk to a person"}
_HANDED_OFF = {
    "zh": "已为您转接人工客服，请稍候，客服会在这里回复您。",
    "en": "You are being connected to a staff member; they will reply here shortly.",
}


def _visible(text: str) -> str:
    """``text`` without control, format and unassigned characters (newlines and tabs kept), trimmed."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


class Escalation(Protocol):
    """Helpdesk rules around the dialogue (``assistant.helpdesk.EscalationRules``).

    ``review`` may turn a bot answer into a handoff (sensitive topic, repeated
    failure); ``route`` may adjust a handoff's ticket and notice (outside
    working hours: a call-back ticket and a notice saying so).
    """

    def review(self, message: str, result: TurnResult, conversation: Conversation) -> TurnResult: ...

    def route(
        self, draft: TicketDraft, result: TurnResult, conversation: Conversation
    ) -> tuple[TicketDraft, TurnResult]: ...


@dataclass(frozen=True)
class IdempotentRequest:
    """A message post's ``Idempotency-Key``: its response is stored with the turn, in one transaction.

    ``render`` makes the response body (JSON) from the stored exchange; the
    store calls it inside the transaction, so it must not read the database.
    When the key already has a stored turn, the store writes nothing and
    :class:`assistant.core.errors.AlreadyRecorded` carries the stored response.
    """

    key: str
    #: sha256 of the message as sent.
    fingerprint: str
    render: Callable[[Exchange], str]


@dataclass(frozen=True)
class Exchange:
    """One handled message: the dialogue result and the two stored messages."""

    conversation_id: str
    result: TurnResult
    user_turn: Turn
    assistant_turn: Turn
    ticket: Ticket | None = None


class Assistant:
    """Runs a user message through the dialogue stages and stores the outcome.

    Built by :func:`assistant.wiring.build_assistant`; cheap to call, holds no
    per-request state (the dialogue state lives in the ConversationStore).
    """

    def __init__(
        self,
        *,
        dialogue: DialogueEngine,
        store: ConversationStore,
        items: Mapping[str, ServiceItem],
        max_message_chars: int = 2000,
        escalation: Escalation | None = None,
    ) -> None:
        self.dialogue = dialogue
        self.escalation = escalation
        self.store = store
        self.items = dict(items)
        self.max_message_chars = max_message_chars

    # ------------------------------------------------------------------ conversations

    def start(self, *, lang: Lang = "zh", elder_mode: bool = False) -> Conversation:
        """Open a new conversation."""
        return self.store.create(lang=lang, elder_mode=elder_mode)

    def clean_message(self, text: str) -> str:
        """Validate and normalise a user message; raises InvalidInput with the fix."""
        if not isinstance(text, str):
            raise InvalidInput("message must be a string")
        cleaned = _visible(text)
        if not cleaned:
            raise InvalidInput("message is empty; type a question, e.g. 居住证怎么办理")
        if len(cleaned) > self.max_message_chars:
            raise InvalidInput(
                f"message has {len(cleaned)} characters; the limit is {self.max_message_chars}, "
                "shorten it or split it into several messages"
            )
        return cleaned

    def handle(self, conversation_id: str, text: str, *, idempotency: IdempotentRequest | None = None) -> Exchange:
        """Answer one message of a conversation and store both sides atomically.

        Raises InvalidInput for an unusable message and NotFound for an unknown
        conversation, before anything is written.  With ``idempotency`` the
        key's response is stored in the turn's transaction (AlreadyRecorded,
        nothing written, when the key already has a stored turn).
        """
        started = time.perf_counter()
        typed = self.clean_message(text)
        message = mask(typed)
        return self._decide_and_record(
            conversation_id, message, started, lambda c: self._turn(message, c), original=typed, idempotency=idempotency
        )

    def _turn(self, message: str, conversation: Conversation) -> TurnResult:
        if conversation.state.handed_off:
            # A person owns the conversation: the bot stays silent and only stores it.
            return self._waiting_result(conversation.state)
        return self.dialogue.turn(message, conversation.state, conversation.turns)

    def _decide_and_record(
        self,
        conversation_id: str,
        message: str,
        started: float,
        decide: Callable[[Conversation], TurnResult],
        *,
        first: tuple[Conversation, TurnResult] | None = None,
        original: str = "",
        idempotency: IdempotentRequest | None = None,
    ) -> Exchange:
        """Decide from the stored conversation and write with its version; on StaleState decide again.

        ``first`` is an attempt already decided (the streamed one).
        """
        for attempt in range(1, STATE_ATTEMPTS + 1):
            if first is not None:
                (conversation, result), first = first, None
            else:
                conversation = self.store.get(conversation_id)
                result = decide(conversation)
            try:
                return self._record(conversation, message, result, started, original=original, idempotency=idempotency)
            except StaleState:
                if attempt == STATE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def handle_stream(
        self, conversation_id: str, text: str, *, idempotency: IdempotentRequest | None = None
    ) -> Iterator[str | Exchange]:
        """Like :meth:`handle`, but yields the answer text in pieces as the
        generator writes it, then the stored Exchange last.

        Validation happens on the first ``next()``, before anything is yielded
        or written.  The turn is stored only once the whole answer exists, so a
        client that leaves mid-stream leaves nothing half-written.  The final
        Exchange is authoritative: the helpdesk rules may still turn the
        streamed answer into a handoff, and when the state changed while the
        answer streamed the turn is decided again from the fresh state.
        """
        started = time.perf_counter()
        typed = self.clean_message(text)
        message = mask(typed)
        conversation = self.store.get(conversation_id)
        result: TurnResult | None = None
        if conversation.state.handed_off:
            result = self._waiting_result(conversation.state)
            yield result.answer.text
        else:
            for part in self.dialogue.turn_stream(message, conversation.state, conversation.turns):
                if isinstance(part, str):
                    yield part
                else:
                    result = part
        assert result is not None  # turn_stream always ends with its TurnResult
        yield self._decide_and_record(
            conversation_id,
            message,
            started,
            lambda c: self._turn(message, c),
            first=(conversation, result),
            original=typed,
            idempotency=idempotency,
        )

    def _record(
        self,
        conversation: Conversation,
        message: str,
        result: TurnResult,
        started: float,
        *,
        original: str = "",
        idempotency: IdempotentRequest | None = None,
    ) -> Exchange:
        """Apply the helpdesk rules, then store messages, state and ticket in one transaction."""
        handed_off = conversation.state.handed_off
        if not handed_off and self.escalation is not None:
            result = self.escalation.review(message, result, conversation)
        timings = dict(result.timings_ms)
        timings["total"] = (time.perf_counter() - started) * 1000.0
        result = replace(result, timings_ms=timings)
        draft = None
        if result.answer.action is Action.HANDOFF and not handed_off:
            draft = self.ticket_draft(message, result, conversation)
            if self.escalation is not None:
                draft, result = self.escalation.route(draft, result, conversation)
        write = None
        if idempotency is not None:
            final, render = result, idempotency.render
            write = IdempotentWrite(
                idempotency.key,
                idempotency.fingerprint,
                lambda user, answer, made: render(Exchange(conversation.id, final, user, answer, made)),
            )
        user_turn, assistant_turn, ticket = self.store.record_turn(
            conversation.id,
            message,
            result,
            ticket=draft,
            expected_version=conversation.version,
            # only a message that was masked has an original worth keeping
            original=original if original and original != message else None,
            idempotency=write,
        )
        return Exchange(conversation.id, result, user_turn, assistant_turn, ticket)

    def request_human(self, conversation_id: str, note: str = "") -> Exchange:
        """The citizen pressed "talk to a person": hand off at once, whatever the text."""
        started = time.perf_counter()
        lang = self.store.get(conversation_id).state.lang
        # a note of only spaces or invisible characters is no note: the button still asks for a person
        typed = self.clean_message(note) if _visible(note) else _ASK_PERSON[lang]
        message = mask(typed)

        def decide(conversation: Conversation) -> TurnResult:
            if conversation.state.handed_off:
                return self._turn(message, conversation)
            return TurnResult(
                answer=Answer(text=_HANDED_OFF[lang], action=Action.HANDOFF, lang=lang, generator="helpdesk"),
                intent=IntentPrediction(label="request_human", confidence=1.0),
                hits=(),
                state=replace(conversation.state, handed_off=True),
                handoff_reason="customer_request",
            )

        return self._decide_and_record(conversation_id, message, started, decide, original=typed)

    def ticket_draft(self, message: str, result: TurnResult, conversation: Conversation) -> TicketDraft:
        """What the helpdesk needs: reason, department routed from the item, a summary."""
        # "转人工" names no service: what retrieval found for those words is noise,
        # and would route the ticket to a random department.
        bare_request = result.intent.label == "request_human"
        candidates = [] if bare_request else [h.item_id for h in result.hits[:3] if h.item_id in self.items]
        # A clarifying question still open names the items the citizen was asking about.
        pending = [o.item_id for o in conversation.state.pending_options if o.item_id in self.items]
        candidates = candidates or pending
        current = (
            result.state.current_item
            or conversation.state.current_item
            or (candidates[0] if candidates else "")
        )
        item = self.items.get(current)
        department = item.department if item else GENERAL_DEPARTMENT
        # masked again: turns stored before masking existed may still hold raw numbers
        asked = [mask(t.text) for t in conversation.turns if t.role == "user"][-3:] + [mask(message)]
        lines = [
            f"诉求：{' / '.join(asked)}",
            f"原因：{result.handoff_reason or 'customer_request'}",
            "候选事项：" + ("、".join(f"{self.items[c].name}({c})" for c in candidates) or "无"),
        ]
        if result.state.slots:
            lines.append("已知情形：" + "、".join(f"{k}={v}" for k, v in result.state.slots.items()))
        return TicketDraft(
            reason=result.handoff_reason or "customer_request",
            department=department,
            summary="\n".join(lines),
            item_ids=tuple(candidates),
            priority=1 if conversation.elder_mode else 0,
        )

    def ask(self, text: str, *, lang: Lang = "zh") -> Exchange:
        """One question in a fresh conversation (CLI ``ask``, quick checks)."""
        conversation = self.start(lang=lang)
        return self.handle(conversation.id, text)

    def _waiting_result(self, state: DialogueState) -> TurnResult:
        answer = Answer(text=_WAITING[state.lang], action=Action.HANDOFF, lang=state.lang, generator="helpdesk")
        return TurnResult(
            answer=answer,
            intent=IntentPrediction(label="request_human", confidence=1.0),
            hits=(),
            state=state,
            handoff_reason="",
        )

