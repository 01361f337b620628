"""Drafts of item files: every field editable, validated as ``xiaoshen kb validate`` does.

A draft is the item's YAML text with the operator's changes, kept apart from
the published file (``files.py``) until the gate lets it through.  Edits go
through ``knowledge_base.yamledit`` on the text, so the fields nobody touched
keep their comments and layout, and every edit is verified: the new text must
parse to exactly the old data with the intended change.

Field kinds, as the editor shows them: ``text`` (one line), ``textarea``,
``date`` (YYYY-MM-DD), ``lines`` (a list of strings, one a line) and ``yaml``
(the structured fields: materials, steps, locations, FAQs…, as a YAML snippet).
``id``, ``status`` and ``history`` are not edited here: the id names the file,
status is the lifecycle's (publish and retire), history is appended by the
workbench itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from assistant.core.errors import Conflict, InvalidInput, KnowledgeBaseError, NotFound
from assistant.core.types import ServiceItem
from assistant.workbench.files import read_json, safe_name, sha, write_atomic, write_json
from knowledge_base.loader import CatalogEntry, Problem, check_item, item_files, load_yaml, parse_item
from knowledge_base.yamledit import remove_key, replace_block

READONLY = ("id", "status", "history")
TEXT = ("name", "name_en", "kind", "domain", "department", "phone")
TEXTAREA = ("summary", "summary_en", "fees", "fees_en", "time_limit", "time_limit_en")
DATES = ("updated", "effective_from", "effective_to")
LINES = ("aliases", "conditions", "conditions_en", "legal_basis", "related", "prerequisites")
YAML_FIELDS = ("situations", "materials", "process", "locations", "online", "faqs", "benefit", "eligibility")
#: the editor's order (the exemplar item's order).
FIELD_ORDER = tuple(f.name for f in dataclasses.fields(ServiceItem) if f.name not in READONLY)


def field_kind(name: str) -> str:
    """The editor kind of a top-level item field."""
    for kind, names in (("text", TEXT), ("textarea", TEXTAREA), ("date", DATES), ("lines", LINES), ("yaml", YAML_FIELDS)):
        if name in names:
            return kind
    if name in FIELD_ORDER:
        return "yaml"  # a structured field added to ServiceItem later: edited as a YAML snippet
    raise InvalidInput(f"{name!r} is not an editable item field; edit one of {', '.join(FIELD_ORDER)}")


def _plain(value: Any) -> Any:
    """YAML data with dates as ISO strings (what the editor and the diff show)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def show_value(name: str, value: Any) -> str:
    """A field's value as the editor's text."""
    kind = field_kind(name)
    if value is None:
        return ""
    if kind == "lines":
        return "\n".join(str(v) for v in value or ())
    if kind == "yaml":
        return yaml.safe_dump(_plain(value), allow_unicode=True, sort_keys=False, width=1000) if value else ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def parse_value(name: str, text: str) -> Any:
    """The editor's text of a field as the value the file holds (InvalidInput naming the field)."""
    kind = field_kind(name)
    if not isinstance(text, str):
        raise InvalidInput(f"{name}: send the field as text")
    if kind == "text":
        return text.strip()
    if kind == "textarea":
        return text.strip()
    if kind == "date":
        if not text.strip():
            return None
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise InvalidInput(f"{name}: {text.strip()!r} is not a date; write it as YYYY-MM-DD") from None
    if kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if not text.strip():
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{name}: not valid YAML{where} ({getattr(e, 'problem', e)}); fix the snippet") from None


def apply_fields(text: str, changes: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with the edited fields set; returns the new text and the fields that changed.

    Raises InvalidInput for an unknown field or unreadable value, and
    KnowledgeBaseError when the edit would change anything else.
    """
    data = load_yaml(text)
    if not isinstance(data, dict):
        raise KnowledgeBaseError("the item file must hold one mapping of fields")
    expected = dict(data)
    changed: list[str] = []
    for name, raw in changes.items():
        value = parse_value(name, raw)
        old = data.get(name)
        empty = value in (None, "", [])
        if _plain(old) == _plain(value) or (empty and old in (None, "", [])):
            continue
        changed.append(name)
        if empty and name in data:
            text = remove_key(text, name)
            expected.pop(name, None)
        else:
            position = FIELD_ORDER.index(name)
            text = replace_block(text, name, value, after=tuple(reversed(FIELD_ORDER[:position])))
            expected[name] = value
    after = load_yaml(text)
    if _plain(after) != _plain(expected):
        raise KnowledgeBaseError(f"editing {', '.join(changed)} would change other fields; edit the file by hand")
    return text, changed


def fields_view(text: str) -> list[dict[str, str]]:
    """Every editable field of an item text: name, kind and the editor's value."""
    data = load_yaml(text)
    data = data if isinstance(data, dict) else {}
    return [{"name": n, "kind": field_kind(n), "value": show_value(n, data.get(n))} for n in FIELD_ORDER]


# --------------------------------------------------------------------------- validation


def parse_text(text: str, item_id: str) -> tuple[ServiceItem | None, list[Problem]]:
    """Parse an item text as ``kb validate`` parses a file named ``ITEM.yaml``."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="xs-draft-") as tmp:
        path = Path(tmp) / f"{item_id}.yaml"
        path.write_text(text, encoding="utf-8")
        return parse_item(path)


def validate_text(
    text: str, item_id: str, kb_dir: Path, catalog: Sequence[CatalogEntry] | None, *, as_published: bool = True
) -> tuple[ServiceItem | None, list[str]]:
    """The item and every problem ``kb validate`` would report for it (as one-line strings).

    ``as_published`` checks the item as it would be once published (the draft of a
    draft item must pass as a published one before it can be published).
    """
    item, problems = parse_text(text, item_id)
    if item is None or problems:
        return item, [str(p) for p in problems]
    candidate = dataclasses.replace(item, status="published") if as_published else item
    known = [p.stem for p in item_files(kb_dir)]
    return item, [str(p) for p in check_item(candidate, known, catalog)]


# --------------------------------------------------------------------------- diff


def field_diff(before: Any, after: Any) -> list[dict[str, Any]]:
    """Field-level differences between two item texts' data (history left out).

    Each change names the field, its values before and after, and for list
    fields the entries added and removed.
    """
    old = _plain(before) if isinstance(before, dict) else {}
    new = _plain(after) if isinstance(after, dict) else {}
    out = []
    for name in [*new, *(k for k in old if k not in new)]:
        if name == "history" or old.get(name) == new.get(name):
            continue
        a, b = old.get(name), new.get(name)
        change: dict[str, Any] = {"field": name, "before": a, "after": b}
        if isinstance(a, list) or isinstance(b, list):
            a_list, b_list = a or [], b or []
            key = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)  # noqa: E731
            a_keys, b_keys = {key(v) for v in a_list}, {key(v) for v in b_list}
            change["added"] = [v for v in b_list if key(v) not in a_keys]
            change["removed"] = [v for v in a_list if key(v) not in b_keys]
        out.append(change)
    return out


# --------------------------------------------------------------------------- the stores


@dataclass(frozen=True)
class Draft:
    """An operator's draft of one item."""

    item_id: str
    text: str
    #: sha of the published file the draft started from ("" for a new item).
    base_sha: str
    by: str
    updated_at: str
    #: missed questions the draft is meant to answer (the gate runs them).
    questions: tuple[str, ...] = ()

    @property
    def sha(self) -> str:
        """Fingerprint of the draft text (a gate result is for one text)."""
        return sha(self.text)


class DraftStore:
    """Drafts as files: ``ITEM.yaml`` (the text) and ``ITEM.json`` (who, when, base, questions)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _paths(self, item_id: str) -> tuple[Path, Path]:
        safe_name(item_id, "item id")
        return self.root / f"{item_id}.yaml", self.root / f"{item_id}.json"

    def get(self, item_id: str) -> Draft | None:
        """The draft of ``item_id``, or None."""
        text_path, meta_path = self._paths(item_id)
        if not text_path.is_file():
            return None
        meta = read_json(meta_path, {})
        return Draft(
            item_id,
            text_path.read_text(encoding="utf-8"),
            meta.get("base_sha", ""),
            meta.get("by", ""),
            meta.get("updated_at", ""),
            tuple(meta.get("questions", ())),
        )

    def save(self, draft: Draft) -> Draft:
        """Write the draft (text and meta)."""
        text_path, meta_path = self._paths(draft.item_id)
        write_atomic(text_path, draft.text)
        write_json(
            meta_path,
            {"base_sha": draft.base_sha, "by": draft.by, "updated_at": draft.updated_at, "questions": list(draft.questions)},
        )
        return draft

    def delete(self, item_id: str) -> None:
        """Drop the draft (after publishing or when discarded)."""
        for path in self._paths(item_id):
            path.unlink(missing_ok=True)

    def all(self) -> list[Draft]:
        """Every draft, by item id."""
        if not self.root.is_dir():
            return []
        return [d for p in sorted(self.root.glob("*.yaml")) if (d := self.get(p.stem)) is not None]


@dataclass(frozen=True)
class Version:
    """One published text of an item, kept by the workbench."""

    item_id: str
    n: int
    at: str
    by: str
    change: str
    sha: str
    #: the gate's verdict, or the supervisor's override with the reason.
    gate: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class VersionStore:
    """Every text the workbench published, per item: ``ITEM/NNNN.yaml`` + ``NNNN.json``.

    The text that was in the knowledge base before the workbench first
    published the item is kept as version 0 (``baseline``), so every version
    can be compared with the one before and rolled back to.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, item_id: str) -> Path:
        return self.root / safe_name(item_id, "item id")

    def list(self, item_id: str) -> list[Version]:
        """Versions, oldest first."""
        folder = self._dir(item_id)
        if not folder.is_dir():
            return []
        out = []
        for meta_path in sorted(folder.glob("*.json")):
            m = read_json(meta_path, {})
            out.append(Version(item_id, int(m["n"]), m["at"], m["by"], m["change"], m["sha"], m.get("gate", {})))
        return out

    def text(self, item_id: str, n: int) -> str:
        """The text of version ``n``; NotFound when there is none."""
        path = self._dir(item_id) / f"{n:04d}.yaml"
        if not path.is_file():
            raise NotFound(f"{item_id} has no version {n}; see its history for the versions kept")
        return path.read_text(encoding="utf-8")

    def add(self, item_id: str, text: str, *, at: str, by: str, change: str, gate: Mapping[str, Any] | None = None) -> Version:
        """Keep ``text`` as the next version (a text equal to the latest is not kept twice)."""
        versions = self.list(item_id)
        if versions and versions[-1].sha == sha(text):
            return versions[-1]
        n = versions[-1].n + 1 if versions else 0
        folder = self._dir(item_id)
        write_atomic(folder / f"{n:04d}.yaml", text)
        version = Version(item_id, n, at, by, change, sha(text), dict(gate or {}))
        write_json(folder / f"{n:04d}.json", {**dataclasses.asdict(version)})
        return version


def check_base(draft: Draft, published_text: str | None) -> None:
    """Refuse a draft whose item was published by someone else since it was started."""
    current = sha(published_text) if published_text is not None else ""
    if draft.base_sha != current:
        raise Conflict(
            f"{draft.item_id} was published by someone else after this draft was started; "
            "discard the draft and start again from the published item"
        )
