"""``xiaoshen kb import-faq``: JSONL, CSV and XLSX with a column mapping; bad rows by line."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.core.errors import InvalidInput
from knowledge_base import faq_import
from knowledge_base.cli import app
from knowledge_base.faq_import import BadRow, FaqRow, read_rows, write_collection
from knowledge_base.loader import load_items
from tests.kb_fixtures import complete_items, write_kb

TODAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)


def _jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "hotline.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"id": "h1", "question": "居住证多久能办好？", "answer": "自受理之日起15日内。", "department": "市公安局"}',
                "",
                "# a comment line",
                '{"id": "h2", "question": "没有答案的问题", "answer": ""}',
                '{"id": "h3", "question": "broken", "answer": "x"',
                '{"id": "h1", "question": "重复", "answer": "重复的编号"}',
                '["not", "an", "object"]',
                '{"id": "h4", "question": "What does it cost?", "answer": "The first permit is free.", "title": "Residence permit"}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def test_jsonl_good_rows_import_and_bad_rows_are_reported_by_line(tmp_path: Path) -> None:
    result = read_rows(_jsonl(tmp_path))
    assert [(r.line, r.id) for r in result.rows] == [(1, "h1"), (8, "h4")]
    assert result.rows[0] == FaqRow(1, "居住证多久能办好？", "自受理之日起15日内。", "h1", "", "市公安局")
    assert [b.line for b in result.bad] == [4, 5, 6, 7]
    assert result.bad[0].reason == "missing or empty answer (column 'answer')"
    assert result.bad[1].reason.startswith("invalid JSON")
    assert result.bad[2].reason == "id 'h1' repeats line 1"
    assert result.bad[3].reason == "a line must hold one JSON object"


def test_csv_with_mapping_multiline_cells_and_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "编号,标准问,官方答复,部门\n"
        'c1,社保卡丢了怎么办？,"先挂失，\n再到网点补办。",人社局\n'
        "c2,缺一列\n"
        "c3,公积金怎么提取？,,公积金中心\n"
        "c4,护照多少钱？,以公布标准为准,出入境\n",
        encoding="utf-8-sig",
    )
    result = read_rows(path, mapping=faq_import.parse_mapping("question=标准问,answer=官方答复"))
    assert [(r.line, r.id, r.department) for r in result.rows] == [(2, "c1", "人社局"), (6, "c4", "出入境")]
    assert result.rows[0].answer == "先挂失，\n再到网点补办。"
    assert result.bad == (
        BadRow(4, "2 cells but the header has 4; check quoting and commas"),
        BadRow(5, "missing or empty answer (column '官方答复')"),
    )


def test_csv_mapping_to_a_missing_column_fails_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("q,a\n问,答\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no column 'Answer' in faq.csv; columns are q, a"):
        read_rows(path, mapping={"answer": "Answer"})
    assert [r.answer for r in read_rows(path).rows] == ["答"]  # q/a are recognised headers


def test_gbk_csv_needs_the_encoding_option(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("问题,答案\n怎么办,去窗口\n".encode("gbk"))
    with pytest.raises(InvalidInput, match="--encoding gbk"):
        read_rows(path)
    assert read_rows(path, encoding="gbk").rows[0].answer == "去窗口"


def _xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "FAQ"
    ws.append(["ID", "Question", "Answer", "Title"])
    ws.append([101, "办营业执照要多久？", "材料齐全的一般当场或数个工作日内办结。", "企业开办"])
    ws.append([102, "没有答案", None, "企业开办"])
    ws.append([None, None, None, None])
    ws.append([103, "刻章去哪里？", "到公安备案的刻章企业。", None])
    book.save(path)
    return path


def test_xlsx_rows_are_numbered_like_the_sheet(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "faq.xlsx")
    result = read_rows(path, mapping=faq_import.parse_mapping("id=ID,question=Question,answer=Answer,title=Title"))
    assert [(r.line, r.id, r.title) for r in result.rows] == [(2, "101", "企业开办"), (5, "103", "")]
    assert result.bad == (BadRow(3, "missing or empty answer (column 'Answer')"),)
    with pytest.raises(InvalidInput, match="no sheet 'Other'"):
        read_rows(path, sheet="Other")


def test_mapping_and_format_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--map field 'body' is unknown"):
        faq_import.parse_mapping("body=x")
    with pytest.raises(InvalidInput, match="needs the form field=COLUMN"):
        faq_import.parse_mapping("question")
    odd = tmp_path / "faq.txt"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInput, match="pass --format jsonl\\|csv\\|xlsx"):
        read_rows(odd)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_rows(tmp_path / "nope.csv")


def test_collection_is_written_in_corpus_format_and_merges_by_id(tmp_path: Path) -> None:
    out = tmp_path / "faq" / "hotline.jsonl"
    rows = read_rows(_jsonl(tmp_path)).rows
    first = write_collection(out, "hotline", rows)
    assert (first.added, first.replaced) == (2, 0)
    lines = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"id": "h1", "answer": "自受理之日起15日内。", "question": "居住证多久能办好？", "title": "", "department": "市公安局"}
    assert list(lines[0]) == ["id", "answer", "question", "title", "department"]
    again = write_collection(out, "hotline", rows)
    assert (again.added, again.replaced) == (0, 0)
    changed = write_collection(out, "hotline", [FaqRow(1, "居住证多久能办好？", "15个工作日内。", "h1")])
    assert (changed.added, changed.replaced) == (0, 1)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_rows_without_id_get_a_stable_content_id(tmp_path: Path) -> None:
    row = FaqRow(2, "问", "答")
    assert faq_import.collection_id("c", row) == faq_import.collection_id("c", FaqRow(9, "问", "答"))
    assert faq_import.collection_id("c", row) != faq_import.collection_id("c", FaqRow(2, "问", "另一个答"))
    out = tmp_path / "c.jsonl"
    write_collection(out, "c", [row])
    assert json.loads(out.read_text(encoding="utf-8"))["id"].startswith("c-")


def test_attach_to_item_appends_faqs_with_history_and_skips_known_questions(tmp_path: Path) -> None:
    kb_dir = write_kb(tmp_path / "items", complete_items())
    path = kb_dir / "passport-apply.yaml"
    before = path.read_text(encoding="utf-8")
    known = complete_items()[7].faqs[0].question
    rows = [
        FaqRow(2, "护照丢了能补吗？", "可以补办，先挂失。"),
        FaqRow(3, known, "重复的问题"),
        FaqRow(4, "", "没有问题的答案"),
        FaqRow(5, "Can foreigners apply?", "No, ordinary passports are for Chinese citizens."),
    ]
    done = faq_import.attach_to_item(kb_dir, "passport-apply", rows, by="运营", source="faq.csv", today=TODAY, at=AT)
    assert (done.added, [b.line for b in done.skipped]) == (2, [3, 4])
    item = {i.id: i for i in load_items(kb_dir)}["passport-apply"]
    assert [(f.question, f.lang) for f in item.faqs[-2:]] == [("护照丢了能补吗？", "zh"), ("Can foreigners apply?", "en")]
    assert item.updated == TODAY
    assert (item.history[-1].by, item.history[-1].change) == ("运营", "imported 2 FAQ(s) from faq.csv")
    after = path.read_text(encoding="utf-8")
    assert after.startswith("# 普通护照申领: test item\n")
    assert after.splitlines()[: before.splitlines().index("updated: '2026-11-01'")] == before.splitlines()[
        : before.splitlines().index("updated: '2026-11-01'")
    ]


def test_cli_imports_good_rows_reports_bad_ones_and_exits_1(tmp_path: Path) -> None:
    src = _jsonl(tmp_path)
    out = tmp_path / "out" / "hotline.jsonl"
    r = CliRunner().invoke(app, ["import-faq", str(src), "--collection", "hotline", "--out", str(out)])
    assert r.exit_code == 1
    assert "hotline.jsonl: line 4: missing or empty answer (column 'answer')" in r.output
    assert f"{out}: 2 added, 0 replaced; 6 rows read, 4 not imported" in r.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_cli_attach_to_item_from_xlsx(tmp_path: Path) -> None:
    kb_dir = write_kb(tmp_path / "items", complete_items())
    src = _xlsx(tmp_path / "faq.xlsx")
    r = CliRunner().invoke(
        app,
        ["import-faq", str(src), "--attach-to", "business-establish", "--map", "question=Question,answer=Answer",
         "--by", "运营", "--kb-dir", str(kb_dir)],
    )
    assert r.exit_code == 1  # row 3 has no answer
    assert "faq.xlsx: line 3: missing or empty answer" in r.output
    item = {i.id: i for i in load_items(kb_dir)}["business-establish"]
    assert [f.question for f in item.faqs[-2:]] == ["办营业执照要多久？", "刻章去哪里？"]


def test_cli_needs_a_destination(tmp_path: Path) -> None:
    src = _jsonl(tmp_path)
    r = CliRunner().invoke(app, ["import-faq", str(src)])
    assert isinstance(r.exception, InvalidInput) and "--attach-to ITEM" in str(r.exception)
    r = CliRunner().invoke(app, ["import-faq", str(src), "--collection", "Bad Name"])
    assert isinstance(r.exception, InvalidInput) and "lower-case" in str(r.exception)


def test_a_written_collection_loads_as_a_retrieval_corpus(tmp_path: Path) -> None:
    from retrieval.external_corpora import read_corpus

    out = tmp_path / "collections" / "hotline.jsonl"
    out.parent.mkdir()
    out.write_text("# hotline FAQ, imported for the evaluators\n", encoding="utf-8")
    write_collection(out, "hotline", [*read_rows(_jsonl(tmp_path)).rows, FaqRow(9, "", "只有答案的条目")])
    assert out.read_text(encoding="utf-8").startswith("# hotline FAQ, imported for the evaluators\n{")
    entries = read_corpus(out)
    assert [e["id"] for e in entries][:2] == ["h1", "h4"]
    assert entries[2]["id"].startswith("hotline-") and entries[2]["answer"] == "只有答案的条目"


def test_validate_checks_faq_collections_beside_the_items(tmp_path: Path) -> None:
    from tests.kb_fixtures import write_catalog

    items = complete_items()
    kb_dir = write_kb(tmp_path / "items", items)
    catalog = write_catalog(tmp_path / "c.tsv", items)
    write_collection(tmp_path / "faq" / "good.jsonl", "good", read_rows(_jsonl(tmp_path)).rows)
    args = ["validate", "--kb-dir", str(kb_dir), "--catalog", str(catalog)]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert "1 FAQ collection(s); 0 problem(s)" in ok.output
    (tmp_path / "faq" / "bad.jsonl").write_text(
        '{"id": "x", "answer": "a"}\n{"id": "x", "answer": "b"}\n{"id": "y"}\nnot json\n{"id": "z", "answer": "c", "body": 1}\n',
        encoding="utf-8",
    )
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 1
    assert bad.output.splitlines()[:4] == [
        "bad.jsonl: line 2: duplicate id 'x', first on line 1",
        "bad.jsonl: line 3: 'id' and 'answer' are required and non-empty",
        "bad.jsonl: line 4: invalid JSON (Expecting value)",
        "bad.jsonl: line 5: unknown key(s) ['body']; corpus keys are id, question, answer, title, department",
    ]
