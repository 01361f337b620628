"""Shared test set-up: no network but loopback, a temp data dir, markers.

Unit tests use the tiny deterministic fakes of ``tests/fakes.py``; tests with
real models are marked ``slow`` and still run in CI.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from tests.storage_backends import postgres_server, redis_process, redis_server  # noqa: F401  (one server of each per session)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _allowed(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX paths
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


def _guarded_connect(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if not _allowed(address):
        raise RuntimeError(f"network access to {address!r} is blocked in tests (loopback only)")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if not _allowed(address):
        raise RuntimeError(f"network access to {address!r} is blocked in tests (loopback only)")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
# Libraries that would phone home must not even try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")


@pytest.fixture
def shared_dir() -> Path:
    """The team's shared folder (development data and benchmarks, not product data);
    tests that need it skip saying so when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"needs the development data in ../shared, absent at {SHARED} (CI always has it)")
    return SHARED


def shared_file(*parts: str) -> Path:
    """A development-data file under ../shared; the test skips saying so when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"needs the development data file {path} from ../shared, absent here (CI always has it)")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh runtime data directory."""
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI every prerequisite is installed (``make test`` bootstraps them), so a
    skip there means a gap, not a missing optional tool: report it as a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every prerequisite should be installed: {reason}"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff passwords are argon2id at its production cost (64 MiB, 3 passes: ~0.2 s a hash,
    on purpose); tests sign in hundreds of times, so in-process tests hash at the lowest
    cost instead.  The algorithm and the code paths are the same; tests marked
    ``real_argon2`` (and every server subprocess) use the production cost."""
    if request.node.get_closest_marker("real_argon2"):
        return
    from argon2 import PasswordHasher

    from assistant.api import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: cheap)


@pytest.fixture(scope="session")
def workbench_server(tmp_path_factory: pytest.TempPathFactory):
    """One ``xiaoshen serve`` over the workbench test knowledge base for every browser
    test module that needs it (``tests/browser_support.py``)."""
    from tests.browser_support import WorkbenchServer

    live = WorkbenchServer(tmp_path_factory.mktemp("workbench-server")).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium through Playwright for one test module (closed at its end: a module
    that starts its own Playwright must not find another one running in this thread)."""
    from tests.browser_support import CHROMIUM, LAUNCH_ARGS

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see Makefile)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium ({CHROMIUM}) is missing: apt-get install -y chromium")
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    yield browser
    browser.close()
    pw.stop()
