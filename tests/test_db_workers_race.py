"""Agents on two workers working one queue: each ticket goes to exactly one of them.

Two storages opened on the same database stand for two server processes (each its
own engine and connection pool).  Twelve agents, six behind each worker, all take
the head of the queue at once and move on when they lose a race: the conditional
UPDATE of ``SqlHandoffQueue.claim`` (PostgreSQL serialises it on the row, SQLite on the
database lock) gives every ticket one claimer, the queue drains completely, and the
ticket history records exactly the winning claims.  A lapsed lease taken over by
several agents at once likewise has one winner.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assistant.core.errors import Conflict
from assistant.core.settings import HelpdeskSettings
from assistant.db import open_storage
from tests.storage_backends import backend_url

TICKETS = 30
AGENTS_PER_WORKER = 6


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = backend_url(request, request.param, tmp_path)
    clock = Clock()
    settings = HelpdeskSettings(claim_lease_s=60)
    workers = [open_storage(url, helpdesk=settings, clock=clock) for _ in range(2)]
    yield workers, clock
    for w in workers:
        w.dispose()


def test_agents_on_two_workers_drain_the_queue_each_ticket_claimed_once(two_workers) -> None:  # type: ignore[no-untyped-def]
    (first, second), _ = two_workers
    for n in range(TICKETS):
        cid = first.conversations.create().id
        first.queue.enqueue(cid, reason="user_request", department="上海市公安局", summary=f"问题{n}")
    # one queue, not one per worker: the second worker sees every ticket the first opened
    assert len(second.queue.list(status="new")) == TICKETS
    wins: dict[int, list[str]] = {}
    lost = 0
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2 * AGENTS_PER_WORKER)

    def agent(storage, name: str) -> None:  # type: ignore[no-untyped-def]
        nonlocal lost
        barrier.wait()
        while True:
            waiting = [t for t in storage.queue.list(status="new")]
            if not waiting:
                return
            for ticket in waiting:  # the head first; on a lost race, the next one
                try:
                    storage.queue.claim(ticket.id, name)
                except Conflict:
                    with lock:
                        lost += 1
                    continue
                except BaseException as e:  # database locked, deadlock...: fails the test
                    with lock:
                        unexpected.append(e)
                    return
                with lock:
                    wins.setdefault(ticket.id, []).append(name)
                break

    threads = [
        threading.Thread(target=agent, args=(storage, f"{label}-{i}"))
        for label, storage in (("a", first), ("b", second))
        for i in range(AGENTS_PER_WORKER)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert unexpected == []
    assert sorted(wins) == sorted(t.id for t in first.queue.list())
    assert all(len(names) == 1 for names in wins.values()), {k: v for k, v in wins.items() if len(v) > 1}
    assert lost > 0, "no race happened: the test proved nothing"
    for ticket_id, (name,) in wins.items():
        stored = second.queue.get(ticket_id)
        assert stored.status == "claimed" and stored.agent == name
        assert [e.agent for e in second.queue.events(ticket_id) if e.kind == "claimed"] == [name]


def test_a_lapsed_lease_taken_over_from_both_workers_has_one_winner(two_workers) -> None:  # type: ignore[no-untyped-def]
    (first, second), clock = two_workers
    cid = first.conversations.create().id
    ticket = first.queue.enqueue(cid, reason="user_request", department="上海市公安局", summary="s")
    first.queue.claim(ticket.id, "holder")
    with clock.lock:
        clock.now += timedelta(seconds=61)  # the holder went quiet: the lease lapsed
    names = [f"{w}-{i}" for w in "ab" for i in range(8)]
    barrier = threading.Barrier(len(names))
    winners: list[str] = []
    unexpected: list[BaseException] = []

    def take(name: str) -> None:
        barrier.wait()
        try:
            (first if name[0] == "a" else second).queue.claim(ticket.id, name)
        except Conflict:
            return
        except BaseException as e:
            unexpected.append(e)
            return
        winners.append(name)

    threads = [threading.Thread(target=take, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert unexpected == [] and len(winners) == 1
    assert second.queue.get(ticket.id).agent == winners[0]
