"""A ServiceItem as indexable Chunks, one per field (and per FAQ), with field weights.

Weights rank names and aliases above body text for lexical scoring; long
fields are split at sentence ends so a dense passage stays near the
embedder's sweet spot (~300 characters).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence

from assistant.core.types import Chunk, ServiceItem

#: Lexical weight per field (tuned on the development benchmark, see bench).
FIELD_WEIGHTS: dict[str, float] = {
    "name": 2.0,
    "summary": 1.2,
    "faq": 1.1,
    "situations": 1.0,
    "conditions": 1.0,
    "materials": 1.0,
    "process": 0.9,
    "fees": 1.0,
    "time_limit": 1.0,
    "locations": 0.8,
    "online": 0.8,
    "name_en": 2.0,
    "summary_en": 1.2,
    "conditions_en": 1.0,
    "materials_en": 1.0,
    "process_en": 0.9,
    "fees_en": 1.0,
    "time_limit_en": 1.0,
    "faq_en": 1.1,
}

#: English answer fields: indexed for English questions (a Chinese question's dense
#: search leaves them out, see HybridRetriever.dense_scores).
ENGLISH_ANSWER_FIELDS: frozenset[str] = frozenset(
    {"conditions_en", "materials_en", "process_en", "fees_en", "time_limit_en", "faq_en"}
)

#: The longest chunk, in characters, before a field is split.
MAX_CHARS = 300

_SPLIT_RE = re.compile(r"(?<=[。！？；!?;\n])")


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut after sentence ends."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SPLIT_RE.split(text) if s.strip()):
        while len(sentence) > limit:  # a sentence longer than the limit is cut hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:limit])
            sentence = sentence[limit:]
        if len(current) + len(sentence) > limit and current:
            pieces.append(current)
            current = ""
        current += sentence
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def _fields(item: ServiceItem) -> Iterator[tuple[str, str, str]]:
    """(field, text, lang) for every indexable field of ``item``."""
    names = [item.name, *[a for a in item.aliases if a != item.name]]
    # corpus items whose name is just the answer's first sentence get no name
    # chunk: it would weight one sentence of the answer twice
    if not item.summary.startswith(item.name) or item.aliases:
        yield "name", "；".join(names), "zh"
    yield "summary", item.summary, "zh"
    for s in item.situations:
        parts = [s.label, *s.conditions, s.note]
        yield "situations", "：".join(p for p in parts if p), "zh"
    if item.conditions:
        yield "conditions", "\n".join(item.conditions), "zh"
    if item.materials:
        yield "materials", "\n".join(f"{m.name}{('（' + m.note + '）') if m.note else ''}" for m in item.materials), "zh"
    if item.process:
        yield "process", "\n".join(f"{s.title}：{s.detail}" if s.detail else s.title for s in item.process), "zh"
    if item.fees:
        yield "fees", item.fees, "zh"
    if item.time_limit:
        yield "time_limit", item.time_limit, "zh"
    if item.locations:
        yield "locations", "\n".join("，".join(p for p in (loc.name, loc.address, loc.hours) if p) for loc in item.locations), "zh"
    online = item.online
    if online.available and (online.web or online.app or online.note):
        yield "online", "\n".join(p for p in (online.web, online.app, online.note) if p), "zh"
    for f in item.faqs:
        yield "faq", f"{f.question}\n{f.answer}", f.lang
    if item.name_en:
        en_aliases = [a for a in item.aliases if a.isascii()]
        yield "name_en", "; ".join([item.name_en, *en_aliases]), "en"
    if item.summary_en:
        yield "summary_en", item.summary_en, "en"
    # English answer fields: a foreigner's question meets the item's English text
    if item.conditions_en:
        yield "conditions_en", "\n".join(item.conditions_en), "en"
    if any(m.name_en for m in item.materials):
        yield "materials_en", "\n".join(m.name_en for m in item.materials if m.name_en), "en"
    if any(s.title_en for s in item.process):
        yield "process_en", "\n".join(
            f"{s.title_en}: {s.detail_en}" if s.detail_en else s.title_en for s in item.process if s.title_en
        ), "en"
    if item.fees_en:
        yield "fees_en", item.fees_en, "en"
    if item.time_limit_en:
        yield "time_limit_en", item.time_limit_en, "en"
    for f in item.faqs:
        if f.lang == "zh" and f.question_en and f.answer_en:
            yield "faq_en", f"{f.question_en}\n{f.answer_en}", "en"


def chunk_item(item: ServiceItem) -> list[Chunk]:
    """The chunks of one item, ids ``<item>#<field>:<n>`` (stable for unchanged items)."""
    chunks: list[Chunk] = []
    counts: dict[str, int] = {}
    for field, text, lang in _fields(item):
        for piece in split_text(text):
            n = counts.get(field, 0)
            counts[field] = n + 1
            chunks.append(
                Chunk(
                    id=f"{item.id}#{field}:{n}",
                    item_id=item.id,
                    field=field,
                    text=piece,
                    lang=lang,  # type: ignore[arg-type]
                    weight=FIELD_WEIGHTS.get(field, 1.0),
                )
            )
    return chunks


def dense_text(item_name: str, chunk: Chunk) -> str:
    """The text embedded for a chunk: the item's name gives every field its context."""
    if chunk.field in ("name", "name_en") or chunk.text.startswith(item_name):
        return chunk.text
    return f"{item_name}：{chunk.text}"


def item_hash(item: ServiceItem, chunks: Sequence[Chunk] | None = None) -> str:
    """A content hash of what the index holds for ``item`` (chunks and name).

    ``chunks`` are ``chunk_item(item)`` when the caller has them already.
    """
    payload = [item.name, item.department, list(item.aliases)] + [
        [c.id, c.field, c.text, c.lang, c.weight] for c in (chunk_item(item) if chunks is None else chunks)
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()
