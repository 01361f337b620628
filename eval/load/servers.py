"""Throw-away PostgreSQL and Redis servers on free loopback ports, in a temporary folder.

Used by the tests (``tests/storage_backends.py`` fixtures) and by ``xiaoshen bench load``.
Both come from Debian's packages (``make test`` installs ``postgresql`` and
``redis-server``); nothing listens beyond 127.0.0.1, nothing is written outside the
temporary folder, and ``stop()`` removes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server's programs are missing or it would not start (the message says which)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_service_user(root: str, user: str) -> list[str]:
    """The prefix that runs a command as ``user`` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("runuser"):
        raise ServerUnavailable("running as root without runuser: cannot start the server as an unprivileged user")
    shutil.chown(root, user=user)
    return ["runuser", "-u", user, "--"]


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of our own (``url`` reaches its ``postgres`` database)."""

    root: str
    data: str
    port: int
    prefix: list[str] = field(default_factory=list)
    #: the server options (port, socket folder, loopback only...), given again by ``resume``
    options: str = ""

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://xs@127.0.0.1:{self.port}/postgres"

    def halt(self) -> None:
        """Stop the server but keep its data (``resume`` starts it again on the same port)."""
        subprocess.run([*self.prefix, shutil.which("pg_ctl") or "pg_ctl", "-D", self.data, "-m", "fast", "stop"],
                       check=True, capture_output=True, timeout=60)

    def resume(self) -> None:
        """Start a halted server again (same data, same port)."""
        subprocess.run(
            [*self.prefix, shutil.which("pg_ctl") or "pg_ctl", "-D", self.data, "-w", "-l", os.path.join(self.root, "log"),
             "-o", self.options, "start"],
            check=True, capture_output=True, timeout=120,
        )

    def stop(self) -> None:
        pg_ctl = shutil.which("pg_ctl")
        if pg_ctl:
            subprocess.run([*self.prefix, pg_ctl, "-D", self.data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(*, max_connections: int = 60) -> PostgresServer:
    """Start a throw-away cluster (trust auth for user ``xs``, fsync off: test data only)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        raise ServerUnavailable("PostgreSQL needs initdb and pg_ctl on PATH (Debian package postgresql)")
    root = tempfile.mkdtemp(prefix="xs-pg-")
    try:
        prefix = _as_service_user(root, "postgres")
        data, port = os.path.join(root, "data"), free_port()
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections={max_connections}"
        subprocess.run(
            [*prefix, initdb, "-D", data, "-A", "trust", "-U", "xs", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )
        subprocess.run(
            [
                *prefix, pg_ctl, "-D", data, "-w", "-l", os.path.join(root, "log"),
                "-o", options,
                "start",
            ],
            check=True, capture_output=True, timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ServerUnavailable) as e:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"could not start a PostgreSQL cluster: {e}") from e
    return PostgresServer(root, data, port, prefix, options)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """Terminate ``process`` if it still runs; kill it when it does not end within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def is_ready(url: str, timeout: float = 2.0) -> bool:
    """True when the server at ``url`` answers ``/readyz`` with 200."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_until_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, *, timeout: float, what: str = "the server", interval: float = 0.2
) -> None:
    """Wait until the server ``process`` started at ``url`` is ready; raise (with the tail of
    its ``log``) when it exits first or is not ready within ``timeout`` seconds (then stop it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}:\n{_tail(log)}")
        if is_ready(url):
            return
        time.sleep(interval)
    stop_process(process)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s; see {log}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.is_file() else ""


@dataclass
class RedisServer:
    """A redis-server of our own, no persistence, on 127.0.0.1."""

    root: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop answering (SIGSTOP), as a Redis that went away would (readiness tests)."""
        self.process.send_signal(19)

    def resume(self) -> None:
        """Answer again after :meth:`pause`."""
        self.process.send_signal(18)


def redis_available() -> bool:
    """Whether redis-server is installed."""
    return shutil.which("redis-server") is not None


def start_redis(port: int | None = None) -> RedisServer:
    """Start redis-server on a free (or the given) loopback port; waits until it answers."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServerUnavailable("redis-server is not installed (Debian package redis-server; make test installs it)")
    root = tempfile.mkdtemp(prefix="xs-redis-")
    port = port or free_port()
    process = subprocess.Popen(
        [
            exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", root, "--save", "", "--appendonly", "no",
            "--protected-mode", "yes", "--daemonize", "no", "--logfile", os.path.join(root, "log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(root, port, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = Path(root, "log").read_text(errors="replace")[-500:] if Path(root, "log").exists() else ""
            shutil.rmtree(root, ignore_errors=True)
            raise ServerUnavailable(f"redis-server exited with {process.returncode}: {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise ServerUnavailable("redis-server did not answer within 20 s")
