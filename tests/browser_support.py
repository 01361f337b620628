"""Shared by the browser tests: Debian's Chromium, a real server process, axe-core, watchers.

``WorkbenchServer`` runs ``python -m assistant kb build`` and ``python -m
assistant serve`` (what ``make run`` does, with the real embedder, intent model
and composer, serving the index artefact) on a small file
knowledge base (``tests/workbench_kb.py``) in a temporary data directory, so
publishing edits real files and evaluator runs start the real command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from eval.load.servers import stop_process, wait_until_ready
from tests.test_helpdesk_crash import ROOT, _free_port
from tests.workbench_kb import env_for, write_workbench_kb

CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary; /usr/bin/chromium is a shell wrapper
AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = ["--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"]


def launch_chromium(sync_api):  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright (the test skips when either is missing)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium ({CHROMIUM}) is missing: apt-get install -y chromium")
    return sync_api.sync_playwright().start()


class WorkbenchServer:
    """``xiaoshen serve`` on a free loopback port over the workbench test knowledge base."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = write_workbench_kb(root / "kb")
        self.data_dir = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._accounts: set[str] = set()
        self._sessions: dict[str, dict[str, str]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> WorkbenchServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **env_for(self.paths, self.data_dir)}
        # the server serves a built index artefact: build it first, as `make run` does
        subprocess.run([sys.executable, "-m", "assistant", "kb", "build"], cwd=ROOT, env=env, check=True,
                       stdout=self.log.open("ab"), stderr=subprocess.STDOUT, timeout=timeout)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        wait_until_ready(self.process, self.url, self.log, timeout=timeout, interval=0.3)
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def account(self, role: str) -> str:
        """An account named after ``role`` holding it (created once), with ``tests.staff.PASSWORD``."""
        from tests.staff import PASSWORD, create_account

        if role not in self._accounts:
            create_account(self.data_dir, role, role, PASSWORD)
            self._accounts.add(role)
        return role

    def sign_in_page(self, page, role: str) -> None:  # type: ignore[no-untyped-def]
        """Sign a Playwright page in through /login as staff holding ``role``."""
        from tests.staff import PASSWORD, sign_in_page

        sign_in_page(page, self.url, self.account(role), PASSWORD)

    def call(
        self, method: str, path: str, body: object | None = None, timeout: float = 60, *,
        headers: dict[str, str] | None = None, staff: str = "",
    ) -> tuple[int, dict]:
        """One JSON request; ``headers`` (a citizen's token) or ``staff`` (a role to act as)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if staff:
            sent.update(self._staff_headers(staff))
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def _staff_headers(self, role: str) -> dict[str, str]:
        from tests.staff import PASSWORD

        if role not in self._sessions:
            payload = json.dumps({"username": self.account(role), "password": PASSWORD}).encode()
            request = urllib.request.Request(self.url + "/api/v1/auth/login", data=payload, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as r:
                cookie = r.headers["Set-Cookie"].split(";", 1)[0]
                csrf = json.loads(r.read())["csrf_token"]
            self._sessions[role] = {"Cookie": cookie, "X-CSRF-Token": csrf}
        return self._sessions[role]

    def conversation(self) -> tuple[str, dict[str, str]]:
        """A new conversation's id and the citizen header that opens it."""
        status, body = self.call("POST", "/api/v1/conversations", {})
        assert status == 201, body
        return body["id"], {"X-Conversation-Token": body["token"]}


def watch(page, problems: list[str], base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Collect page errors, failed requests, 5xx answers and any request off this server."""
    host = urlparse(base_url).netloc
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def failed(request) -> None:  # type: ignore[no-untyped-def]
        # an EventSource closed by navigation, or a download the page does not read, is no failure
        if "/events" in request.url or request.failure == "net::ERR_ABORTED":
            return
        problems.append(f"request failed: {request.url} {request.failure}")

    page.on("requestfailed", failed)
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)
    page.on("request", lambda r: problems.append(f"request off this server: {r.url}")
            if urlparse(r.url).netloc not in (host, "") and not r.url.startswith(("data:", "blob:")) else None)


def axe_violations(page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:  # type: ignore[no-untyped-def]
    """axe-core's violations of ``impacts`` on the page as it is now (WCAG 2.x A and AA rules)."""
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed at {AXE}: run make test (npm install axe-core)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the page's own CSP (no inline scripts) stays on
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                         nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
        }"""
    )
    return [v for v in result if v["impact"] in impacts]
