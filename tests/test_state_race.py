"""A citizen's message racing an agent's resolve keeps both effects, on every backend.

The turn reads the conversation, decides, and writes with the version it read;
the resolve flips ``handed_off`` under the row lock and bumps the version.
Without the compare-and-set the turn's write (decided while a person still
owned the conversation) would put ``handed_off`` back and strand the citizen
with a silent bot and no open ticket.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.conversations import STATE_ATTEMPTS, Assistant
from assistant.core.errors import StaleState
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    OPEN_TICKET_STATUSES,
    Action,
    Answer,
    Conversation,
    DialogueState,
    IntentPrediction,
    Storage,
    TicketDraft,
    TurnResult,
)
from assistant.db import open_storage
from tests.fakes import tiny_items
from tests.storage_backends import BACKENDS, backend_url

ITERATIONS = 40
QUESTION = "请问还在吗"


class EchoDialogue:
    """The bot's side: answers every message and notes it in the state."""

    def turn(self, text: str, state: DialogueState, history) -> TurnResult:  # type: ignore[no-untyped-def]
        return TurnResult(
            answer=Answer(text="小申回答：" + text, action=Action.ANSWER, lang=state.lang),
            intent=IntentPrediction(label="consult.overview", confidence=0.9),
            hits=(),
            state=replace(state, slots={**state.slots, "answered": text}),
        )


class JitteryStore:
    """The real store, with a pause after each read so that writers interleave more often."""

    def __init__(self, store, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
        self._store, self._rng, self.reads = store, rng, 0
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> Conversation:
        conversation = self._store.get(conversation_id)
        with self._lock:
            self.reads += 1
            pause = self._rng.random() * 0.004
        threading.Event().wait(pause)
        return conversation

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path):
    s = open_storage(backend_url(request, request.param, tmp_path), helpdesk=HelpdeskSettings())
    yield s
    s.dispose()


def handed_off_with_claim(storage: Storage) -> tuple[str, int]:
    """A conversation a person owns: handed off, its ticket claimed by 王."""
    c = storage.conversations.create()
    result = TurnResult(
        answer=Answer(text="转人工", action=Action.HANDOFF),
        intent=IntentPrediction(label="request_human", confidence=1.0),
        hits=(),
        state=DialogueState(handed_off=True),
        handoff_reason="customer_request",
    )
    draft = TicketDraft(reason="customer_request", department="上海市公安局", summary="诉求")
    _, _, ticket = storage.conversations.record_turn(c.id, "转人工", result, ticket=draft)
    assert ticket is not None
    storage.queue.claim(ticket.id, "王")
    return c.id, ticket.id


def assert_both_effects_kept(storage: Storage, conversation_id: str, ticket_id: int) -> None:
    conversation = storage.conversations.get(conversation_id)
    ticket = storage.queue.get(ticket_id)
    # The resolve's effect: the ticket is finished and the bot owns the conversation again.
    assert ticket.status == "resolved"
    assert not conversation.state.handed_off and conversation.status == "open"
    open_tickets = [t for t in storage.conversations.tickets_of(conversation_id) if t.status in OPEN_TICKET_STATUSES]
    assert conversation.state.handed_off == bool(open_tickets)
    # The citizen's effect: the message is stored once, with one reply after it.
    users = [t for t in conversation.turns if t.role == "user" and t.text == QUESTION]
    assert len(users) == 1
    after = conversation.turns[conversation.turns.index(users[0]) + 1]
    assert after.role == "assistant"
    if after.text.startswith("小申回答"):  # decided after the resolve: the bot answered and noted it
        assert conversation.state.slots.get("answered") == QUESTION


def test_a_resolve_between_read_and_write_makes_the_turn_decide_again(storage: Storage) -> None:
    """Deterministic interleaving: the resolve lands right after the turn read the state."""
    conversation_id, ticket_id = handed_off_with_claim(storage)
    real = storage.conversations

    class ResolveAfterFirstRead:
        reads = 0

        def get(self, cid: str) -> Conversation:
            conversation = real.get(cid)
            ResolveAfterFirstRead.reads += 1
            if ResolveAfterFirstRead.reads == 1:
                storage.queue.resolve(ticket_id, "王", resolution="answered")
            return conversation

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    assistant = Assistant(dialogue=EchoDialogue(), store=ResolveAfterFirstRead(), items={i.id: i for i in tiny_items()})  # type: ignore[arg-type]
    exchange = assistant.handle(conversation_id, QUESTION)
    assert ResolveAfterFirstRead.reads == 2  # the stale first decision was thrown away
    assert exchange.assistant_turn.text == "小申回答：" + QUESTION  # decided on the fresh, bot-owned state
    assert_both_effects_kept(storage, conversation_id, ticket_id)


def test_a_turn_that_keeps_losing_gives_up_with_stale_state(storage: Storage) -> None:
    conversation_id, _ = handed_off_with_claim(storage)
    real = storage.conversations

    class AlwaysChanged:
        def get(self, cid: str) -> Conversation:
            conversation = real.get(cid)
            real.set_state(cid, conversation.state)  # another writer, every time
            return conversation

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    assistant = Assistant(dialogue=EchoDialogue(), store=AlwaysChanged(), items={})  # type: ignore[arg-type]
    before = real.get(conversation_id).turns
    with pytest.raises(StaleState):
        assistant.handle(conversation_id, QUESTION)
    assert real.get(conversation_id).turns == before
    assert real.get(conversation_id).version >= STATE_ATTEMPTS


def test_citizen_message_racing_an_agent_resolve_loses_nothing(storage: Storage) -> None:
    rng = random.Random(12)
    store = JitteryStore(storage.conversations, rng)
    assistant = Assistant(dialogue=EchoDialogue(), store=store, items={i.id: i for i in tiny_items()})  # type: ignore[arg-type]
    retried = 0
    for _ in range(ITERATIONS):
        conversation_id, ticket_id = handed_off_with_claim(storage)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []
        reads_before = store.reads

        def citizen() -> None:
            barrier.wait()
            try:
                assistant.handle(conversation_id, QUESTION)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def agent() -> None:
            barrier.wait()
            threading.Event().wait(rng.random() * 0.004)
            try:
                storage.queue.resolve(ticket_id, "王", resolution="answered")
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=citizen), threading.Thread(target=agent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        retried += store.reads - reads_before > 1
        assert_both_effects_kept(storage, conversation_id, ticket_id)
    # The jitter makes the resolve land between read and write in some iterations.
    assert retried > 0, "no iteration raced; the test proved nothing"


def test_the_race_loses_the_resolve_without_the_version_check(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is what saves the state: switched off, the deterministic race strands the citizen."""
    from assistant.db import rules

    monkeypatch.setattr(rules, "check_version", lambda *a, **k: None)
    conversation_id, ticket_id = handed_off_with_claim(storage)
    real = storage.conversations

    class ResolveAfterRead:
        def get(self, cid: str) -> Conversation:
            conversation = real.get(cid)
            storage.queue.resolve(ticket_id, "王", resolution="answered")
            return conversation

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    Assistant(dialogue=EchoDialogue(), store=ResolveAfterRead(), items={}).handle(conversation_id, QUESTION)  # type: ignore[arg-type]
    assert storage.queue.get(ticket_id).status == "resolved"
    assert real.get(conversation_id).state.handed_off  # overwritten: a silent bot and no open ticket


