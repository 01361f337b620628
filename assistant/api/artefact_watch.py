"""Every server switches to a newly published artefact version while it serves.

A task in the server's event loop looks at the artefact's ``CURRENT`` pointer every
``artefact.watch_s`` seconds (a one-line file read; a shared folder or a synchronised
copy on each machine).  When it names a version other than the one served, the new
version is opened and hash-checked, its stages built and loaded in a worker thread
(the embedder is reused: no model loads twice), and only then swapped in with one
assignment of ``app.state.services``.  A request takes its services once
(``assistant.api.deps``), so it is answered wholly by the old version or wholly by the
new one, and none waits or fails for the switch.  A version that fails to load (bad
hash, missing file) is logged and reported by /readyz; the server keeps answering from
the version it has and tries the failed one again only when ``CURRENT`` changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from assistant.artefact import Artefact
    from assistant.wiring import Services

log = logging.getLogger("assistant.api.artefact")

#: builds the services of a new version from the served ones (storage, bus and embedder reused).
Reload = Callable[["Artefact", "Services"], "Services"]


def install(app: FastAPI, services: Services) -> None:
    """Serve ``services`` from now on (one assignment: a request sees old or new, never both).

    Whatever else holds the served services (the workbench, say) registers a callable
    in ``app.state.on_install`` and is given each new one.
    """
    app.state.services = services
    app.state.assistant = services.assistant
    app.state.helpdesk = services.helpdesk
    # accounts, sessions, conversation tokens and the audit log (assistant.api.auth, access)
    app.state.storage = services.storage
    for listener in getattr(app.state, "on_install", ()):
        listener(services)


class ArtefactWatcher:
    """Polls ``CURRENT`` under ``root`` and installs each new version (see the module docstring)."""

    def __init__(self, app: FastAPI, root: Path, interval_s: float, reload: Reload) -> None:
        self.app = app
        self.root = Path(root)
        self.interval_s = interval_s
        self.reload = reload
        #: (version, error) of the last version that failed to load, for /readyz.
        self.failed: tuple[str, str] | None = None
        #: versions installed by this watcher, with the seconds each load took.
        self.switches: list[tuple[str, float]] = []

    async def run(self) -> None:
        """Watch until cancelled."""
        from assistant.artefact import current_version

        while True:
            await asyncio.sleep(self.interval_s)
            try:
                wanted = current_version(self.root)
            except OSError as e:  # a shared folder away for a moment: keep serving
                log.warning("cannot read %s/CURRENT: %s", self.root, e)
                continue
            served = self.app.state.services.artefact
            if wanted is None or served is None or wanted == served.version:
                continue
            if self.failed is not None and self.failed[0] == wanted:
                continue
            await self.switch(wanted)

    async def switch(self, version: str) -> bool:
        """Load ``version`` and install it; False (logged, kept for /readyz) when it fails."""
        from assistant.artefact import open_artefact

        started = time.perf_counter()
        current: Services = self.app.state.services
        try:
            artefact = await run_in_threadpool(open_artefact, self.root, version)
            new = await run_in_threadpool(self.reload, artefact, current)
        except Exception as e:  # the served version stays; the failure is visible on /readyz
            self.failed = (version, str(e))
            log.error("artefact version %s not loaded, still serving %s: %s", version, current.artefact.version if current.artefact else "-", e)
            return False
        install(self.app, new)
        seconds = time.perf_counter() - started
        self.failed = None
        self.switches.append((version, seconds))
        log.info("now serving artefact version %s (kb %s), loaded in %.2fs", version, artefact.kb_version[:12], seconds)
        return True
