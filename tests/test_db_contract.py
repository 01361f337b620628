"""One contract for every storage backend: in memory, SQLite and PostgreSQL.

Every test taking ``db`` runs on the three; the tests of migrations, pragmas
and URLs take ``db_url`` and run on the two SQL backends only.

PostgreSQL comes from ``tests/storage_backends.py`` (a throw-away cluster, or
``XS_TEST_POSTGRES_URL``).  The embedded default must behave exactly like production.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assistant.db import MEMORY_URL, Database, open_database, open_storage
from assistant.db.engine import current_revision, head_revision
from assistant.db.models import Base, PiiOriginalRow
from assistant.core.errors import AlreadyRecorded, Conflict, InvalidInput, NotFound, StaleState
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    Action,
    Answer,
    Citation,
    DialogueState,
    Hit,
    IdempotentWrite,
    IntentPrediction,
    Option,
    Storage,
    TicketDraft,
    TurnResult,
)
from tests.storage_backends import BACKENDS, backend_url, counts

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
LEASE_S = 60


class Clock:
    """A scripted clock: ``now`` only moves when the test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQL database URL (the tests of migrations and engines)."""
    return backend_url(request, request.param, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock):
    """An opened, empty Storage of every backend."""
    url = backend_url(request, request.param, tmp_path)
    storage = open_storage(url, helpdesk=HelpdeskSettings(claim_lease_s=LEASE_S), clock=clock)
    assert isinstance(storage, Storage)
    yield storage
    storage.dispose()


def turn_result(state: DialogueState, *, action: Action = Action.ANSWER, reason: str = "") -> TurnResult:
    citation = Citation(item_id="passport-apply", item_name="普通护照申领", field="fees", updated=date(2026, 11, 1))
    options = (Option(label="在沪就业", value="employed", item_id="residence-permit-apply", situation="employed"),)
    return TurnResult(
        answer=Answer(text="答案", action=action, lang=state.lang, citations=(citation,), options=options),
        intent=IntentPrediction(label="consult.fee", confidence=0.875, scores={"consult.fee": 0.875}),
        hits=(Hit(item_id="passport-apply", score=0.9), Hit(item_id="hukou-newborn", score=0.2)),
        state=state,
        timings_ms={"intent": 1.5, "retrieval": 2.25},
        handoff_reason=reason,
    )


DRAFT = TicketDraft(reason="customer_request", department="上海市公安局", summary="诉求：护照", item_ids=("passport-apply",))


# --------------------------------------------------------------------------- migrations


@pytest.fixture
def sql_db(db_url: str, clock: Clock):
    database = open_database(db_url, helpdesk=HelpdeskSettings(claim_lease_s=LEASE_S), clock=clock)
    yield database
    database.dispose()


def test_migrations_are_applied_on_open_idempotent_and_match_the_models(sql_db: Database, db_url: str, clock: Clock) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = sql_db
    assert current_revision(db.engine) == head_revision()
    again = open_database(db_url, helpdesk=HelpdeskSettings(), clock=clock)  # second open: no error, no change
    assert current_revision(again.engine) == head_revision()
    again.dispose()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_migrations_downgrade_to_nothing_and_upgrade_again(sql_db: Database) -> None:
    from sqlalchemy import inspect

    from assistant.db.engine import downgrade, migrate

    db = sql_db
    c = db.conversations.create()
    downgrade(db.engine, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    migrate(db.engine)
    assert current_revision(db.engine) == head_revision()
    with pytest.raises(NotFound):
        db.conversations.get(c.id)
    assert db.conversations.get(db.conversations.create().id).status == "open"


def test_two_processes_opening_at_once_migrate_once(db_url: str, clock: Clock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # (threads stand in for processes: each opens its own engine and migrates)
    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(lambda _: open_database(db_url, helpdesk=HelpdeskSettings(), clock=clock), range(4)))
    assert {current_revision(d.engine) for d in opened} == {head_revision()}
    for d in opened:
        d.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path, clock: Clock) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x' / 'nested' / 'x.db'}", helpdesk=HelpdeskSettings(), clock=clock)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize(
    "url", ["mysql://x@localhost/db", "postgresql+psycopg2://x@localhost/db", "not a url", ""]
)
def test_unsupported_database_urls_fail_with_the_fix(url: str) -> None:
    from assistant.core.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        open_database(url, helpdesk=HelpdeskSettings())
    assert "sqlite:///" in str(e.value) or "psycopg" in str(e.value)


# --------------------------------------------------------------------------- conversations


def test_conversation_state_citations_and_options_round_trip(db: Storage, clock: Clock) -> None:
    store = db.conversations
    c = store.create(lang="en", elder_mode=True)
    state = DialogueState(
        current_item="passport-apply",
        slots={"situation": "employed", "district": "浦东"},
        lang="en",
        unresolved_turns=1,
        pending_options=(Option(label="A", value="a", item_id="x"), Option(label="B", value="b", situation="s")),
        pending_intent="consult.materials",
        pending_question="Which one?",
        handed_off=False,
    )
    result = turn_result(state)
    clock.advance(5)
    user, answer, ticket = store.record_turn(c.id, "How much is a passport?", result)
    assert ticket is None
    loaded = store.get(c.id)
    assert loaded.state == state
    assert loaded.elder_mode and loaded.lang == "en"
    assert [t.role for t in loaded.turns] == ["user", "assistant"]
    assert loaded.turns[0] == user and loaded.turns[1] == answer
    assert answer.citations == result.answer.citations
    assert answer.options == result.answer.options
    assert answer.item_ids == ("passport-apply", "hukou-newborn")
    assert answer.created_at == T0 + timedelta(seconds=5)
    assert answer.intent == "consult.fee" and answer.action == "answer"


def test_record_turn_with_a_handoff_writes_ticket_and_state_together(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    state = DialogueState(current_item="passport-apply", handed_off=True)
    _, _, ticket = store.record_turn(c.id, "转人工", turn_result(state, action=Action.HANDOFF), ticket=DRAFT)
    assert ticket is not None and ticket.status == "new" and ticket.reason == "customer_request"
    assert ticket.queued_at == ticket.created_at == T0
    assert store.get(c.id).status == "handed_off"
    assert [e.kind for e in db.queue.events(ticket.id)] == ["created"]


def test_a_failing_record_turn_writes_nothing(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    store.record_turn(c.id, "转人工", turn_result(DialogueState(handed_off=True), action=Action.HANDOFF), ticket=DRAFT)
    before = counts(db)
    # A second open ticket violates the one-open-ticket rule after both messages were added.
    with pytest.raises(Conflict):
        store.record_turn(c.id, "again", turn_result(DialogueState(handed_off=True), action=Action.HANDOFF), ticket=DRAFT)
    with pytest.raises(NotFound):
        store.record_turn("missing", "hello", turn_result(DialogueState()))
    assert counts(db) == before
    assert store.get(c.id).state.handed_off


def test_feedback_rules(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    user, answer, _ = store.record_turn(c.id, "护照", turn_result(DialogueState()))
    assert store.add_feedback(c.id, answer.id, helpful=False) == 1
    assert store.add_feedback(c.id, None, rating=1) == 1  # a low rating is not a thumbs down
    assert store.add_feedback(c.id, answer.id, helpful=False, comment="没用") == 2
    with pytest.raises(InvalidInput):
        store.add_feedback(c.id, user.id, helpful=True)
    with pytest.raises(InvalidInput):
        store.add_feedback(c.id, None, rating=0)
    with pytest.raises(InvalidInput):
        store.add_feedback(c.id, None)
    other = store.create()
    with pytest.raises(NotFound):
        store.add_feedback(other.id, answer.id, helpful=True)
    assert counts(db)["feedback"] == 3


def test_messages_after_and_add_message(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    _, answer, _ = store.record_turn(c.id, "护照", turn_result(DialogueState()))
    agent = store.add_message(c.id, "agent", "您好", agent="王")
    assert [t.id for t in store.messages_after(c.id, answer.id)] == [agent.id]
    with pytest.raises(InvalidInput):
        store.add_message(c.id, "robot", "x")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.messages_after("missing", 0)


# --------------------------------------------------------------------------- queue


def _ticket(db: Storage, **draft: object):
    c = db.conversations.create()
    d = TicketDraft(**{**DRAFT.__dict__, **draft})  # type: ignore[arg-type]
    _, _, ticket = db.conversations.record_turn(
        c.id, "转人工", turn_result(DialogueState(handed_off=True), action=Action.HANDOFF), ticket=d
    )
    assert ticket is not None
    return ticket


def test_life_cycle_claim_reply_resolve_reopen(db: Storage, clock: Clock) -> None:
    q = db.queue
    t = _ticket(db)
    clock.advance(10)
    claimed = q.claim(t.id, "王")
    assert claimed.status == "claimed" and claimed.agent == "王"
    assert claimed.lease_until == clock.now + timedelta(seconds=LEASE_S)
    with pytest.raises(Conflict, match="already claimed by 王"):
        q.claim(t.id, "李")
    with pytest.raises(Conflict):
        q.reply(t.id, "李", "我来")
    clock.advance(20)
    message = q.reply(t.id, "王", "您好，请问有什么可以帮您？")
    assert message.role == "agent"
    answered = q.get(t.id)
    assert answered.status == "answered" and answered.first_response_at == T0 + timedelta(seconds=30)
    clock.advance(5)
    q.reply(t.id, "王", "第二条")
    assert q.get(t.id).first_response_at == T0 + timedelta(seconds=30)  # first stays first
    with pytest.raises(InvalidInput):
        q.resolve(t.id, "王", resolution="done")
    resolved = q.resolve(t.id, "王", resolution="answered", notice="人工服务结束")
    assert resolved.status == "resolved" and resolved.resolved_at == clock.now and resolved.lease_until is None
    conversation = db.conversations.get(t.conversation_id)
    assert not conversation.state.handed_off and conversation.status == "open"
    assert conversation.turns[-1].role == "system"
    with pytest.raises(Conflict):
        q.claim(t.id, "李")
    reopened = q.reopen(t.id, "李", note="citizen not satisfied")
    assert reopened.status == "new" and reopened.queued_at == clock.now and reopened.resolution == ""
    assert db.conversations.get(t.conversation_id).state.handed_off
    with pytest.raises(Conflict):
        q.reopen(t.id)
    closed = q.claim(t.id, "李") and q.resolve(t.id, "李", resolution="unresolved")
    assert closed.status == "closed"
    kinds = [e.kind for e in q.events(t.id)]
    assert kinds == ["created", "claimed", "replied", "replied", "resolved", "reopened", "claimed", "closed"]


def test_a_lapsed_lease_returns_the_ticket_to_the_queue(db: Storage, clock: Clock) -> None:
    q = db.queue
    t = _ticket(db)
    q.claim(t.id, "王")
    clock.advance(LEASE_S - 1)
    q.claim(t.id, "王")  # renewing own claim
    clock.advance(LEASE_S - 1)
    with pytest.raises(Conflict):
        q.claim(t.id, "李")  # renewed lease still live
    clock.advance(2)
    with pytest.raises(Conflict, match="lapsed"):
        q.reply(t.id, "王", "还在吗")
    taken = q.claim(t.id, "李")
    assert taken.agent == "李" and taken.status == "claimed"
    assert q.events(t.id)[-1].detail == "lease of 王 lapsed"


def test_transfer_and_release(db: Storage, clock: Clock) -> None:
    q = db.queue
    t = _ticket(db)
    q.claim(t.id, "王")
    clock.advance(30)
    moved = q.transfer(t.id, "王", "上海市公安局出入境管理局", note="护照归出入境")
    assert moved.department == "上海市公安局出入境管理局" and moved.status == "new" and moved.agent == ""
    assert moved.queued_at == clock.now and moved.created_at == T0
    with pytest.raises(Conflict):
        q.transfer(t.id, "王", "x")  # no longer holds it
    q.claim(t.id, "赵")
    released = q.release(t.id, "赵")
    assert released.status == "new" and released.agent == ""
    with pytest.raises(NotFound):
        q.claim(999999, "王")
    with pytest.raises(InvalidInput):
        q.claim(t.id, "  ")


def test_twenty_concurrent_claimers_exactly_one_wins(db: Storage) -> None:
    t = _ticket(db)
    agents = [f"agent-{i:02d}" for i in range(20)]
    barrier = threading.Barrier(len(agents))
    winners: list[str] = []
    losers: list[str] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def attempt(agent: str) -> None:
        barrier.wait()
        try:
            db.queue.claim(t.id, agent)
        except Conflict:
            with lock:
                losers.append(agent)
        except BaseException as e:  # anything else (database locked…) fails the test below
            with lock:
                unexpected.append(e)
        else:
            with lock:
                winners.append(agent)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert unexpected == []
    assert len(winners) == 1 and len(losers) == 19
    final = db.queue.get(t.id)
    assert final.agent == winners[0] and final.status == "claimed"
    assert [e.agent for e in db.queue.events(t.id) if e.kind == "claimed"] == winners


def test_enqueue_and_listing(db: Storage) -> None:
    c = db.conversations.create()
    t = db.queue.enqueue(c.id, reason="complaint", department="上海市市场监督管理局", summary="投诉", callback=True)
    assert t.callback and t.status == "new"
    with pytest.raises(Conflict):
        db.queue.enqueue(c.id, reason="complaint", department="x", summary="again")
    with pytest.raises(NotFound):
        db.queue.enqueue("missing", reason="complaint", department="x", summary="s")
    assert [x.id for x in db.queue.list(status="new")] == [t.id]
    assert db.queue.list(status="resolved") == []
    with pytest.raises(InvalidInput):
        db.queue.list(status="bogus")


# --------------------------------------------------------------------------- the rest of the Protocols


def test_exists_tickets_of_and_open_tickets(db: Storage) -> None:
    assert not db.conversations.exists("missing")
    assert db.conversations.tickets_of("missing") == []
    t = _ticket(db)
    assert db.conversations.exists(t.conversation_id)
    assert [x.id for x in db.conversations.tickets_of(t.conversation_id)] == [t.id]
    other = _ticket(db)
    db.queue.claim(other.id, "王")
    db.queue.resolve(other.id, "王", resolution="answered")
    assert [x.id for x in db.queue.open_tickets()] == [t.id]


def test_escalate_writes_notice_state_and_ticket_together(db: Storage) -> None:
    c = db.conversations.create()
    notice = Answer(text="转人工", action=Action.HANDOFF)
    message, ticket = db.conversations.escalate(c.id, notice, DialogueState(handed_off=True), DRAFT)
    assert message.role == "system" and message.action == "handoff" and ticket.status == "new"
    loaded = db.conversations.get(c.id)
    assert loaded.state.handed_off and loaded.status == "handed_off" and loaded.turns == (message,)
    before = counts(db)
    with pytest.raises(Conflict):  # one open ticket per conversation
        db.conversations.escalate(c.id, notice, DialogueState(handed_off=True), DRAFT)
    assert counts(db) == before


def test_state_writes_are_compare_and_set(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    assert c.version == 0 and store.get(c.id).version == 0
    assert store.set_state(c.id, DialogueState(current_item="a"), expected_version=0) == 1
    before = counts(db)
    # Every state writer refuses a stale version and writes nothing.
    with pytest.raises(StaleState, match="version 1, expected 0"):
        store.set_state(c.id, DialogueState(current_item="b"), expected_version=0)
    with pytest.raises(StaleState):
        store.record_turn(c.id, "护照", turn_result(DialogueState()), expected_version=0)
    with pytest.raises(StaleState):
        store.escalate(c.id, Answer(text="x", action=Action.HANDOFF), DialogueState(handed_off=True), DRAFT, expected_version=0)
    assert counts(db) == before and store.get(c.id).state.current_item == "a"
    store.record_turn(c.id, "护照", turn_result(DialogueState(current_item="c")), expected_version=1)
    assert store.get(c.id).version == 2
    store.record_turn(c.id, "再问", turn_result(DialogueState(current_item="d")))  # no check asked: last writer wins
    assert store.get(c.id).version == 3
    # Messages and feedback leave the state, and so its version, alone.
    store.add_message(c.id, "system", "通知")
    assert store.get(c.id).version == 3


def test_resolve_and_reopen_bump_the_state_version(db: Storage) -> None:
    t = _ticket(db)
    v = db.conversations.get(t.conversation_id).version
    db.queue.claim(t.id, "王")
    db.queue.reply(t.id, "王", "您好")
    assert db.conversations.get(t.conversation_id).version == v  # claims and replies do not touch the state
    db.queue.resolve(t.id, "王", resolution="answered")
    after_resolve = db.conversations.get(t.conversation_id)
    assert after_resolve.version == v + 1 and not after_resolve.state.handed_off
    with pytest.raises(StaleState):  # a turn decided before the resolve cannot overwrite it
        db.conversations.record_turn(
            t.conversation_id, "还在吗", turn_result(DialogueState(handed_off=True)), expected_version=v
        )
    db.queue.reopen(t.id)
    assert db.conversations.get(t.conversation_id).version == v + 2


def test_reports_meta_waits_and_records(db: Storage, clock: Clock) -> None:
    c = db.conversations.create(lang="en", elder_mode=True, client_id="browser-1")
    _, answer, _ = db.conversations.record_turn(c.id, "passport fee", turn_result(DialogueState(lang="en")))
    db.conversations.add_feedback(c.id, answer.id, helpful=False)
    db.conversations.add_feedback(c.id, None, rating=4)
    assert db.reports.conversation_meta([c.id, "missing"]) == {c.id: (True, "en")}
    assert db.reports.conversation_meta([]) == {}
    t = _ticket(db)
    clock.advance(42)
    db.queue.claim(t.id, "王")
    db.queue.reply(t.id, "王", "您好")
    callback = _ticket(db, callback=True)
    db.queue.claim(callback.id, "王")
    db.queue.reply(callback.id, "王", "回电")
    assert db.reports.recent_first_response_waits(10) == [42.0]  # call-back tickets do not count
    records, tickets = db.reports.records(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    by_id = {r.id: r for r in records}
    r = by_id[c.id]
    assert r.client_id == "browser-1" and r.questions == ("passport fee",) and r.item_id == "passport-apply"
    assert (r.negative_feedback, r.positive_feedback, r.ratings, r.in_window) == (1, 0, (4,), True)
    assert by_id[t.conversation_id].ticket_ids == (t.id,)
    assert [x.id for x in tickets] == [t.id, callback.id]
    later, later_tickets = db.reports.records(T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    assert {x.id for x in later} == set(by_id) and not any(x.in_window for x in later)  # the 24 h look-ahead
    assert later_tickets == []


def test_reports_activity_holds_the_window_s_messages_feedback_and_tickets(db: Storage, clock: Clock) -> None:
    c = db.conversations.create(lang="zh")
    user, answer, _ = db.conversations.record_turn(c.id, "护照多少钱", turn_result(DialogueState()))
    db.conversations.add_feedback(c.id, answer.id, helpful=False)
    db.conversations.add_feedback(c.id, None, rating=1, comment="没用")
    c_now = db.conversations.get(c.id)
    _, _, t = db.conversations.record_turn(
        c.id, "转人工", turn_result(DialogueState(handed_off=True), action=Action.HANDOFF), ticket=DRAFT,
        expected_version=c_now.version,
    )
    assert t is not None
    clock.advance(3600)
    later = db.conversations.create()
    db.conversations.record_turn(later.id, "later", turn_result(DialogueState()))
    a = db.reports.activity(T0 - timedelta(minutes=1), T0 + timedelta(minutes=30))
    assert list(a.conversations) == [c.id] and a.conversations[c.id][1:] == ("zh", False)
    assert [(x.id, x.role, x.text) for x in a.turns][:2] == [(user.id, "user", "护照多少钱"), (answer.id, "assistant", "答案")]
    assert len(a.turns) == 4
    assert [(f.message_id, f.helpful, f.rating, f.comment) for f in a.feedback] == [(answer.id, False, None, ""), (None, None, 1, "没用")]
    assert len({f.id for f in a.feedback}) == 2
    assert [x.id for x in a.tickets] == [t.id]
    assert [x.text for x in db.reports.activity(T0 + timedelta(minutes=30), T0 + timedelta(hours=2)).turns] == ["later", "答案"]
    assert db.reports.activity(T0 + timedelta(hours=3), T0 + timedelta(hours=4)).turns == ()


def test_memory_url_opens_the_in_memory_backend() -> None:
    from assistant.db import MEMORY_URL
    from assistant.db.memory import MemoryStorage

    storage = open_storage(MEMORY_URL, helpdesk=HelpdeskSettings())
    assert isinstance(storage, MemoryStorage) and isinstance(storage, Storage)
    storage.ping()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_satisfies_the_protocols(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from assistant.core.types import ConversationStore, HandoffQueue, ServiceLevelReports

    storage = open_storage(backend_url(request, backend, tmp_path), helpdesk=HelpdeskSettings())
    try:
        assert isinstance(storage.conversations, ConversationStore)
        assert isinstance(storage.queue, HandoffQueue)
        assert isinstance(storage.reports, ServiceLevelReports)
        # runtime_checkable checks names only: compare the signatures with the Protocols'.
        import inspect

        for impl, proto in ((storage.conversations, ConversationStore), (storage.queue, HandoffQueue),
                            (storage.reports, ServiceLevelReports)):
            for name in (n for n in dir(proto) if not n.startswith("_") and callable(getattr(proto, n))):
                want = [p.name for p in inspect.signature(getattr(proto, name)).parameters.values()][1:]
                got = [p.name for p in inspect.signature(getattr(impl, name)).parameters.values()]
                assert got == want, f"{type(impl).__name__}.{name}{got} differs from {proto.__name__}.{name}{want}"
    finally:
        storage.dispose()


# --------------------------------------------------------------------------- encrypted originals

PRIVACY_KEY = "_8Z1fV3TlLETOybY_x0eINxj46km_tWg27DFOoA0ZaA="  # a Fernet key for tests only
TYPED = "我的身份证号是11010519491231002X"
MASKED = "我的身份证号是[身份证号·尾号002X]"


@pytest.fixture(params=BACKENDS)
def keyed_db(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock):
    """Every backend, opened with a privacy key."""
    url = backend_url(request, request.param, tmp_path)
    storage = open_storage(url, helpdesk=HelpdeskSettings(), clock=clock, privacy_key=PRIVACY_KEY)
    yield storage
    storage.dispose()


def test_originals_are_kept_encrypted_and_revealed_with_the_key(keyed_db: Storage) -> None:
    store = keyed_db.conversations
    c = store.create()
    user, answer, _ = store.record_turn(c.id, MASKED, turn_result(DialogueState()), original=TYPED)
    assert store.get(c.id).turns[0].text == MASKED
    assert store.reveal_original(user.id) == TYPED
    assert store.reveal_original(answer.id) is None  # nothing was masked in the answer
    if isinstance(keyed_db, Database):
        with keyed_db.engine.connect() as conn:
            stored = conn.execute(select(PiiOriginalRow.ciphertext)).scalars().all()
        assert len(stored) == 1 and "11010519491231002X" not in stored[0]
    else:
        assert "11010519491231002X" not in next(iter(keyed_db.conversations._t.originals.values()))


def test_without_a_key_originals_are_not_kept(db: Storage) -> None:
    store = db.conversations
    c = store.create()
    user, _, _ = store.record_turn(c.id, MASKED, turn_result(DialogueState()), original=TYPED)
    assert store.reveal_original(user.id) is None
    if isinstance(db, Database):
        with db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(PiiOriginalRow)).scalar_one() == 0


def test_a_malformed_privacy_key_names_the_fix() -> None:
    from assistant.core.errors import ConfigError

    with pytest.raises(ConfigError, match="Fernet.generate_key"):
        open_storage(MEMORY_URL, helpdesk=HelpdeskSettings(), privacy_key="not-a-key")


# --------------------------------------------------------------------------- idempotency keys


def test_idempotency_key_claim_complete_and_replay(db: Storage, clock: Clock) -> None:
    c = db.conversations.create()
    keys = db.idempotency
    assert keys.claim(c.id, "k1", "f1", stale_after_s=60) is None  # first claim: go ahead
    pending = keys.claim(c.id, "k1", "f1", stale_after_s=60)
    assert pending is not None and pending.response is None and pending.fingerprint == "f1"
    keys.complete(c.id, "k1", '{"message_id": 2}')
    done = keys.claim(c.id, "k1", "f2", stale_after_s=60)
    assert done is not None and done.response == '{"message_id": 2}' and done.fingerprint == "f1"
    clock.advance(3600)  # a finished key is never taken over
    assert keys.claim(c.id, "k1", "f1", stale_after_s=60).response == '{"message_id": 2}'
    # keys are scoped to their conversation
    other = db.conversations.create()
    assert keys.claim(other.id, "k1", "f1", stale_after_s=60) is None


def test_idempotency_stale_claim_is_taken_over_and_release_frees_it(db: Storage, clock: Clock) -> None:
    c = db.conversations.create()
    keys = db.idempotency
    assert keys.claim(c.id, "k", "f", stale_after_s=60) is None
    clock.advance(30)
    assert keys.claim(c.id, "k", "f", stale_after_s=60) is not None
    clock.advance(31)
    assert keys.claim(c.id, "k", "f", stale_after_s=60) is None  # its request died: a retry takes over
    keys.release(c.id, "k")
    assert keys.claim(c.id, "k", "f", stale_after_s=60) is None


def test_concurrent_claims_of_one_key_have_one_winner(db: Storage) -> None:
    c = db.conversations.create()
    results: list[object] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(db.idempotency.claim(c.id, "same", "f", stale_after_s=60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == 1
    assert len(results) == 8


def _write(key: str, fingerprint: str = "f") -> IdempotentWrite:
    """A key whose response names the stored message ids (as the API's TurnOut does)."""
    return IdempotentWrite(key, fingerprint, lambda user, answer, ticket: f'{{"user": {user.id}, "answer": {answer.id}}}')


def test_a_turn_stores_its_idempotency_key_in_the_same_transaction(db: Storage) -> None:
    c = db.conversations.create()
    assert db.idempotency.claim(c.id, "k", "f", stale_after_s=60) is None
    user, answer, _ = db.conversations.record_turn(c.id, "问", turn_result(c.state), idempotency=_write("k"))
    record = db.idempotency.claim(c.id, "k", "f", stale_after_s=60)
    assert record is not None and record.response == f'{{"user": {user.id}, "answer": {answer.id}}}'
    # the same key again (a retry, or a takeover whose first request was only slow): nothing is written
    before = db.conversations.get(c.id)
    with pytest.raises(AlreadyRecorded) as raised:
        db.conversations.record_turn(c.id, "问", turn_result(c.state), idempotency=_write("k"))
    assert raised.value.response == record.response and raised.value.fingerprint == "f"
    after = db.conversations.get(c.id)
    assert len(after.turns) == len(before.turns) == 2 and after.version == before.version


def test_a_turn_that_fails_leaves_its_idempotency_key_pending(db: Storage) -> None:
    c = db.conversations.create()
    assert db.idempotency.claim(c.id, "k", "f", stale_after_s=60) is None
    db.conversations.record_turn(c.id, "先", turn_result(c.state))
    with pytest.raises(StaleState):
        db.conversations.record_turn(c.id, "问", turn_result(c.state), expected_version=0, idempotency=_write("k"))
    pending = db.idempotency.claim(c.id, "k", "f", stale_after_s=60)
    assert pending is not None and pending.response is None
    assert len(db.conversations.get(c.id).turns) == 2


def test_a_turn_writes_a_key_nobody_claimed(db: Storage) -> None:
    # the claim was released (or lost) meanwhile: the key is written with the turn all the same
    c = db.conversations.create()
    user, _, _ = db.conversations.record_turn(c.id, "问", turn_result(c.state), idempotency=_write("free", "g"))
    record = db.idempotency.claim(c.id, "free", "g", stale_after_s=60)
    assert record is not None and record.fingerprint == "g" and f'"user": {user.id}' in (record.response or "")


def test_concurrent_turns_with_one_key_store_one_message(db: Storage) -> None:
    c = db.conversations.create()
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def post() -> None:
        barrier.wait()
        try:
            db.conversations.record_turn(c.id, "同一条", turn_result(c.state), idempotency=_write("same"))
            outcomes.append("stored")
        except AlreadyRecorded:
            outcomes.append("replayed")

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["replayed"] * 5 + ["stored"]
    assert [t.text for t in db.conversations.get(c.id).turns if t.role == "user"] == ["同一条"]
