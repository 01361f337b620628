"""Content checks of ``kb validate`` beyond the schema: English text, benefits, bundles.

- **English**: every field that answers use carries English text (a foreigner
  is answered in English, with the official Chinese names in brackets), so
  each missing ``*_en`` field of a published item is one problem.
- **Benefits**: an item that pays something (补贴, 津贴, 保险金, 低保, 养老金 …) says
  what it pays in ``benefit`` (amount with the year it took effect, or the
  honest pointer to the official standard); ``fees`` stays what applying costs.
- **Bundles**: a 一件事 bundle's step must not contradict its member item: a
  document the step asks for that the member item does not ask for, or a
  deadline the member item does not state, is reported.

Each check returns ``(field, reason)`` pairs; the loader turns them into Problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from assistant.core.text import cn_to_int
from assistant.core.types import ServiceItem

#: Words in an item's name that mark an item paying money to a citizen or company.
BENEFIT_NAME = re.compile(r"津贴|补贴|补助|救助|保险金|低保|养老金|待遇|抚恤|报销|生活费|奖励|资助")

#: Documents a bundle step may name; each must be asked for by the member item too.
DOCUMENTS: tuple[str, ...] = (
    "户口簿",
    "居民身份证",
    "身份证",
    "结婚证",
    "离婚证",
    "出生医学证明",
    "居住证",
    "护照",
    "死亡证明",
    "火化证明",
    "营业执照",
    "社保卡",
    "不动产权证书",
    "房产证",
    "驾驶证",
    "行驶证",
    "毕业证书",
    "劳动合同",
)

_NUM = r"(?:\d+|[一二两三四五六七八九十百]+)"
#: Deadlines and durations (30日, 一个月, 15个工作日, 3年): a bundle step stating one
#: its member item does not state has drifted from it.
DURATION = re.compile(_NUM + r"\s*(?:个)?(?:工作日|自然日|日|天|周|个月|月|年)(?:内)?")


def english_problems(item: ServiceItem) -> Iterator[tuple[str, str]]:
    """Each answer field of ``item`` whose English text is missing."""

    def need(value: str, english: str, field: str) -> Iterator[tuple[str, str]]:
        if value.strip() and not english.strip():
            yield field, "has Chinese text but no English; add the English (official Chinese names in brackets)"

    if item.conditions and len(item.conditions_en) != len(item.conditions):
        yield (
            "conditions_en",
            f"{len(item.conditions_en)} English line(s) for {len(item.conditions)} condition(s); "
            "give one English line per condition, in the same order",
        )
    yield from need(item.fees, item.fees_en, "fees_en")
    yield from need(item.time_limit, item.time_limit_en, "time_limit_en")
    for i, s in enumerate(item.situations):
        yield from need(s.label, s.label_en, f"situations.{i}.label_en")
        yield from need(s.question, s.question_en, f"situations.{i}.question_en")
        yield from need(s.note, s.note_en, f"situations.{i}.note_en")
        if s.conditions and len(s.conditions_en) != len(s.conditions):
            yield (
                f"situations.{i}.conditions_en",
                f"{len(s.conditions_en)} English line(s) for {len(s.conditions)} condition(s); one per condition",
            )
    for i, m in enumerate(item.materials):
        yield from need(m.name, m.name_en, f"materials.{i}.name_en")
        yield from need(m.note, m.note_en, f"materials.{i}.note_en")
    for i, st in enumerate(item.process):
        yield from need(st.title, st.title_en, f"process.{i}.title_en")
        yield from need(st.detail, st.detail_en, f"process.{i}.detail_en")
        yield from need(st.needs, st.needs_en, f"process.{i}.needs_en")
    for i, loc in enumerate(item.locations):
        yield from need(loc.name, loc.name_en, f"locations.{i}.name_en")
        yield from need(loc.address, loc.address_en, f"locations.{i}.address_en")
        yield from need(loc.hours, loc.hours_en, f"locations.{i}.hours_en")
        yield from need(loc.note, loc.note_en, f"locations.{i}.note_en")
    yield from need(item.online.web, item.online.web_en, "online.web_en")
    yield from need(item.online.app, item.online.app_en, "online.app_en")
    yield from need(item.online.note, item.online.note_en, "online.note_en")
    for i, faq in enumerate(item.faqs):
        if faq.lang == "zh":
            yield from need(faq.question, faq.question_en, f"faqs.{i}.question_en")
            yield from need(faq.answer, faq.answer_en, f"faqs.{i}.answer_en")
    if item.benefit is not None:
        yield from need(item.benefit.amount, item.benefit.amount_en, "benefit.amount_en")


def pays_benefit(item: ServiceItem) -> bool:
    """True when the item's name says it pays something (a subsidy, allowance, benefit…)."""
    return item.kind != "bundle" and bool(BENEFIT_NAME.search(item.name))


def benefit_problems(item: ServiceItem) -> Iterator[tuple[str, str]]:
    """A paying item without its ``benefit``, or a benefit with neither amount nor source."""
    if item.benefit is None:
        if pays_benefit(item):
            yield (
                "benefit",
                f"{item.name} pays a benefit but says nothing of what it pays; add 'benefit' with the amount "
                "(and the year it took effect) or the pointer to the official standard",
            )
        return
    if not item.benefit.amount.strip():
        yield "benefit.amount", "empty; state what the benefit pays or where the official standard is published"
    if not item.benefit.source.strip():
        yield "benefit.source", "empty; name the document or official channel the amount comes from"


def _item_text(item: ServiceItem) -> str:
    """Every Chinese text of an item that could state a document or a deadline."""
    parts = [item.summary, item.fees, item.time_limit, *item.conditions]
    parts += [f"{m.name} {m.note}" for m in item.materials]
    parts += [f"{s.title} {s.detail} {s.needs}" for s in item.process]
    parts += [f"{s.label} {' '.join(s.conditions)} {s.note}" for s in item.situations]
    parts += [f"{f.question} {f.answer}" for f in item.faqs if f.lang == "zh"]
    return "\n".join(parts)


def _asks_for(text: str, document: str) -> bool:
    """``document`` is named in ``text`` and not only as a document no longer needed."""
    for match in re.finditer(re.escape(document), text):
        before = text[max(0, match.start() - 8) : match.start()]
        if not re.search(r"无需|不需|不再|免于|免交|不用|不必|取消", before):
            return True
    return False


def _documents(text: str) -> set[str]:
    """The documents of ``DOCUMENTS`` that ``text`` asks for (the longest name wins)."""
    found = {d for d in DOCUMENTS if _asks_for(text, d)}
    # 居民身份证 contains 身份证: keep the longer name only
    return {d for d in found if not any(d != o and d in o for o in found)}


def _durations(text: str) -> set[str]:
    """The durations of ``text`` in one spelling (一个月内 and 1个月 are both 1个月)."""
    out = set()
    for match in DURATION.finditer(text):
        compact = re.sub(r"\s+", "", match.group(0)).removesuffix("内")
        number = re.match(r"\d+|[一二两三四五六七八九十百]+", compact)
        if number:
            value = int(number.group(0)) if number.group(0).isdigit() else cn_to_int(number.group(0))
            compact = f"{value}{compact[number.end() :]}"
        out.add(compact.replace("个", ""))
    return out


def bundle_problems(item: ServiceItem, items: Mapping[str, ServiceItem]) -> Iterator[tuple[str, str]]:
    """Each bundle step that asks for a document or states a deadline its member item does not.

    A member that is itself a bundle speaks for its own members too.
    """
    if item.kind != "bundle":
        return
    for i, step in enumerate(item.process):
        member = items.get(step.item) if step.item else None
        if member is None:
            continue
        step_text = f"{step.title} {step.detail} {step.needs}"
        speakers = [member]
        if member.kind == "bundle":
            speakers += [items[s.item] for s in member.process if s.item in items]
        member_text = "\n".join(_item_text(m) for m in speakers)
        member_docs = _documents(member_text) | {
            d for d in DOCUMENTS for m in speakers if d in " ".join(x.name for x in m.materials)
        }
        # the document the member item issues (社保卡 for 社会保障卡申领) is its result, not a need
        issued = " ".join([member.name, *member.aliases])
        for document in sorted(_documents(step_text)):
            if document in issued:
                continue
            if document not in member_docs and not any(document in d or d in document for d in member_docs):
                yield (
                    f"process.{i}",
                    f"asks for {document}, which its member item {member.id} does not ask for; "
                    "align the step with the member item (or correct the member item)",
                )
        member_durations = _durations(member_text)
        for duration in sorted(_durations(step_text) - member_durations):
            yield (
                f"process.{i}",
                f"states {duration}, which its member item {member.id} does not state; "
                "align the step's deadline with the member item",
            )
