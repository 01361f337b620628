"""corpus_items: external question-answer corpora as service items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.core.errors import KnowledgeBaseError
from retrieval.external_corpora import corpus_items, first_sentence, guide_id, guide_items
from tests.conftest import shared_file


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


def test_govqa_dev_loads() -> None:
    items = corpus_items(shared_file("data", "msgabench", "govqa_dev.jsonl"))
    assert len(items) == 1249 and len({i.id for i in items}) == 1249


# ---------------------------------------------------------------- service guides (办事指南)

#: A made-up guide in the Guangdong file's shape (not a row of the real file).
GUIDE = {
    "TASK_NAME": "示例证书补发",
    "matter_type": "公共服务",
    "DEPT_NAME": "示例市示例局",
    "AREA_CODE_TEXT": "广东省示例市",
    "district": "市级",
    "matter_level": "市级",
    "accept_standard": "证书遗失或损毁的持证人。",
    "material_intro": ["身份证明", "补发申请表"],
    "handle_location": "办理地点：示例市人民路1号",
    "handle_time": "20(工作日)",
    "handle_time_limit": "5(工作日)",
    "consult_phone": "电话：020-00000000",
    "complain_phone": "12345",
    "bear_paltform": "示例申办平台",
    "online_book": "是",
    "theme_category": ["职业资格"],
    "service_object_name": ["自然人"],
    "URL": "https://example.invalid/apply",
}


def test_a_guide_maps_onto_service_item_fields(tmp_path: Path) -> None:
    no_counter = {**GUIDE, "TASK_NAME": "示例查询", "handle_location": "无线下办理窗口", "material_intro": None}
    path = _write(tmp_path / "guides.jsonl", [GUIDE, no_counter])
    item, online_only = guide_items(path)
    assert item.id == guide_id(GUIDE) and item.id.startswith("gd-") and item.id != online_only.id
    assert item.name == "示例证书补发" and item.department == "示例市示例局" and item.domain == "职业资格"
    assert item.status == "published" and item.kind == "item"
    assert item.conditions == ("证书遗失或损毁的持证人。",)
    assert [m.name for m in item.materials] == ["身份证明", "补发申请表"]
    assert item.time_limit == "法定办结时限：20个工作日；承诺办结时限：5个工作日"
    assert item.phone == "020-00000000"
    assert item.locations[0].name == "示例市人民路1号" and item.locations[0].phone == "020-00000000"
    assert item.online.available and item.online.web == "https://example.invalid/apply"
    assert "示例申办平台" in item.online.note
    assert item.summary.startswith("示例市示例局办理的市级公共服务事项") and "投诉电话：12345" in item.summary
    assert online_only.locations == () and online_only.materials == () and "无线下办理窗口" in online_only.online.note
    # the id is a content key: reordering the file keeps it
    assert guide_items(_write(tmp_path / "rev.jsonl", [no_counter, GUIDE]))[1].id == item.id


def test_bad_guides_are_all_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [GUIDE, "{oops", {"TASK_NAME": "无部门"}, GUIDE])
    with pytest.raises(KnowledgeBaseError) as e:
        guide_items(path)
    msg = str(e.value)
    assert "line 2: invalid JSON" in msg and "line 3: needs non-empty" in msg and "line 4: repeats line 1" in msg
    with pytest.raises(KnowledgeBaseError, match="nope.jsonl"):
        guide_items(tmp_path / "nope.jsonl")


def test_material_queries_by_hand(tmp_path: Path) -> None:
    from retrieval.bench import material_queries

    a = {**GUIDE, "TASK_NAME": "甲事项", "material_intro": ["身份证明", "申请表", "照片"]}
    b = {**GUIDE, "TASK_NAME": "乙事项", "material_intro": ["身份证明", "申请表", "照片", "合同"]}
    c = {**GUIDE, "TASK_NAME": "丙证书补发办理", "material_intro": ["丙证书补发办理申请", "身份证明"]}
    items = guide_items(_write(tmp_path / "g.jsonl", [a, b, c]))
    qs = {q.case_id: q for q in material_queries(items)}
    # a's materials are all in b: both are right answers; c has one usable material (the other copies its name)
    assert qs[f"materials:{items[0].id}"].text == "需要准备：身份证明、申请表、照片"
    assert set(qs[f"materials:{items[0].id}"].gold) == {items[0].id, items[1].id}
    assert f"materials:{items[2].id}" not in qs


def test_guangdong_guides_load_and_the_question_set_resolves() -> None:
    from retrieval.bench import read_bench
    from retrieval.cli import _GUIDE_QUESTIONS

    items = guide_items(shared_file("data", "guangdong_guides", "service_guides.jsonl"))
    assert len(items) == 2262 and len({i.id for i in items}) == 2262
    ids = {i.id for i in items}
    names = {i.id: i.name for i in items}
    queries = read_bench(_GUIDE_QUESTIONS, ids)
    raw = [line for line in _GUIDE_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    assert len(queries) == len(raw) >= 70  # every question's gold is a real guide
    for q in queries:
        assert set(q.gold) <= ids
        assert not any(names[g] in q.text for g in q.gold), q.text  # never the official name verbatim
