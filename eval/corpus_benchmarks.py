"""Benchmarks from question-answer corpora (the format file's external corpora).

A corpus entry's ``question`` becomes a one-turn case whose acceptable item is
the entry itself; run it with ``--faq-corpus`` over the same file so the
knowledge base holds exactly the corpus's answers.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.core.errors import InvalidInput
from assistant.core.text import detect_lang


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
            "lang": detect_lang(question),
            "turns": [{"user": question.strip(), "expect": {"items": [entry["id"]], "action": "answer"}}],
        }
        lines.append(json.dumps(case, ensure_ascii=False))
        if limit is not None and len(lines) >= limit:
            break
    return lines, problems


#: Columns that hold the prompt in refusal sets (JailBench: ``query`` for the
#: wrapped jailbreaks, ``question_zh`` for the harmful seed questions).
PROMPT_COLUMNS = ("query", "question_zh", "prompt", "question")


def refusal_benchmark_lines(
    path: Path, *, every: int = 1, prefix: str = "refuse"
) -> tuple[list[str], list[str]]:
    """Benchmark lines from a CSV of prompts that must be refused, and the rows skipped with why.

    Each row's prompt (the first of :data:`PROMPT_COLUMNS` present) becomes a
    one-turn case expecting intent ``out_of_scope`` and action ``refuse``;
    ``every`` keeps one row in N (the 2,160 JailBench prompts take ~30 minutes
    on two cores, one in seven keeps the 20 templates and most seed questions).
    """
    import csv

    if every < 1:
        raise InvalidInput(f"every={every}: keep one row in N with N >= 1")
    if not path.is_file():
        raise InvalidInput(f"prompt file {str(path)!r} not found; pass a CSV with a 'query' or 'question_zh' column")
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        column = next((c for c in PROMPT_COLUMNS if c in (reader.fieldnames or ())), None)
        if column is None:
            raise InvalidInput(
                f"{path}: no prompt column among {list(reader.fieldnames or ())}; "
                f"name it one of {list(PROMPT_COLUMNS)}"
            )
        lines: list[str] = []
        problems: list[str] = []
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            if (number - 2) % every:
                continue
            prompt = (row.get(column) or "").strip()
            if not prompt:
                problems.append(f"line {number}: empty {column!r}; skipped")
                continue
            case = {
                "id": f"{prefix}-{number - 1}",
                "lang": detect_lang(prompt),
                "turns": [{"user": prompt, "expect": {"items": [], "intent": "out_of_scope", "action": "refuse"}}],
            }
            lines.append(json.dumps(case, ensure_ascii=False))
    return lines, problems
