"""``xiaoshen bench load``: the whole deployment under simulated citizens, then the books checked.

One run, loopback only, bounded in users and time, stops by itself:

1. **steady**: ``citizens`` simulated citizens (``eval/load/locustfile.py``) hold
   multi-turn conversations from the development benchmark against ``workers``
   server processes (``xiaoshen serve --workers N``) on PostgreSQL and Redis with the
   grounded composer, waiting ``wait`` seconds between messages; some ask for a person
   and wait on their live stream while agents claim, reply and hand back.  Reported:
   messages per second, p50/p95/p99 per message, errors, handoffs, agent replies
   delivered to the citizens' live streams;
2. **saturation**, for each of ``saturation_workers`` (1 and 2): citizens without waits,
   stepped up (``steps`` users, ``step_s`` seconds each); per step the message rate and
   p95; the saturation point is the message rate at which p95 crosses ``p95_budget_ms``
   (interpolated between the two steps around it); then the 2-to-1 ratio;
3. **books**: for every phase, every acknowledged message must be in the database once,
   with its text (as masked) and its answer, and no conversation may hold a user message
   that was not acknowledged (lost or duplicated messages).

Each phase gets a fresh database; PostgreSQL and Redis are throw-away servers
(``eval.load.servers``) unless URLs are given.  The figures, the load average of the
machine at the start and end of each phase and the plan go to a JSON file.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
DEFAULT_BENCH = ROOT / "eval" / "benchmarks" / "dev.jsonl"


@dataclass(frozen=True)
class LoadPlan:
    """What one run does (the defaults are the issue's full run)."""

    citizens: int = 200
    #: seconds of the steady phase, the ramp-up included.
    duration_s: float = 150.0
    #: citizens started per second during the ramp-up.
    spawn_rate: float = 10.0
    #: seconds a citizen waits between messages (people typing).
    wait: tuple[float, float] = (5.0, 15.0)
    workers: int = 2
    agents: int = 4
    #: share of finished conversations that ask for a person.
    handoff_share: float = 0.1
    #: seconds a citizen who asked for a person waits on its live stream for the reply.
    reply_wait_s: float = 90.0
    saturation_workers: tuple[int, ...] = (1, 2)
    steps: tuple[int, ...] = (1, 2, 4, 6, 8, 12, 16, 24, 32)
    step_s: float = 15.0
    #: seconds at the start of each step not counted (users spawning, queues filling).
    step_warmup_s: float = 3.0
    p95_budget_ms: float = 500.0
    database_url: str | None = None
    redis_url: str | None = None


def quick_plan(**overrides: Any) -> LoadPlan:
    """A small, fast plan (CI): a few citizens for ~20 s, a short step-up on one worker."""
    base = dict(
        citizens=4, duration_s=20.0, spawn_rate=4.0, wait=(1.0, 2.0), workers=2, agents=1, handoff_share=0.5,
        reply_wait_s=15.0, saturation_workers=(1,), steps=(1, 2), step_s=6.0, step_warmup_s=1.0,
    )
    base.update(overrides)
    return LoadPlan(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pure figures


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The run's record lines (see the locustfile)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def steady_figures(records: Sequence[dict[str, Any]], plan: LoadPlan) -> dict[str, Any]:
    """Messages per second and latency over the steady phase, counts of everything else."""
    messages = [r for r in records if r["k"] == "message"]
    errors = [r for r in records if r["k"] == "error"]
    start = next((r["t"] for r in records if r["k"] == "start"), min((r["start"] for r in messages), default=0.0))
    end = max((r["t"] for r in records), default=start)
    ramp = plan.citizens / plan.spawn_rate if plan.spawn_rate else 0.0
    # the rate at full load: messages sent after the ramp-up
    full = [r for r in messages if r["start"] >= start + ramp]
    full_span = max(1e-9, end - (start + ramp))
    replies = {r["id"]: r for r in records if r["k"] == "agent_reply"}
    delivered = {r["id"]: r for r in records if r["k"] == "delivered" and r["id"] in replies}
    gave_up = defaultdict(lambda: math.inf, {r["cid"]: r["t"] for r in records if r["k"] == "no_reply"})
    asked = {r["cid"]: r["t"] for r in records if r["k"] == "handoff"}
    # the id the citizen's stream reads after: a reply stored before it (to a ticket the bot
    # had already opened, answered while the citizen's 转人工 was on its way) is in the
    # conversation, not on that stream
    after = {r["cid"]: r.get("after", -1) for r in records if r["k"] == "handoff"}
    # a reply is owed to the live stream when its citizen asked for a person before it and was
    # still waiting (had not given up, and the run did not end right after it, cutting the
    # stream); tickets the bot opened by itself (escalations) have no one listening.  The
    # simulated citizen reads its stream until the first agent reply: only that one is owed
    # (a second ticket's reply to the same conversation lands while nobody listens)
    first_reply: dict[str, dict[str, Any]] = {}
    for r in sorted(replies.values(), key=lambda r: r["id"]):
        if r["cid"] in asked and r["id"] > after[r["cid"]]:
            first_reply.setdefault(r["cid"], r)
    owed = [
        r["id"] for r in first_reply.values()
        if asked[r["cid"]] - 1 <= r["t"] < gave_up[r["cid"]] and r["t"] < end - 2
    ]
    latencies = [r["ms"] for r in messages]
    delivery_ms = [max(0.0, (delivered[i]["t"] - replies[i]["t"]) * 1000) for i in delivered]
    return {
        "citizens": plan.citizens,
        "seconds": round(end - start, 1),
        "seconds_at_full_load": round(full_span, 1),
        "messages": len(messages),
        "messages_per_s": round(len(full) / full_span, 2),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies, default=math.nan), 1),
        "errors": len(errors),
        "error_kinds": dict(Counter(f"{e['what']} {e.get('status')}" for e in errors)),
        "conversations": len({r["cid"] for r in messages}),
        "handoffs": sum(1 for r in records if r["k"] == "handoff"),
        "agent_replies": len(replies),
        "agent_replies_delivered_live": len(delivered),
        "agent_replies_owed_to_a_waiting_stream": len(owed),
        "owed_replies_not_delivered": sum(1 for i in owed if i not in delivered),
        "citizens_left_without_reply": sum(1 for r in records if r["k"] == "no_reply"),
        "reply_delivery_p95_ms": round(percentile(delivery_ms, 95), 1),
        "claims_lost_to_another_agent": sum(1 for r in records if r["k"] == "claim_lost"),
    }


def step_figures(records: Sequence[dict[str, Any]], plan: LoadPlan) -> list[dict[str, Any]]:
    """Per step of the step-up: users, message rate and latency (warm-up seconds skipped)."""
    start = next((r["t"] for r in records if r["k"] == "start"), None)
    messages = [r for r in records if r["k"] == "message"]
    errors = [r for r in records if r["k"] == "error"]
    if start is None:
        return []
    out = []
    at = start
    for users in plan.steps:
        lo, hi = at + plan.step_warmup_s, at + plan.step_s
        # a message belongs to the step in which it finished
        inside = [r for r in messages if lo <= r["start"] + r["ms"] / 1000 < hi]
        latencies = [r["ms"] for r in inside]
        out.append(
            {
                "users": users,
                "messages": len(inside),
                "messages_per_s": round(len(inside) / max(1e-9, hi - lo), 2),
                "p50_ms": round(percentile(latencies, 50), 1),
                "p95_ms": round(percentile(latencies, 95), 1),
                "errors": sum(1 for e in errors if at <= e["t"] < at + plan.step_s),
            }
        )
        at += plan.step_s
    return out


def saturation_point(steps: Sequence[dict[str, Any]], budget_ms: float) -> dict[str, Any]:
    """The message rate at which p95 crosses ``budget_ms``.

    Between the last step within budget and the first above it, the rate is
    interpolated linearly on p95.  When no step crosses, the highest rate measured is
    a lower bound (``crossed`` False); when the first step already crosses, its rate is
    an upper bound.
    """
    measured = [s for s in steps if s["messages"] > 0 and not math.isnan(s["p95_ms"])]
    if not measured:
        return {"messages_per_s": math.nan, "crossed": False, "note": "no step measured"}
    best_within = 0.0
    for n, s in enumerate(measured):
        if s["p95_ms"] > budget_ms:
            if n == 0:
                return {"messages_per_s": s["messages_per_s"], "crossed": True, "note": "the first step is already over budget (an upper bound)"}
            prev = measured[n - 1]
            share = (budget_ms - prev["p95_ms"]) / max(1e-9, s["p95_ms"] - prev["p95_ms"])
            rate = prev["messages_per_s"] + share * (s["messages_per_s"] - prev["messages_per_s"])
            return {
                "messages_per_s": round(rate, 2),
                "crossed": True,
                "between_users": [prev["users"], s["users"]],
                "best_rate_within_budget": round(max(best_within, prev["messages_per_s"]), 2),
            }
        best_within = max(best_within, s["messages_per_s"])
    return {
        "messages_per_s": round(best_within, 2),
        "crossed": False,
        "note": f"p95 stayed within {budget_ms:.0f} ms up to {measured[-1]['users']} users: a lower bound",
    }


# --------------------------------------------------------------------------- the books


def check_books(database_url: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every acknowledged message stored once, with its text and answer; nothing unacknowledged.

    ``lost``: acknowledged but absent (or another text or conversation);
    ``duplicated``: user messages stored beyond those acknowledged in a conversation
    (a retry stored twice, a write that failed after its commit...); ``unanswered``:
    acknowledged answers that are not stored as the assistant's.
    """
    from sqlalchemy import create_engine, text

    from assistant.core.pii import mask
    from assistant.db.engine import normalise_url

    acked_users = {r["uid"]: r for r in records if r["k"] in ("message", "handoff")}
    acked_agent = {r["id"]: r for r in records if r["k"] == "agent_reply"}
    answers = {r["aid"]: r for r in records if r["k"] == "message"}
    conversations = {r["cid"] for r in [*acked_users.values(), *acked_agent.values()]}
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, conversation_id, role, text FROM messages")).all()
    finally:
        engine.dispose()
    by_id = {r.id: r for r in rows}
    lost = []
    for uid, r in acked_users.items():
        row = by_id.get(uid)
        want = mask(r.get("text", "请帮我转人工"))
        if row is None or row.conversation_id != r["cid"] or row.role != "user" or (r["k"] == "message" and row.text != want):
            lost.append(uid)
    for mid, r in acked_agent.items():
        row = by_id.get(mid)
        if row is None or row.conversation_id != r["cid"] or row.role != "agent" or row.text != r["text"]:
            lost.append(mid)
    unanswered = [aid for aid, r in answers.items() if aid not in by_id or by_id[aid].role != "assistant"]
    stored_users: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.role == "user" and row.conversation_id in conversations:
            stored_users[row.conversation_id] += 1
    acked_per_conversation = Counter(r["cid"] for r in acked_users.values())
    duplicated = sum(max(0, stored_users[c] - acked_per_conversation[c]) for c in conversations)
    return {
        "acknowledged_user_messages": len(acked_users),
        "acknowledged_agent_replies": len(acked_agent),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "duplicated": duplicated,
        "unanswered": len(unanswered),
    }


# --------------------------------------------------------------------------- servers and locust


def load_conversations(path: Path) -> list[list[str]]:
    """The multi-turn conversations of a benchmark (each a list of user messages)."""
    from eval.benchmark import load_benchmark

    bench = load_benchmark(path)
    found = [[t.user for t in c.turns] for c in bench.cases if len(c.turns) > 1]
    if not found:
        from assistant.core.errors import InvalidInput

        raise InvalidInput(f"{path} has no multi-turn case to simulate conversations with")
    return found


def _fresh_database(server_url: str) -> str:
    from sqlalchemy import create_engine, text

    from assistant.db.engine import normalise_url

    name = "load_" + uuid.uuid4().hex[:10]
    admin = create_engine(normalise_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    return normalise_url(server_url).rsplit("/", 1)[0] + "/" + name


@contextmanager
def backing_services(plan: LoadPlan) -> Iterator[tuple[str, str]]:
    """(PostgreSQL server URL, Redis URL): the plan's, or throw-away ones on loopback."""
    from eval.load.servers import start_postgres, start_redis

    started: list[Any] = []
    try:
        pg = plan.database_url
        if pg is None:
            server = start_postgres(max_connections=200)
            started.append(server)
            pg = server.url
        redis = plan.redis_url
        if redis is None:
            r = start_redis()
            started.append(r)
            redis = r.url
        yield pg, redis
    finally:
        for s in reversed(started):
            s.stop()


@dataclass
class ServerProcess:
    """``xiaoshen serve --workers N`` on a loopback port, with its log."""

    workers: int
    env: dict[str, str]
    log: Path
    config: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 600) -> ServerProcess:
        from eval.load.servers import free_port

        self.port = free_port()
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "assistant", "serve", "--workers", str(self.workers), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log}:\n{self.log.read_text()[-3000:]}")
            # every worker must have finished loading (each accepts only then)
            if self.log.read_text(errors="replace").count("Application startup complete") >= self.workers and self._ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server was not ready after {timeout:.0f} s; see {self.log}")

    def create_agents(self, count: int) -> list[dict[str, str]]:
        """``count`` agent accounts in the server's database (``xiaoshen accounts create``)."""
        accounts = []
        for n in range(count):
            account = {"username": f"load-agent-{n + 1}", "password": secrets.token_urlsafe(18)}
            cmd = [sys.executable, "-m", "assistant", "accounts", "create", account["username"], "--role", "agent", "--password-stdin"]
            if self.config is not None:
                cmd += ["--config", str(self.config)]
            subprocess.run(
                cmd, cwd=ROOT, env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)}, input=account["password"] + "\n",
                text=True, capture_output=True, check=True, timeout=120,
            )
            accounts.append(account)
        return accounts

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def server_env(database_url: str, redis_url: str, *, raise_limits: bool) -> dict[str, str]:
    """The production profile: PostgreSQL, Redis for live updates and limits, 127.0.0.1 as the proxy."""
    env = {
        "XS_DATABASE__URL": database_url,
        "XS_EVENTS__URL": redis_url,
        "XS_LIMITS__STORAGE_URL": redis_url,
        "XS_SERVER__TRUSTED_PROXIES": '["127.0.0.1/32"]',
        "XS_GENERATOR__BACKEND": "composer",
    }
    if raise_limits:
        # the step-up sends as fast as it can: the limits still count in Redis, but do not refuse
        env.update(
            XS_LIMITS__MESSAGE_PER_CONVERSATION="1000000/minute",
            XS_LIMITS__MESSAGE_PER_CLIENT="1000000/minute",
            XS_LIMITS__CONVERSATION_PER_CLIENT="1000000/minute",
        )
    return env


def run_locust(config: dict[str, Any], host: str, work: Path, name: str, args: Sequence[str], timeout: float) -> list[dict[str, Any]]:
    """Run locust headless against ``host`` (loopback) and return the run's records."""
    if not re.match(r"^http://127\.0\.0\.1:\d+$", host):
        raise ValueError(f"the load test targets loopback only, not {host!r}")
    record = work / f"{name}.records.jsonl"
    record.unlink(missing_ok=True)
    config_path = work / f"{name}.config.json"
    config_path.write_text(json.dumps({**config, "record": str(record)}, ensure_ascii=False), encoding="utf-8")
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host, "--only-summary",
        # requests under way when the time is up finish (and count); a citizen still waiting
        # for an agent at the end is cut off and counted as such, not as an error
        "--loglevel", "WARNING", "--stop-timeout", "20", "--exit-code-on-error", "0", *args,
    ]
    with (work / f"{name}.locust.log").open("ab") as log:
        subprocess.run(
            cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "XS_LOAD_CONFIG": str(config_path)},
            stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=True,
        )
    return read_records(record)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(
    plan: LoadPlan,
    work: Path,
    *,
    bench: Path = DEFAULT_BENCH,
    config: Path | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole run (see the module docstring); returns the figures."""
    work.mkdir(parents=True, exist_ok=True)
    conversations = load_conversations(bench)
    result: dict[str, Any] = {"plan": asdict(plan), "machine": {"cpus": os.cpu_count(), "load_average_start": _load()}}
    with backing_services(plan) as (pg, redis):
        # 1. steady: citizens with waits, agents, on `workers` workers
        db = _fresh_database(pg)
        say(f"steady: {plan.citizens} citizens for {plan.duration_s:.0f} s on {plan.workers} worker(s) (load {_load()})")
        server = ServerProcess(plan.workers, server_env(db, redis, raise_limits=False), work / "server-steady.log", config).start()
        try:
            agents = server.create_agents(plan.agents)
            load_before = _load()
            records = run_locust(
                {
                    "conversations": conversations, "wait": list(plan.wait), "handoff_share": plan.handoff_share,
                    "reply_wait_s": plan.reply_wait_s, "agents": agents,
                },
                server.url, work, "steady",
                ["-u", str(plan.citizens), "-r", str(plan.spawn_rate), "-t", f"{int(plan.duration_s)}s", "Citizen", "Agent"],
                timeout=plan.duration_s + plan.reply_wait_s + 120,
            )
        finally:
            server.stop()
        steady = steady_figures(records, plan)
        steady["load_average_before"], steady["load_average_after"] = load_before, _load()
        steady["books"] = check_books(db, records)
        result["steady"] = steady
        say(_steady_line(steady, plan))
        # 2. saturation: a step-up without waits for each worker count
        result["saturation"] = {}
        for workers in plan.saturation_workers:
            db = _fresh_database(pg)
            say(f"saturation: step-up {list(plan.steps)} users x {plan.step_s:.0f} s on {workers} worker(s) (load {_load()})")
            server = ServerProcess(workers, server_env(db, redis, raise_limits=True), work / f"server-step-{workers}.log", config).start()
            load_before = _load()
            try:
                records = run_locust(
                    {
                        "conversations": conversations, "wait": [0, 0], "handoff_share": 0, "reply_wait_s": 1,
                        "steps": [[u, plan.step_s] for u in plan.steps],
                    },
                    server.url, work, f"step-{workers}", ["Citizen"],
                    timeout=len(plan.steps) * plan.step_s + 120,
                )
            finally:
                server.stop()
            steps = step_figures(records, plan)
            point = saturation_point(steps, plan.p95_budget_ms)
            result["saturation"][str(workers)] = {
                "workers": workers,
                "steps": steps,
                "saturation": point,
                "errors": sum(1 for r in records if r["k"] == "error"),
                "load_average_before": load_before,
                "load_average_after": _load(),
                "books": check_books(db, records),
            }
            say(_step_line(workers, steps, point, plan))
    sat = result["saturation"]
    if "1" in sat and "2" in sat:
        one, two = sat["1"]["saturation"]["messages_per_s"], sat["2"]["saturation"]["messages_per_s"]
        result["saturation_ratio_2_to_1"] = round(two / one, 2) if one and not math.isnan(one) else math.nan
    result["machine"]["load_average_end"] = _load()
    result["passed"] = _verdict(result, plan)
    return result


def _verdict(result: dict[str, Any], plan: LoadPlan) -> dict[str, bool]:
    steady = result["steady"]
    books = [steady["books"], *(s["books"] for s in result["saturation"].values())]
    return {
        "p95_within_budget": steady["p95_ms"] <= plan.p95_budget_ms,
        "no_errors": steady["errors"] == 0 and all(s["errors"] == 0 for s in result["saturation"].values()),
        "nothing_lost_or_duplicated": all(b["lost"] == 0 and b["duplicated"] == 0 and b["unanswered"] == 0 for b in books),
        "every_agent_reply_reached_its_waiting_citizen": steady["owed_replies_not_delivered"] == 0,
        "ran_at_least_2_minutes": steady["seconds"] >= 120,
    }


def _steady_line(s: dict[str, Any], plan: LoadPlan) -> str:
    b = s["books"]
    return (
        f"  {s['citizens']} citizens, {s['seconds']:.0f} s: {s['messages']} messages, {s['messages_per_s']} msg/s at full load, "
        f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms (budget {plan.p95_budget_ms:.0f}), p99 {s['p99_ms']} ms, "
        f"{s['errors']} errors; {s['handoffs']} handoffs, {s['agent_replies']} agent replies, "
        f"{s['agent_replies_delivered_live']} delivered live (p95 {s['reply_delivery_p95_ms']} ms), "
        f"{s['owed_replies_not_delivered']} of {s['agent_replies_owed_to_a_waiting_stream']} owed not delivered; "
        f"books: {b['acknowledged_user_messages']} user messages acknowledged, {b['lost']} lost, {b['duplicated']} duplicated, "
        f"{b['unanswered']} unanswered (load {s['load_average_before']} -> {s['load_average_after']})"
    )


def _step_line(workers: int, steps: Sequence[dict[str, Any]], point: dict[str, Any], plan: LoadPlan) -> str:
    rows = ", ".join(f"{s['users']}u {s['messages_per_s']}/s p95 {s['p95_ms']}" for s in steps)
    crossed = "crossed" if point["crossed"] else "not crossed (lower bound)"
    return f"  {workers} worker(s): {rows}\n  saturation ({plan.p95_budget_ms:.0f} ms p95 {crossed}): {point['messages_per_s']} msg/s"


def summary(result: dict[str, Any]) -> str:
    """The figures the issue asks for, in a few lines."""
    s = result["steady"]
    lines = [
        f"load test on {result['machine']['cpus']} cores (load average {result['machine']['load_average_start']} at start, "
        f"{result['machine']['load_average_end']} at end)",
        f"steady: {s['citizens']} citizens x {s['seconds']:.0f} s on {result['plan']['workers']} workers: "
        f"{s['messages_per_s']} messages/s, p95 {s['p95_ms']} ms, {s['errors']} errors, "
        f"{s['books']['lost']} lost, {s['books']['duplicated']} duplicated",
    ]
    for workers, sat in result["saturation"].items():
        lines.append(f"saturation point, {workers} worker(s): {sat['saturation']['messages_per_s']} messages/s"
                     + ("" if sat["saturation"]["crossed"] else " (p95 never crossed the budget: a lower bound)"))
    if "saturation_ratio_2_to_1" in result:
        lines.append(f"saturation ratio 2 workers / 1 worker: {result['saturation_ratio_2_to_1']}")
    lines.append("verdict: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["passed"].items()))
    return "\n".join(lines)
