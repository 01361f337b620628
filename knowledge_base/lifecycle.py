"""Item lifecycle: draft -> published -> retired, with effective dates and a history.

Only published items whose effective dates include today are retrievable
(``ServiceItem.is_live``).  The commands here edit the item file in place
(comments and key order kept, see ``knowledge_base.yamledit``) and append one
``history:`` entry per change: who, when, what changed.

Dates:
- ``publish --effective-from D``: status published; the item goes live on D
  (a future D schedules the publication).
- ``retire --effective-to D``: the item stays live up to and including D.  A D
  in the future keeps the status ``published`` with ``effective_to: D`` (a
  scheduled retirement that needs no second command); D today or earlier sets
  ``status: retired`` at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import getpass
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

from assistant.core.errors import Conflict, InvalidInput, KnowledgeBaseError, NotFound
from assistant.core.types import ServiceItem
from knowledge_base.loader import CatalogEntry, check_item, item_files, load_yaml, parse_item, service_today
from knowledge_base.yamledit import append_to_list, apply_edit, set_scalar

# Where a missing key goes, following the exemplar item's order.
_AFTER = {
    "status": ("department", "domain", "name"),
    "updated": ("status", "department"),
    "effective_from": ("updated", "status"),
    "effective_to": ("effective_from", "updated", "status"),
    "history": (),
    "faqs": ("phone", "legal_basis", "online"),
}


@dataclass(frozen=True)
class HistoryEntry:
    """One line of ``xiaoshen kb history``: from the file's ``history:`` or from git."""

    at: datetime
    by: str
    change: str
    source: Literal["file", "git"]
    #: the git commit, for ``git`` entries.
    commit: str = ""


def default_author() -> str:
    """Who is making a change when ``--by`` is not given: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError) as e:  # no passwd entry (some containers)
        raise InvalidInput("cannot tell who you are; pass --by NAME") from e


def now() -> datetime:
    """The time stamped on a change: aware UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def item_path(kb_dir: Path, item_id: str) -> Path:
    """The file of ``item_id``; NotFound (with close ids) when it does not exist."""
    path = kb_dir / f"{item_id}.yaml"
    if not path.is_file():
        known = [p.stem for p in item_files(kb_dir)] if kb_dir.is_dir() else []
        close = difflib.get_close_matches(item_id, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; item files live in {kb_dir}"
        raise NotFound(f"no item file for {item_id!r}{hint}")
    return path


def load_one(kb_dir: Path, item_id: str) -> ServiceItem:
    """Parse the item ``item_id``; KnowledgeBaseError lists its problems when invalid."""
    item, problems = parse_item(item_path(kb_dir, item_id))
    if item is None or problems:
        listing = "; ".join(str(p) for p in problems)
        raise KnowledgeBaseError(f"{item_id} is invalid ({listing}); fix it first ('xiaoshen kb validate')")
    return item


def record_change(
    path: Path,
    *,
    by: str,
    change: str,
    at: datetime | None = None,
    scalars: dict[str, object] | None = None,
    append: dict[str, Sequence[dict[str, object]]] | None = None,
) -> dict[str, Any]:
    """Apply ``scalars`` (top-level key -> value) and ``append`` (list key -> entries)
    to the file and add one history entry; returns the history entry written.

    The edit is verified (the new file must parse to exactly the old data plus
    these changes) before the file is replaced; otherwise nothing is written.
    """
    if not by.strip():
        raise InvalidInput("the author of a change is empty; pass --by NAME")
    if not change.strip():
        raise InvalidInput("a change needs a description")
    entry: dict[str, object] = {"at": at or now(), "by": by.strip(), "change": change.strip()}
    scalars = scalars or {}
    append = dict(append or {})
    append["history"] = [*append.get("history", ()), entry]

    def edit(text: str) -> str:
        for key, value in scalars.items():
            text = set_scalar(text, key, value, after=_AFTER.get(key, ()))
        for key, entries in append.items():
            text = append_to_list(text, key, entries, after=_AFTER.get(key, ()))
        return text

    def expect(data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        out.update(scalars)
        for key, entries in append.items():
            out[key] = [*(out.get(key) or []), *(dict(e) for e in entries)]
        return out

    apply_edit(path, edit, expect)
    return entry


def _validated(
    kb_dir: Path, item: ServiceItem, catalog: Sequence[CatalogEntry] | None, today: date
) -> None:
    """Refuse to publish an item that would not pass ``xiaoshen kb validate``."""
    known = [p.stem for p in item_files(kb_dir)]
    problems = check_item(item, known, catalog, today=today)
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        raise KnowledgeBaseError(
            f"{item.id} cannot be published, {len(problems)} problem(s):\n{listing}\nfix them, then publish again"
        )


def publish(
    kb_dir: Path,
    item_id: str,
    *,
    by: str,
    effective_from: date | None = None,
    catalog: Sequence[CatalogEntry] | None = None,
    today: date | None = None,
    at: datetime | None = None,
) -> ServiceItem:
    """Publish a draft (or re-publish a retired item), effective from ``effective_from``.

    Without ``effective_from`` an existing effective_from is kept, else today is
    set.  A retired item brought back loses its ``effective_to``; a published
    item keeps a scheduled retirement (unless it ends before the new start).
    The item must pass validation as a published item.  Publishing an already published
    item only reschedules it, and only when ``effective_from`` changes.
    """
    day = today or service_today()
    path = item_path(kb_dir, item_id)
    item = load_one(kb_dir, item_id)
    start = effective_from or item.effective_from or day
    scalars: dict[str, object] = {}
    if item.status == "published":
        if effective_from is None or effective_from == item.effective_from:
            raise Conflict(
                f"{item_id} is already published (effective from {item.effective_from or 'always'}); "
                "pass --effective-from to reschedule it"
            )
        change = f"effective_from {item.effective_from or '-'} → {start}"
    else:
        change = f"status {item.status} → published, effective from {start}"
        scalars["status"] = "published"
    scalars["effective_from"] = start
    if item.effective_to and (item.status == "retired" or item.effective_to < start):
        # a retired item brought back must not keep the end date that retired it
        scalars["effective_to"] = None
        change += f"; effective_to {item.effective_to} cleared"
    candidate = dataclasses.replace(
        item, status="published", effective_from=start, effective_to=scalars.get("effective_to", item.effective_to)
    )
    _validated(kb_dir, candidate, catalog, day)
    record_change(path, by=by, change=change, at=at, scalars=scalars)
    return load_one(kb_dir, item_id)


def retire(
    kb_dir: Path,
    item_id: str,
    *,
    by: str,
    effective_to: date | None = None,
    reason: str = "",
    today: date | None = None,
    at: datetime | None = None,
) -> ServiceItem:
    """Retire a published item: it stays live up to and including ``effective_to``.

    Without a date the item is retired at once (``effective_to`` today).  A
    future ``effective_to`` schedules the retirement and keeps status published.
    """
    day = today or service_today()
    path = item_path(kb_dir, item_id)
    item = load_one(kb_dir, item_id)
    if item.status == "retired":
        raise Conflict(f"{item_id} is already retired (effective to {item.effective_to or '-'})")
    if item.status == "draft":
        raise Conflict(f"{item_id} is a draft, never published, so not live; there is nothing to retire")
    end = effective_to or day
    if item.effective_from and end < item.effective_from:
        raise InvalidInput(
            f"--effective-to {end} is before the item's effective_from {item.effective_from}; pass a later date"
        )
    scalars: dict[str, object] = {"effective_to": end}
    if end > day:
        change = f"retirement scheduled: live until {end}"
    else:
        scalars["status"] = "retired"
        change = f"status published → retired, effective to {end}"
    if reason.strip():
        change += f" ({reason.strip()})"
    record_change(path, by=by, change=change, at=at, scalars=scalars)
    return load_one(kb_dir, item_id)


def _git(git: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([git, *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=False)


def changed_fields(old: object, new: object) -> tuple[str, ...]:
    """Top-level fields whose value differs between two parsed item files, in the new file's order.

    ``history`` itself is left out: the history entry says what changed.
    """
    before = old if isinstance(old, dict) else {}
    after = new if isinstance(new, dict) else {}
    keys = [*after, *(k for k in before if k not in after)]
    return tuple(k for k in keys if k != "history" and before.get(k) != after.get(k))


def git_history(path: Path) -> tuple[list[HistoryEntry], str]:
    """Commits touching ``path`` (newest first) and a note when git cannot tell.

    Each entry's ``change`` is the commit subject followed by the item fields
    the commit changed (``[fees, faqs]``, ``[new file]``), read by parsing the
    file at that commit and at the commit before, so hand edits committed
    without a ``history:`` entry still say what changed.  The note is empty
    when git answered; otherwise it says why there is no git history.
    """
    git = shutil.which("git")
    if git is None:
        return [], "git is not installed"
    try:
        proc = _git(git, path.parent, "log", "--follow", "--name-only", "--format=%x1e%H%x1f%an%x1f%aI%x1f%s", "--", path.name)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [], f"git log failed: {e}"
    if proc.returncode != 0:
        return [], f"no git history ({proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else 'git log failed'})"
    commits: list[tuple[str, str, str, str, str]] = []
    for record in proc.stdout.split("\x1e"):
        lines = [ln for ln in record.splitlines() if ln.strip()]
        if not lines:
            continue
        parts = lines[0].split("\x1f")
        if len(parts) != 4:
            continue
        # with --name-only the path of the file at that commit follows the header (renames change it)
        commits.append((*parts, lines[1] if len(lines) > 1 else ""))  # type: ignore[arg-type]
    versions: list[object] = []
    for commit, _, _, _, repo_path in commits:
        data: object = None
        if repo_path:
            try:
                shown = _git(git, path.parent, "show", f"{commit}:{repo_path}")
                if shown.returncode == 0:
                    data = load_yaml(shown.stdout)
            except (OSError, subprocess.TimeoutExpired, yaml.YAMLError):
                data = None  # an unreadable old version: the entry keeps its subject only
        versions.append(data)
    entries = []
    for n, (commit, author, when, subject, _) in enumerate(commits):
        older = versions[n + 1] if n + 1 < len(versions) else None
        if versions[n] is None:
            detail = " [fields unknown: the file could not be read at this commit]"
        elif n + 1 == len(commits):
            detail = " [new file]"
        else:
            fields = changed_fields(older, versions[n])
            detail = f" [{', '.join(fields)}]" if fields else " [history only]"
        entries.append(HistoryEntry(datetime.fromisoformat(when), author, subject + detail, "git", commit[:10]))
    return entries, "" if entries else "the file has no commit yet"


def history(kb_dir: Path, item_id: str, *, with_git: bool = True) -> tuple[list[HistoryEntry], str]:
    """The item's recorded changes and (``with_git``) the commits of its file, oldest first.

    Returns the entries and a note about git (empty when git history was read).
    """
    item = load_one(kb_dir, item_id)
    entries = [HistoryEntry(r.at, r.by, r.change, "file") for r in item.history]
    note = ""
    if with_git:
        commits, note = git_history(item_path(kb_dir, item_id))
        entries.extend(commits)
    entries.sort(key=lambda e: _sort_key(e.at))
    return entries, note


def _sort_key(at: datetime) -> datetime:
    # entries written without a zone are taken as UTC so they order against git's aware stamps
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
