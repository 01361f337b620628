"""Load and validate the knowledge base: one human-editable YAML file per item.

The file edge is validated with pydantic against ``assistant.core.types.ServiceItem``
(unknown keys rejected); everything after loading is plain frozen dataclasses.
Problems are reported as (file, field, reason), all of them, not just the first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from assistant.core.errors import KnowledgeBaseError
from assistant.core.types import ServiceItem
from knowledge_base.content_checks import benefit_problems, bundle_problems, english_problems
from knowledge_base.eligibility_checks import eligibility_problems

_ITEM_ADAPTER = TypeAdapter(ServiceItem)

# libyaml's loader gives the same data as the pure-Python one (checked on every
# item file) about 8x faster; PyYAML wheels ship it, source builds may not.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: Shanghai time: China keeps UTC+8 all year, so a fixed offset needs no tz database.
SHANGHAI = timezone(timedelta(hours=8))


def service_today() -> date:
    """Today's date in Shanghai, the day item dates (updated, effective_*) refer to.

    Servers often run in UTC, which is a day behind Shanghai from 16:00 to 24:00
    UTC; an item effective "from today" must be live for Shanghai's today.
    """
    return datetime.now(SHANGHAI).date()


def load_yaml(text: str) -> object:
    """Parse YAML text safely (plain data only), with libyaml when available."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader

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
    "phone",
    "faqs",
    "related",
)

#: Minimum aliases and FAQs of a published item (issue 3): people ask in many ways.
MIN_ALIASES = 5
MIN_FAQS = 3


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
        raw = load_yaml(path.read_text(encoding="utf-8"))
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
    """Only published items whose effective dates include ``today`` (default: Shanghai's today)."""
    day = today or service_today()
    return [i for i in items if i.is_live(day)]




@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating a knowledge-base folder against the catalog."""

    problems: tuple[Problem, ...]
    #: ids of the items that parsed (valid schema), whatever their status.
    item_ids: tuple[str, ...]
    #: catalog ids, in catalog order (empty when no catalog was given).
    catalog_ids: tuple[str, ...]

    @property
    def covered(self) -> tuple[str, ...]:
        """Catalog ids that have a parsed item file."""
        have = set(self.item_ids)
        return tuple(i for i in self.catalog_ids if i in have)

    @property
    def missing(self) -> tuple[str, ...]:
        """Catalog ids without a parsed item file."""
        have = set(self.item_ids)
        return tuple(i for i in self.catalog_ids if i not in have)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def check(
    kb_dir: Path,
    catalog: Sequence[CatalogEntry] | None = None,
    *,
    require_all: bool = False,
    today: date | None = None,
) -> ValidationReport:
    """Validate ``kb_dir`` and say which catalog ids it covers.

    Checks, each reported as a Problem(file, field, reason): YAML syntax and
    schema; the id matches the file name and is a catalog id with the
    catalog's kind, name, domain and department; required fields of published
    items are filled (at least ``MIN_ALIASES`` aliases and ``MIN_FAQS`` FAQs);
    dates are consistent and not in the future; related, prerequisites and
    bundle steps link to existing items, never to the item itself, and
    prerequisites have no cycle; situations are consistent.  With
    ``require_all`` every catalog id must have an item file.
    """
    if not kb_dir.is_dir():
        raise KnowledgeBaseError(
            f"knowledge base folder {str(kb_dir)!r} not found; pass --kb-dir or set XS_PATHS__KB_DIR"
        )
    day = today or service_today()
    problems: list[Problem] = []
    items: dict[str, tuple[str, ServiceItem]] = {}
    for path in item_files(kb_dir):
        item, found = parse_item(path)
        problems.extend(found)
        if item is None:
            continue
        if item.id in items:
            problems.append(Problem(path.name, "id", f"duplicate id {item.id!r}, also in {items[item.id][0]}"))
            continue
        items[item.id] = (path.name, item)

    by_id = {c.id: c for c in catalog or ()}
    for file, item in items.values():
        problems.extend(_check_item(file, item, by_id, items, day))
    members = {i: it for i, (_, it) in items.items()}
    for file, item in items.values():
        problems.extend(Problem(file, f, r) for f, r in bundle_problems(item, members))
    problems.extend(_check_prerequisite_cycles(items))
    if catalog is not None and require_all:
        for entry in catalog:
            if entry.id not in items:
                problems.append(
                    Problem(f"{entry.id}.yaml", "-", f"catalog id {entry.id!r} ({entry.name}) has no valid item file")
                )
    return ValidationReport(
        problems=tuple(problems),
        item_ids=tuple(items),
        catalog_ids=tuple(c.id for c in catalog or ()),
    )


def validate(
    kb_dir: Path,
    catalog: Sequence[CatalogEntry] | None = None,
    *,
    require_all: bool = False,
    today: date | None = None,
) -> list[Problem]:
    """Every problem of the knowledge base (see :func:`check`), as a list."""
    return list(check(kb_dir, catalog, require_all=require_all, today=today).problems)


def check_item(
    item: ServiceItem,
    known_ids: Iterable[str],
    catalog: Sequence[CatalogEntry] | None = None,
    *,
    file: str | None = None,
    today: date | None = None,
) -> list[Problem]:
    """The problems of one item, given the ids its links may point to.

    Used by the lifecycle commands to refuse publishing an incomplete item.
    """
    ids = set(known_ids) | {item.id}
    # Only membership matters for links, so the map values are placeholders.
    items = {i: ("", item) for i in ids}
    return _check_item(
        file or f"{item.id}.yaml", item, {c.id: c for c in catalog or ()}, items, today or service_today()
    )


def _blank(value: str) -> bool:
    return not value.strip()


def _check_item(
    file: str,
    item: ServiceItem,
    catalog: dict[str, CatalogEntry],
    items: dict[str, tuple[str, ServiceItem]],
    today: date,
) -> list[Problem]:
    out: list[Problem] = []

    def bad(field: str, reason: str) -> None:
        out.append(Problem(file, field, reason))

    # -- catalog identity
    if catalog and item.id not in catalog:
        bad("id", f"{item.id!r} is not a catalog id; use an id of service_catalog.tsv")
    entry = catalog.get(item.id)
    if entry is not None:
        for name in ("kind", "name", "domain", "department"):
            if getattr(item, name) != getattr(entry, name):
                bad(name, f"{getattr(item, name)!r} but the catalog says {getattr(entry, name)!r}; use the catalog's")

    # -- required content of published items
    if item.status == "published":
        for name in REQUIRED_FIELDS:
            value = getattr(item, name)
            if name == "online":
                empty = value.available and not (value.web or value.app)
            elif isinstance(value, str):
                empty = _blank(value)
            else:
                empty = not value
            if empty:
                bad(name, "required for a published item but empty")
        if item.kind != "bundle" and not item.materials:
            bad("materials", "required for a published item but empty")
        if item.kind != "bundle" and not item.locations:
            bad("locations", "required for a published item but empty")
        if len(item.aliases) < MIN_ALIASES:
            bad("aliases", f"{len(item.aliases)} alias(es); a published item needs at least {MIN_ALIASES}")
        if len(item.faqs) < MIN_FAQS:
            bad("faqs", f"{len(item.faqs)} FAQ(s); a published item needs at least {MIN_FAQS}")
    for i, alias in enumerate(item.aliases):
        if _blank(alias):
            bad(f"aliases.{i}", "empty alias; remove it")
    if len(set(item.aliases)) != len(item.aliases):
        dupes = sorted({a for a in item.aliases if item.aliases.count(a) > 1})
        bad("aliases", f"duplicate alias(es) {', '.join(dupes)}; keep one of each")
    for i, faq in enumerate(item.faqs):
        if _blank(faq.question) or _blank(faq.answer):
            bad(f"faqs.{i}", "a FAQ needs both a question and an answer")
    questions = [f.question.strip() for f in item.faqs]
    if len(set(questions)) != len(questions):
        bad("faqs", "duplicate FAQ question; merge the answers")
    for name in ("conditions", "legal_basis"):
        for i, text in enumerate(getattr(item, name)):
            if _blank(text):
                bad(f"{name}.{i}", "empty entry; remove it")
    for i, m in enumerate(item.materials):
        if _blank(m.name):
            bad(f"materials.{i}.name", "a material needs a name")
        if m.count < 1:
            bad(f"materials.{i}.count", f"count {m.count} must be at least 1")
    for i, step in enumerate(item.process):
        if _blank(step.title):
            bad(f"process.{i}.title", "a step needs a title")
    if item.summary_en and not item.name_en:
        bad("name_en", "summary_en is filled but name_en is empty; add the English name")
    if item.status == "published":
        for field, reason in (*english_problems(item), *benefit_problems(item)):
            bad(field, reason)
    # -- machine-checkable conditions (the policy check-up): faithful to the text, known fields only
    for field, reason in eligibility_problems(item):
        bad(field, reason)

    # -- dates
    if item.effective_from and item.effective_to and item.effective_to < item.effective_from:
        bad("effective_to", f"{item.effective_to} is before effective_from {item.effective_from}")
    if item.updated > today:
        bad("updated", f"{item.updated} is in the future (today is {today}); use the date of the last content change")
    if item.status == "retired" and item.effective_to and item.effective_to > today:
        bad(
            "effective_to",
            f"retired item effective until {item.effective_to}, after today; "
            "keep it published with effective_to to schedule a retirement",
        )
    previous = None
    for i, record in enumerate(item.history):
        at = record.at.date()
        if at > today:
            bad(f"history.{i}.at", f"{record.at.isoformat()} is in the future")
        if _blank(record.by) or _blank(record.change):
            bad(f"history.{i}", "a history entry needs 'by' (who) and 'change' (what)")
        if previous is not None and _comparable(previous, record.at) and record.at < previous:
            bad(f"history.{i}.at", f"{record.at.isoformat()} is earlier than the entry before it; keep history in time order")
        previous = record.at

    # -- links
    for link_field in ("related", "prerequisites"):
        targets = getattr(item, link_field)
        for target in targets:
            if target == item.id:
                bad(link_field, f"links to itself ({target!r}); remove it")
            elif target not in items:
                bad(link_field, f"links to {target!r}, which has no item file")
        if len(set(targets)) != len(targets):
            bad(link_field, "duplicate link; keep one")
    for i, step in enumerate(item.process):
        if not step.item:
            continue
        if step.item == item.id:
            bad(f"process.{i}.item", "a step cannot name the item itself")
        elif step.item not in items:
            bad(f"process.{i}.item", f"links to {step.item!r}, which has no item file")
    if item.kind == "bundle":
        members = [s.item for s in item.process if s.item]
        if not members:
            bad("process", "a bundle must list its member items as process steps with 'item'")
        if len(set(members)) != len(members):
            bad("process", "a bundle lists the same member item twice")

    # -- situations: the assistant asks one question that tells them apart
    keys = [s.key for s in item.situations]
    if len(set(keys)) != len(keys):
        bad("situations", "situation keys must be unique")
    if len(item.situations) == 1:
        bad("situations", "a single situation tells nothing apart; add the others or move its conditions up")
    if item.situations:
        asked = {s.question.strip() for s in item.situations}
        if len(asked) != 1:
            bad("situations", "every situation must carry the same 'question' text")
        elif "" in asked:
            bad("situations", "situations need the 'question' that tells them apart")
    for i, s in enumerate(item.situations):
        if _blank(s.key) or _blank(s.label):
            bad(f"situations.{i}", "a situation needs a key and a label")
    for i, m in enumerate(item.materials):
        for key in m.situations:
            if key not in keys:
                bad(f"materials.{i}.situations", f"unknown situation {key!r}; use one of {keys or 'none defined'}")
    return out


def _comparable(a: datetime, b: datetime) -> bool:
    # naive and aware datetimes cannot be ordered; YAML lets authors write either.
    return (a.tzinfo is None) == (b.tzinfo is None)


def _check_prerequisite_cycles(items: dict[str, tuple[str, ServiceItem]]) -> list[Problem]:
    """A prerequisite cycle would make 'what must I do first' unanswerable."""
    out: list[Problem] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in items[node][1].prerequisites:
            if nxt not in items:
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    out.append(
                        Problem(items[node][0], "prerequisites", f"prerequisite cycle {' -> '.join(cycle)}; break it")
                    )
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in items:
        if node not in state:
            visit(node, [])
    return out
