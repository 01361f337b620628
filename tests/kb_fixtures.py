"""Helpers for the knowledge-base tests: tiny item folders and catalogs in tmp dirs.

Never point these at the real ``knowledge_base/items``: tests mutate what they write.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import yaml

from assistant.core.types import FAQ, ServiceItem
from tests.fakes import tiny_items


def complete_items() -> list[ServiceItem]:
    """``tests.fakes.tiny_items`` made valid for publishing: 5+ aliases, 3+ FAQs, related links."""
    items = tiny_items()
    ids = [i.id for i in items]
    out = []
    for n, item in enumerate(items):
        aliases = tuple(dict.fromkeys((*item.aliases, item.name, f"{item.name}怎么办", f"办{item.name}", f"{item.name}流程")))
        faqs = tuple(
            FAQ(question=q, answer=item.summary)
            for q in (f"{item.name}怎么办？", f"{item.name}要多久？", f"{item.name}在哪里办？")
        )
        related = (ids[(n + 1) % len(ids)],)
        out.append(
            with_english(dataclasses.replace(item, aliases=aliases, faqs=faqs, related=related, phone=item.phone or "12345"))
        )
    return out


def with_english(item: ServiceItem) -> ServiceItem:
    """``item`` with an English text ("EN …") beside every Chinese answer field, as kb validate asks."""
    r = dataclasses.replace

    def en(text: str) -> str:
        return f"EN {text}" if text else ""

    return r(
        item,
        conditions_en=tuple(en(c) for c in item.conditions),
        fees_en=en(item.fees),
        time_limit_en=en(item.time_limit),
        situations=tuple(
            r(s, label_en=s.label_en or en(s.label), question_en=en(s.question), note_en=en(s.note),
              conditions_en=tuple(en(c) for c in s.conditions))
            for s in item.situations
        ),
        materials=tuple(r(m, name_en=en(m.name), note_en=en(m.note)) for m in item.materials),
        process=tuple(r(st, title_en=en(st.title), detail_en=en(st.detail), needs_en=en(st.needs)) for st in item.process),
        locations=tuple(
            r(loc, name_en=en(loc.name), address_en=en(loc.address), hours_en=en(loc.hours), note_en=en(loc.note))
            for loc in item.locations
        ),
        online=r(item.online, web_en=en(item.online.web), app_en=en(item.online.app), note_en=en(item.online.note)),
        faqs=tuple(
            r(f, question_en=en(f.question), answer_en=en(f.answer)) if f.lang == "zh" else f for f in item.faqs
        ),
    )


def item_data(item: ServiceItem) -> dict[str, object]:
    """The item as plain YAML-able data (dates as ISO strings)."""
    return json.loads(json.dumps(dataclasses.asdict(item), default=str, ensure_ascii=False))


def write_item(kb_dir: Path, item: ServiceItem | dict[str, object], *, comment: str = "") -> Path:
    """Write one item file the way people do: a comment line, then the fields in order."""
    data = item_data(item) if isinstance(item, ServiceItem) else item
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)
    path = kb_dir / f"{data['id']}.yaml"
    path.write_text((f"# {comment}\n" if comment else "") + text, encoding="utf-8")
    return path


def write_kb(kb_dir: Path, items: Iterable[ServiceItem]) -> Path:
    """A folder of item files."""
    kb_dir.mkdir(parents=True, exist_ok=True)
    for item in items:
        write_item(kb_dir, item, comment=f"{item.name}: test item")
    return kb_dir


def write_catalog(path: Path, items: Iterable[ServiceItem], extra: Iterable[tuple[str, str, str, str, str]] = ()) -> Path:
    """A catalog TSV naming ``items`` (plus ``extra`` rows: id, kind, domain, name, department)."""
    rows = ["id\tkind\tdomain\tname\tdepartment\tcolloquial_names"]
    rows += [f"{i.id}\t{i.kind}\t{i.domain}\t{i.name}\t{i.department}\t{';'.join(i.aliases[:2])}" for i in items]
    rows += ["\t".join((*r, "")) for r in extra]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
