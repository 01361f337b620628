"""One contract for the SQL store and queue, run on SQLite and on PostgreSQL.

PostgreSQL: ``XS_TEST_POSTGRES_URL`` if set, else a throw-away cluster started
with the local ``initdb``/``pg_ctl`` (skipped, with the reason, when they are
missing).  The embedded default must behave exactly like production.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from assistant.db import Database, open_database
from assistant.db.engine import current_revision, head_revision
from assistant.db.models import Base, ConversationRow, FeedbackRow, MessageRow, TicketEventRow, TicketRow
from assistant.core.errors import Conflict, InvalidInput, NotFound
from assistant.core.settings import HelpdeskSettings
from assistant.core.types import (
    Action,
    Answer,
    Citation,
    DialogueState,
    Hit,
    IntentPrediction,
    Option,
    TicketDraft,
    TurnResult,
)

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server URL for the session (see the module docstring)."""
    if os.environ.get("XS_TEST_POSTGRES_URL"):
        yield os.environ["XS_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL contract tests need initdb and pg_ctl on PATH, or XS_TEST_POSTGRES_URL")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="xs-pg-")
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run the throw-away cluster as 'postgres'.
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start a PostgreSQL cluster")
        shutil.chown(root, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    try:
        subprocess.run(
            [*as_user, initdb, "-D", data, "-A", "trust", "-U", "xs", "--no-sync", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user, pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"),
                "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {e}")
    try:
        yield f"postgresql+psycopg://xs@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'xiaoshen.db'}"
    server = request.getfixturevalue("postgres_server")
    # A fresh database per test, so tests never see each other's rows.
    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(db_url: str, clock: Clock):
    database = open_database(db_url, helpdesk=HelpdeskSettings(claim_lease_s=LEASE_S), clock=clock)
    yield database
    database.dispose()


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (ConversationRow, MessageRow, FeedbackRow, TicketRow, TicketEventRow)
        }


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


def test_migrations_are_applied_on_open_idempotent_and_match_the_models(db: Database, db_url: str, clock: Clock) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert current_revision(db.engine) == head_revision()
    again = open_database(db_url, helpdesk=HelpdeskSettings(), clock=clock)  # second open: no error, no change
    assert current_revision(again.engine) == head_revision()
    again.dispose()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_migrations_downgrade_to_nothing_and_upgrade_again(db: Database) -> None:
    from sqlalchemy import inspect

    from assistant.db.engine import downgrade, migrate

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


def test_conversation_state_citations_and_options_round_trip(db: Database, clock: Clock) -> None:
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


def test_record_turn_with_a_handoff_writes_ticket_and_state_together(db: Database) -> None:
    store = db.conversations
    c = store.create()
    state = DialogueState(current_item="passport-apply", handed_off=True)
    _, _, ticket = store.record_turn(c.id, "转人工", turn_result(state, action=Action.HANDOFF), ticket=DRAFT)
    assert ticket is not None and ticket.status == "new" and ticket.reason == "customer_request"
    assert ticket.queued_at == ticket.created_at == T0
    assert store.get(c.id).status == "handed_off"
    assert [e.kind for e in db.queue.events(ticket.id)] == ["created"]


def test_a_failing_record_turn_writes_nothing(db: Database) -> None:
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


def test_feedback_rules(db: Database) -> None:
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


def test_messages_after_and_add_message(db: Database) -> None:
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


def _ticket(db: Database, **draft: object):
    c = db.conversations.create()
    d = TicketDraft(**{**DRAFT.__dict__, **draft})  # type: ignore[arg-type]
    _, _, ticket = db.conversations.record_turn(
        c.id, "转人工", turn_result(DialogueState(handed_off=True), action=Action.HANDOFF), ticket=d
    )
    assert ticket is not None
    return ticket


def test_life_cycle_claim_reply_resolve_reopen(db: Database, clock: Clock) -> None:
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


def test_a_lapsed_lease_returns_the_ticket_to_the_queue(db: Database, clock: Clock) -> None:
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


def test_transfer_and_release(db: Database, clock: Clock) -> None:
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


def test_twenty_concurrent_claimers_exactly_one_wins(db: Database) -> None:
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


def test_enqueue_and_listing(db: Database) -> None:
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
