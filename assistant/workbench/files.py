"""The workbench's files under the data directory: drafts, item versions, marks, reviews.

Drafts and versions are YAML texts like the item files they come from, so an
operator's draft is exactly the file that publishing will write.  Everything is
written atomically (a temporary file renamed over the old one) and guarded by
one lock per store, so two requests never interleave a write.  Layout under
``data/workbench``::

    drafts/ITEM.yaml     the draft text        drafts/ITEM.json   who, when, base, attached questions
    versions/ITEM/NNNN.yaml  each published text   versions/ITEM/NNNN.json  who, when, what, gate
    marks.json           missed questions marked out of scope or fixed
    reviews.json         closed 好差评 review tasks
    runs/RUN/            evaluator runs (run.json, progress.json, report/)
    benchmarks/          uploaded benchmark and corpus files
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

from assistant.core.errors import InvalidInput

#: item ids, run ids and file names the workbench accepts in a path (no separators, no dots first).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def safe_name(value: str, what: str) -> str:
    """``value`` when it is safe as one path segment; InvalidInput otherwise."""
    if not SAFE_NAME.match(value or "") or ".." in value:
        raise InvalidInput(f"{what} {value!r} is not a valid name: use letters, digits, '-', '_' and '.'")
    return value


def sha(text: str) -> str:
    """First 16 hex digits of the sha256 of ``text`` (versions, drafts, bases)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON, atomically."""
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=1, default=str) + "\n")


class JsonTable:
    """A small JSON object on disk keyed by string, read and written under one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()

    def all(self) -> dict[str, Any]:
        """Every entry."""
        with self.lock:
            return dict(read_json(self.path, {}))

    def get(self, key: str) -> Any:
        """One entry, or None."""
        return self.all().get(key)

    def put(self, key: str, value: Any) -> None:
        """Add or replace one entry."""
        with self.lock:
            data = read_json(self.path, {})
            data[key] = value
            write_json(self.path, data)

    def delete(self, key: str) -> None:
        """Remove one entry (nothing when absent)."""
        with self.lock:
            data = read_json(self.path, {})
            if data.pop(key, None) is not None:
                write_json(self.path, data)
