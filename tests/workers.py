"""Server worker processes for the multi-worker tests: the app on a tiny artefact.

``build_tiny_artefact`` writes the ten fake items as YAML, builds their index with the
keyword embedder and publishes it as an artefact version (the same code path as
``xiaoshen kb build``).  ``Worker`` runs one server process on a free loopback port with
the settings it is given in the environment (PostgreSQL, Redis...), loading the current
artefact version with the keyword embedder and the rules classifier, and switching
versions as every production worker does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from assistant.core.settings import Settings, load_settings
from assistant.core.types import ServiceItem
from eval.load.servers import free_port, stop_process, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]


def tiny_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings of a tiny deployment under ``tmp``: items in ``tmp/kb``, data in ``tmp/data``."""
    from assistant.core.settings import IntentSettings, PathsSettings

    return load_settings(
        paths=PathsSettings(data_dir=tmp / "data", kb_dir=tmp / "kb"),
        intents=IntentSettings(backend="rules"),
        **overrides,
    )


def build_tiny_artefact(settings: Settings, items: Sequence[ServiceItem] | None = None):  # type: ignore[no-untyped-def]
    """Write ``items`` (default: the ten fake items) to ``paths.kb_dir``, build and publish
    an artefact version; (artefact, whether new)."""
    from assistant.wiring import build_stages, write_artefact
    from tests.fakes import KeywordEmbedder, tiny_items
    from tests.kb_fixtures import write_kb

    kb = settings.paths.kb_dir
    for old in kb.glob("*.yaml") if kb.is_dir() else ():
        old.unlink()
    write_kb(kb, items if items is not None else tiny_items())
    stages = build_stages(settings, embedder=KeywordEmbedder())
    return write_artefact(settings, stages)


def renamed_summary(items: Sequence[ServiceItem], item_id: str, summary: str) -> list[ServiceItem]:
    """``items`` with one item's summary replaced (a published edit)."""
    return [dataclasses.replace(i, summary=summary) if i.id == item_id else i for i in items]


def serve() -> None:
    """The body of a worker process: settings from the environment, services from the
    current artefact with the keyword embedder, live updates and limits as configured."""
    import uvicorn

    from assistant.api.app import create_app
    from assistant.artefact import open_artefact
    from assistant.wiring import build_services_from_artefact, make_event_bus
    from tests.fakes import KeywordEmbedder

    settings = load_settings()
    artefact = open_artefact(settings.artefact_dir())
    services = build_services_from_artefact(
        settings, artefact, embedder=KeywordEmbedder(), events=make_event_bus(settings)
    )
    uvicorn.run(
        create_app(settings, services=services),
        host="127.0.0.1",
        port=settings.server.port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


class Worker:
    """One server process; ``start`` waits for /readyz."""

    def __init__(self, env: Mapping[str, str], log: Path, name: str = "worker") -> None:
        self.env = dict(env)
        self.log = log
        self.name = name
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        #: the signed-in session (cookie and CSRF header) that ``call(..., staff=True)`` sends.
        self.staff_headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> Worker:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT), "XS_SERVER__PORT": str(self.port)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.workers import serve; serve()"],
            cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_until_ready(self.process, self.url, self.log, timeout=timeout, what=self.name)
        return self

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)

    def sign_in(self, username: str, password: str) -> dict[str, str]:
        """Sign in through the API; ``call(..., staff=True)`` then sends the session.  The
        session lives in the database, so the headers returned work on every worker."""
        status, body, headers = self.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
        assert status == 200, (status, body)
        cookie = headers.get("Set-Cookie", "")
        self.staff_headers = {"Cookie": cookie.split(";", 1)[0], "X-CSRF-Token": body["csrf_token"]}
        return self.staff_headers

    def call(
        self,
        method: str,
        path: str,
        body: object | None = None,
        timeout: float = 30,
        headers: Mapping[str, str] | None = None,
        *,
        staff: bool = False,
    ) -> tuple[int, dict, Mapping[str, str]]:
        """(status, JSON body, headers); HTTP errors are returned, not raised.  ``headers``: a
        citizen's token; ``staff``: the signed-in session."""
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **(headers or {}), **(self.staff_headers if staff else {})}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null"), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null"), e.headers


def create_staff(settings: Settings, database_url: str, username: str, role: str, password: str) -> None:
    """A staff account in the deployment's database (``settings`` gives the paths)."""
    from assistant.core.settings import DatabaseSettings
    from tests.staff import create_account

    create_account(settings.model_copy(update={"database": DatabaseSettings(url=database_url)}), username, role, password)
