"""Benchmarks from question-answer corpora (the format file's external corpora).

A corpus entry's ``question`` becomes a one-turn case whose acceptable item is
the entry itself; run it with ``--faq-corpus`` over the same file so the
knowledge base holds exactly the corpus's answers.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import InvalidInput


def _lang(text: str) -> str:
    letters = [ch for ch in text if ch.isalpha()]
    return "en" if letters and sum(ch.isascii() for ch in letters) / len(letters) > 0.7 else "zh"


def corpus_benchmark_lines(corpus: Path, *, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Benchmark lines (JSON strings) from a corpus, and the corpus lines skipped with why."""
    if not corpus.is_file():
        raise InvalidInput(f"corpus file {str(corpus)!r} not found; pass a JSONL corpus (id, answer, question…)")
    lines: list[str] = []
    problems: list[str] = []
    for number, text in enumerate(corpus.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            entry = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"line {number}: not valid JSON ({e.msg})")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"].strip():
            problems.append(f"line {number}: an entry needs a string 'id'")
            continue
        question = entry.get("question")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"line {number}: entry {entry['id']!r} has no question; skipped")
            continue
        case = {
            "id": f"q-{entry['id']}",
            "lang": _lang(question),
            "turns": [{"user": question.strip(), "expect": {"items": [entry["id"]], "action": "answer"}}],
        }
        lines.append(json.dumps(case, ensure_ascii=False))
        if limit is not None and len(lines) >= limit:
            break
    return lines, problems
