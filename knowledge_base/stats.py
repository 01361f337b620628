"""Coverage figures of the knowledge base: per field, per domain, by status.

``xiaoshen kb stats`` prints them as tables (or JSON); the knowledge operators
use them to see which fields and domains are thin.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

from assistant.core.types import ServiceItem
from knowledge_base.loader import CatalogEntry, service_today

#: Fields whose coverage is reported, in the order of the item schema.
COVERAGE_FIELDS: tuple[str, ...] = (
    "summary",
    "aliases",
    "name_en",
    "summary_en",
    "situations",
    "conditions",
    "materials",
    "process",
    "fees",
    "time_limit",
    "locations",
    "online",
    "legal_basis",
    "phone",
    "faqs",
    "related",
    "prerequisites",
    "effective_from",
    "history",
)


def _filled(item: ServiceItem, field: str) -> bool:
    value = getattr(item, field)
    if field == "online":
        return bool(value.web or value.app)
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value)


@dataclass(frozen=True)
class FieldCoverage:
    field: str
    filled: int
    total: int

    @property
    def share(self) -> float:
        return self.filled / self.total if self.total else 0.0


@dataclass(frozen=True)
class DomainStats:
    domain: str
    catalog: int
    items: int
    published: int
    live: int
    aliases: int
    faqs: int
    english: int
    situations: int


@dataclass(frozen=True)
class KBStats:
    """Every figure of ``xiaoshen kb stats``."""

    items: int
    catalog: int
    covered: int
    by_status: dict[str, int]
    live: int
    by_kind: dict[str, int]
    aliases: int
    faqs: int
    faqs_en: int
    english: int
    with_situations: int
    links: int
    fields: tuple[FieldCoverage, ...]
    domains: tuple[DomainStats, ...]

    def to_json(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        data = asdict(self)
        data["fields"] = {f.field: {"filled": f.filled, "total": f.total, "share": round(f.share, 4)} for f in self.fields}
        data["domains"] = {d.domain: {k: v for k, v in asdict(d).items() if k != "domain"} for d in self.domains}
        return data


def _english(item: ServiceItem) -> bool:
    return bool(item.name_en.strip() and item.summary_en.strip())


def compute(items: Sequence[ServiceItem], catalog: Sequence[CatalogEntry] = (), *, today: date | None = None) -> KBStats:
    """Figures for ``items`` (all statuses), against ``catalog`` when given."""
    day = today or service_today()
    catalog_ids = {c.id for c in catalog}
    ids = {i.id for i in items}
    domains = sorted({i.domain for i in items} | {c.domain for c in catalog})
    per_domain = []
    for d in domains:
        mine = [i for i in items if i.domain == d]
        per_domain.append(
            DomainStats(
                domain=d,
                catalog=sum(1 for c in catalog if c.domain == d),
                items=len(mine),
                published=sum(i.status == "published" for i in mine),
                live=sum(i.is_live(day) for i in mine),
                aliases=sum(len(i.aliases) for i in mine),
                faqs=sum(len(i.faqs) for i in mine),
                english=sum(_english(i) for i in mine),
                situations=sum(bool(i.situations) for i in mine),
            )
        )
    return KBStats(
        items=len(items),
        catalog=len(catalog_ids),
        covered=len(catalog_ids & ids),
        by_status={s: n for s, n in sorted(Counter(i.status for i in items).items())},
        live=sum(i.is_live(day) for i in items),
        by_kind={k: n for k, n in sorted(Counter(i.kind for i in items).items())},
        aliases=sum(len(i.aliases) for i in items),
        faqs=sum(len(i.faqs) for i in items),
        faqs_en=sum(1 for i in items for f in i.faqs if f.lang == "en"),
        english=sum(_english(i) for i in items),
        with_situations=sum(bool(i.situations) for i in items),
        links=sum(len(i.related) + len(i.prerequisites) + sum(1 for s in i.process if s.item) for i in items),
        fields=tuple(FieldCoverage(f, sum(_filled(i, f) for i in items), len(items)) for f in COVERAGE_FIELDS),
        domains=tuple(per_domain),
    )


def _width(text: str) -> int:
    # CJK characters take two terminal columns; pad by display width, not len()
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table aligned by display width (numbers right, text left)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(r[i], (int, float)) or str(r[i]).rstrip("%").replace(".", "").isdigit() for r in rows) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = []
        for i, c in enumerate(row):
            pad = " " * (widths[i] - _width(c))
            parts.append(pad + c if numeric[i] and n else c + pad)
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(stats: KBStats) -> str:
    """The stats as text tables."""
    out = []
    coverage = f"{stats.covered}/{stats.catalog} catalog ids covered" if stats.catalog else "no catalog given"
    out.append(
        f"{stats.items} items ({', '.join(f'{k} {v}' for k, v in stats.by_kind.items())}); {coverage}; "
        f"{stats.live} live today"
    )
    out.append("status: " + ", ".join(f"{k} {v}" for k, v in stats.by_status.items()))
    out.append(
        f"aliases {stats.aliases}, FAQs {stats.faqs} ({stats.faqs_en} English), English name+summary {stats.english} items, "
        f"situations in {stats.with_situations} items, links {stats.links}"
    )
    out.append("")
    out.append(table(("field", "filled", "of", "share"), [(f.field, f.filled, f.total, f"{100 * f.share:.0f}%") for f in stats.fields]))
    out.append("")
    out.append(
        table(
            ("domain", "catalog", "items", "published", "live", "aliases", "faqs", "english", "situations"),
            [(d.domain, d.catalog, d.items, d.published, d.live, d.aliases, d.faqs, d.english, d.situations) for d in stats.domains],
        )
    )
    return "\n".join(out)
