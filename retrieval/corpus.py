"""External question-answer corpora as service items.

A corpus (``shared/benchmark-format.md``, "External question-answer corpora")
is JSON Lines, one entry a line::

    {"id": "faq-0001", "answer": "...", "question": "optional", "title": "optional", "department": "optional"}

Each entry becomes a published :class:`ServiceItem` so the same retriever,
benchmark and evaluation runner work on it as on the Shanghai knowledge base.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from assistant.errors import KnowledgeBaseError
from assistant.types import FAQ, ServiceItem

#: The longest item name taken from the first sentence of an answer.
_NAME_CHARS = 40
_SENTENCE_END = re.compile(r"[。！？!?；;\n]")


def first_sentence(text: str, limit: int = _NAME_CHARS) -> str:
    """The first sentence of ``text`` (at most ``limit`` characters), for a name."""
    text = text.strip()
    m = _SENTENCE_END.search(text)
    head = text[: m.start()] if m and m.start() > 0 else text
    return head[:limit].strip() or text[:limit]


def read_corpus(path: Path) -> list[dict[str, str]]:
    """The entries of a corpus file, validated; blank and ``#`` lines are skipped.

    Raises KnowledgeBaseError listing every bad line (line number and reason),
    so a corpus is never half-loaded silently.
    """
    if not path.is_file():
        raise KnowledgeBaseError(f"corpus file {str(path)!r} not found; pass an existing JSONL corpus")
    entries: list[dict[str, str]] = []
    problems: list[str] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: invalid JSON ({e.msg})")
                continue
            if not isinstance(raw, dict):
                problems.append(f"line {n}: must be a JSON object")
                continue
            cid = str(raw.get("id") or "").strip()
            answer = str(raw.get("answer") or "").strip()
            if not cid or not answer:
                problems.append(f"line {n}: 'id' and 'answer' are required and non-empty")
                continue
            if cid in seen:
                problems.append(f"line {n}: duplicate id {cid!r}")
                continue
            seen.add(cid)
            entries.append(
                {
                    "id": cid,
                    "answer": answer,
                    "question": str(raw.get("question") or "").strip(),
                    "title": str(raw.get("title") or "").strip(),
                    "department": str(raw.get("department") or "").strip(),
                }
            )
    if problems:
        listing = "; ".join(problems[:20])
        raise KnowledgeBaseError(
            f"{len(problems)} bad line(s) in corpus {path}: {listing}; fix them (format: shared/benchmark-format.md)"
        )
    if not entries:
        raise KnowledgeBaseError(f"corpus {path} has no entry; it needs lines with 'id' and 'answer'")
    return entries


def corpus_items(path: Path | str, *, with_questions: bool = False) -> list[ServiceItem]:
    """Read a question-answer corpus as published service items.

    The item's ``summary`` is the answer; its ``name`` is the title, else the
    first sentence of the answer; ``department`` and ``domain`` come from the
    entry's department.  The entry's own ``question`` is left out by default,
    because benchmarks built from the same file (govqa_dev) ask exactly those
    questions and would otherwise measure string equality, not retrieval;
    pass ``with_questions=True`` to index a deployment's standard questions
    (as the name when there is no title, and as an FAQ).
    """
    path = Path(path)
    entries = read_corpus(path)
    # the corpus has no dates; its file date is the honest "updated"
    updated = date.fromtimestamp(path.stat().st_mtime)
    items: list[ServiceItem] = []
    for e in entries:
        question = e["question"] if with_questions else ""
        name = e["title"] or question or first_sentence(e["answer"])
        department = e["department"] or "未注明部门"
        items.append(
            ServiceItem(
                id=e["id"],
                kind="item",
                name=name,
                domain=department,
                department=department,
                summary=e["answer"],
                updated=updated,
                status="published",
                faqs=(FAQ(question=question, answer=e["answer"]),) if question else (),
            )
        )
    return items
