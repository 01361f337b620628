"""corpus_items: external question-answer corpora as service items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import KnowledgeBaseError
from retrieval.corpus import corpus_items, first_sentence


def _write(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_entries_become_published_items(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "c.jsonl",
        [
            "# a comment",
            {"id": "q1", "answer": "携带身份证到窗口办理。当场办结。", "question": "怎么办？", "department": "公安局"},
            "",
            {"id": "q2", "answer": "不收费", "title": "收费标准"},
        ],
    )
    items = corpus_items(path)
    assert [i.id for i in items] == ["q1", "q2"]
    q1, q2 = items
    assert q1.name == "携带身份证到窗口办理" and q1.summary == "携带身份证到窗口办理。当场办结。"
    assert q1.department == "公安局" and q1.status == "published" and q1.faqs == ()
    assert q2.name == "收费标准" and q2.department == "未注明部门"
    with_q = corpus_items(path, with_questions=True)
    assert with_q[0].name == "怎么办？" and with_q[0].faqs[0].question == "怎么办？"


def test_bad_lines_are_all_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [{"id": "a", "answer": "x"}, "{not json", {"id": "a", "answer": "y"}, {"id": "b"}])
    with pytest.raises(KnowledgeBaseError) as e:
        corpus_items(path)
    msg = str(e.value)
    assert "line 2" in msg and "line 3: duplicate id 'a'" in msg and "line 4" in msg


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="nope.jsonl"):
        corpus_items(tmp_path / "nope.jsonl")


def test_first_sentence() -> None:
    assert first_sentence("第一句。第二句") == "第一句"
    assert first_sentence("没有句号" * 20) == ("没有句号" * 20)[:40]


def test_govqa_dev_loads(shared_dir: Path) -> None:
    path = shared_dir / "data" / "msgabench" / "govqa_dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    items = corpus_items(path)
    assert len(items) == 1249 and len({i.id for i in items}) == 1249
