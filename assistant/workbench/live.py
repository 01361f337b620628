"""The running server's knowledge, and the switch to a new version of it without a restart.

Publishing is one path with one seam::

    release = live.build(items)    # build the new version: re-index only what changed,
                                   #   the answer planner's units, a dialogue engine over them
    live.switch(release)           # switch to it: new requests answer from it

``build`` does the slow part off to the side while requests keep being served
by the running engine; ``switch`` replaces references only.  A request takes
the assistant's engine once (``Assistant._turn`` reads ``self.dialogue``) and
finishes on the engine it started with, so no request fails or mixes two
versions of its answer: the engine carries the items, the retriever's index
and the planner's units together.  The helpdesk's search and suggested
replies and the assistant's ticket routing are pointed at the same release
in the same switch.

With several server processes (docs/DEPLOY.md), the publish then writes the
index just built as a new version of the index artefact
(``assistant.wiring.write_artefact``), and every process switches to it
(``assistant.api.artefact_watch``); the workbench follows each switch
(``Workbench.use_services`` on ``app.state.on_install``).  This module is the
in-process half: the publishing worker answers from the new version at once.

Drafts get engines of their own (``candidate``), over an index folder per item
seeded from the served one, so previews and the gate never touch what citizens
are answered from.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from assistant.core.settings import Settings
from assistant.core.types import ServiceItem
from assistant.workbench.files import safe_name

if TYPE_CHECKING:
    from assistant.conversations import Assistant
    from assistant.dialogue.engine import DialogueEngine
    from assistant.helpdesk import Helpdesk


def knowledge_version(items: Mapping[str, ServiceItem] | Sequence[ServiceItem]) -> str:
    """A short fingerprint of a set of items (what evaluator runs record as the KB version)."""
    from retrieval.chunking import chunk_item, item_hash

    values = items.values() if isinstance(items, Mapping) else items
    digest = hashlib.sha256()
    for item in sorted(values, key=lambda i: i.id):
        digest.update(f"{item.id}:{item_hash(item, chunk_item(item))}\n".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Release:
    """A built version of the knowledge: the engine answering from it and its items."""

    engine: DialogueEngine
    items: Mapping[str, ServiceItem]
    version: str
    built_at: datetime
    build_seconds: float


class LiveKnowledge:
    """Builds knowledge versions and switches the running assistant and helpdesk to them."""

    def __init__(self, settings: Settings, assistant: Assistant, helpdesk: Helpdesk) -> None:
        self.settings = settings
        self.assistant = assistant
        self.helpdesk = helpdesk
        #: one build or switch at a time (two publishes must not interleave).
        self.lock = threading.RLock()
        self._candidates: dict[str, tuple[str, DialogueEngine]] = {}
        self._candidate_locks: dict[str, threading.Lock] = {}
        self.version = knowledge_version(assistant.dialogue.items)

    def follow(self, assistant: Assistant, helpdesk: Helpdesk) -> None:
        """Serve from newly installed services (an artefact switch built new ones)."""
        with self.lock:
            self.assistant = assistant
            self.helpdesk = helpdesk
            self.version = knowledge_version(assistant.dialogue.items)
            self._candidates.clear()

    @property
    def engine(self) -> DialogueEngine:
        """The engine new requests answer from."""
        return self.assistant.dialogue

    @property
    def items(self) -> dict[str, ServiceItem]:
        """The live items (published and effective today)."""
        return dict(self.assistant.dialogue.items)

    def build(self, items: Sequence[ServiceItem]) -> Release:
        """Build a new version over ``items``: only changed items are re-indexed (the served
        index folder is updated in place, atomically, as ``xiaoshen kb build`` does)."""
        import time

        from assistant.wiring import rebuild_dialogue

        started = time.perf_counter()
        with self.lock:
            engine = rebuild_dialogue(self.settings, self.engine, list(items), index_name="kb")
        return Release(
            engine,
            dict(engine.items),
            knowledge_version(engine.items),
            datetime.now(timezone.utc),
            time.perf_counter() - started,
        )

    def switch(self, release: Release) -> None:
        """Answer new requests from ``release`` (requests already running finish on theirs)."""
        with self.lock:
            # the items first: an item added by the release is then known to ticket
            # routing before the engine can name it
            self.assistant.items = dict(release.items)
            self.assistant.dialogue = release.engine
            self.helpdesk.items = dict(release.items)
            self.helpdesk.retriever = release.engine.retriever
            self.helpdesk.draft_answer = release.engine.turn
            self.version = release.version
            self._candidates.clear()

    def candidate(self, item: ServiceItem, fingerprint: str) -> DialogueEngine:
        """An engine over the live items with ``item`` in place of the published one
        (published in memory only), for previews and the gate; cached per draft text."""
        from dataclasses import replace

        from assistant.wiring import rebuild_dialogue

        safe_name(item.id, "item id")
        lock = self._candidate_locks.setdefault(item.id, threading.Lock())
        with lock:
            cached = self._candidates.get(item.id)
            if cached is not None and cached[0] == f"{fingerprint}:{self.version}":
                return cached[1]
            live = self.engine
            draft = replace(item, status="published", effective_from=None, effective_to=None)
            items = [i for i in live.items.values() if i.id != item.id] + [draft]
            engine = rebuild_dialogue(self.settings, live, items, index_name=f"draft-{item.id}", seed_index="kb")
            self._candidates[item.id] = (f"{fingerprint}:{self.version}", engine)
            return engine
