"""Load and validate the knowledge base: one human-editable YAML file per item.

The file edge is validated with pydantic against ``assistant.types.ServiceItem``
(unknown keys rejected); everything after loading is plain frozen dataclasses.
Problems are reported as (file, field, reason), all of them, not just the first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from assistant.errors import KnowledgeBaseError
from assistant.types import ServiceItem

_ITEM_ADAPTER = TypeAdapter(ServiceItem)

#: Fields every published item must fill (bundles carry steps instead of materials).
REQUIRED_FIELDS: tuple[str, ...] = (
    "name",
    "domain",
    "department",
    "summary",
    "conditions",
    "process",
    "time_limit",
    "fees",
    "online",
    "legal_basis",
    "faqs",
)


@dataclass(frozen=True)
class CatalogEntry:
    """One row of ``service_catalog.tsv``."""

    id: str
    kind: str
    domain: str
    name: str
    department: str
    colloquial_names: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the knowledge base."""

    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


def read_catalog(path: Path) -> list[CatalogEntry]:
    """Read the service catalog TSV; raises KnowledgeBaseError when it is missing."""
    if not path.is_file():
        raise KnowledgeBaseError(
            f"service catalog {str(path)!r} not found; set XS_PATHS__CATALOG to the catalog TSV"
        )
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        CatalogEntry(
            id=r["id"].strip(),
            kind=r["kind"].strip(),
            domain=r["domain"].strip(),
            name=r["name"].strip(),
            department=r["department"].strip(),
            colloquial_names=tuple(
                n.strip() for n in (r.get("colloquial_names") or "").split(";") if n.strip()
            ),
        )
        for r in rows
    ]


def item_files(kb_dir: Path) -> list[Path]:
    """The item files of a knowledge-base folder, sorted."""
    return sorted(p for p in kb_dir.glob("*.yaml") if not p.name.startswith("_"))


def parse_item(path: Path) -> tuple[ServiceItem | None, list[Problem]]:
    """Parse one item file; returns the item (or None) and every problem found."""
    name = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        return None, [Problem(name, "-", f"cannot read file: {e}")]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return None, [Problem(name, "-", f"invalid YAML{where}: {getattr(e, 'problem', e)}")]
    if not isinstance(raw, dict):
        return None, [Problem(name, "-", "the file must hold one mapping of fields")]
    try:
        item = _ITEM_ADAPTER.validate_python(raw)
    except ValidationError as e:
        return None, [
            Problem(name, ".".join(str(p) for p in err["loc"]) or "-", err["msg"])
            for err in e.errors()
        ]
    problems: list[Problem] = []
    if path.stem != item.id:
        problems.append(Problem(name, "id", f"id {item.id!r} differs from the file name; rename one"))
    return item, problems


def load_items(kb_dir: Path, *, strict: bool = True) -> list[ServiceItem]:
    """Load every item of ``kb_dir``.

    With ``strict`` an invalid file raises KnowledgeBaseError listing every
    problem; otherwise invalid files are skipped.
    """
    if not kb_dir.is_dir():
        raise KnowledgeBaseError(
            f"knowledge base folder {str(kb_dir)!r} not found; set XS_PATHS__KB_DIR"
        )
    items: list[ServiceItem] = []
    problems: list[Problem] = []
    for path in item_files(kb_dir):
        item, found = parse_item(path)
        problems.extend(found)
        if item is not None and not found:
            items.append(item)
    if strict and problems:
        listing = "\n".join(str(p) for p in problems[:50])
        raise KnowledgeBaseError(
            f"{len(problems)} problem(s) in {kb_dir}; run 'xiaoshen kb validate':\n{listing}"
        )
    return items


def live_items(items: Iterable[ServiceItem], today: date | None = None) -> list[ServiceItem]:
    """Only published items whose effective dates include ``today``."""
    day = today or date.today()
    return [i for i in items if i.is_live(day)]


def validate(
    kb_dir: Path, catalog: Sequence[CatalogEntry] | None = None, *, require_all: bool = False
) -> list[Problem]:
    """Every problem of the knowledge base: file syntax, schema, links, coverage.

    ``require_all`` also reports catalog ids without an item file.
    """
    problems: list[Problem] = []
    items: dict[str, tuple[str, ServiceItem]] = {}
    for path in item_files(kb_dir):
        item, found = parse_item(path)
        problems.extend(found)
        if item is None:
            continue
        if item.id in items:
            problems.append(Problem(path.name, "id", f"duplicate id, also in {items[item.id][0]}"))
        items[item.id] = (path.name, item)

    by_id = {c.id: c for c in catalog or ()}
    for file, item in items.values():
        problems.extend(_check_item(file, item, by_id, items))
    if catalog is not None and require_all:
        for entry in catalog:
            if entry.id not in items:
                problems.append(
                    Problem(f"{entry.id}.yaml", "-", f"catalog id {entry.id!r} ({entry.name}) has no item file")
                )
    return problems


def _check_item(
    file: str,
    item: ServiceItem,
    catalog: dict[str, CatalogEntry],
    items: dict[str, tuple[str, ServiceItem]],
) -> list[Problem]:
    out: list[Problem] = []
    if catalog and item.id not in catalog:
        out.append(Problem(file, "id", f"{item.id!r} is not a catalog id; use an id of service_catalog.tsv"))
    entry = catalog.get(item.id)
    if entry is not None and entry.kind != item.kind:
        out.append(Problem(file, "kind", f"{item.kind!r} but the catalog says {entry.kind!r}"))
    if item.status == "published":
        for name in REQUIRED_FIELDS:
            value = getattr(item, name)
            if name == "online":
                empty = value.available and not (value.web or value.app)
            else:
                empty = not value
            if empty:
                out.append(Problem(file, name, "required for a published item but empty"))
        if item.kind != "bundle" and not item.materials:
            out.append(Problem(file, "materials", "required for a published item but empty"))
        if item.kind != "bundle" and not item.locations:
            out.append(Problem(file, "locations", "required for a published item but empty"))
    if item.effective_from and item.effective_to and item.effective_to < item.effective_from:
        out.append(Problem(file, "effective_to", "ends before effective_from"))
    if item.updated > date.today():
        out.append(Problem(file, "updated", f"{item.updated} is in the future"))
    for link_field in ("related", "prerequisites"):
        for target in getattr(item, link_field):
            if target not in items:
                out.append(Problem(file, link_field, f"links to {target!r}, which has no item file"))
    for i, step in enumerate(item.process):
        if step.item and step.item not in items:
            out.append(Problem(file, f"process.{i}.item", f"links to {step.item!r}, which has no item file"))
    if item.kind == "bundle" and not any(s.item for s in item.process):
        out.append(Problem(file, "process", "a bundle must list its member items as process steps with 'item'"))
    keys = [s.key for s in item.situations]
    if len(set(keys)) != len(keys):
        out.append(Problem(file, "situations", "situation keys must be unique"))
    for i, m in enumerate(item.materials):
        for key in m.situations:
            if key not in keys:
                out.append(Problem(file, f"materials.{i}.situations", f"unknown situation {key!r}"))
    if item.situations and len({s.question for s in item.situations}) != 1:
        out.append(Problem(file, "situations", "every situation must carry the same 'question' text"))
    if len(set(item.aliases)) != len(item.aliases):
        out.append(Problem(file, "aliases", "duplicate alias"))
    return out
