"""``xiaoshen kb stats`` and ``xiaoshen kb build`` on tiny knowledge bases."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.core.types import FAQ
from knowledge_base.cli import app
from knowledge_base.loader import read_catalog
from knowledge_base.stats import compute, render, table
from tests.fakes import KeywordEmbedder, tiny_items
from tests.kb_fixtures import write_catalog, write_kb

TODAY = date(2026, 11, 25)


def _items() -> list:
    items = tiny_items()
    items[3] = dataclasses.replace(items[3], status="draft", name_en="", summary_en="Card")  # social-security-card
    items[7] = dataclasses.replace(items[7], status="retired", faqs=(*items[7].faqs, FAQ("Cost?", "See the office.", "en")))
    return items


def test_figures_are_counted_from_the_items(tmp_path: Path) -> None:
    items = _items()
    catalog = read_catalog(
        write_catalog(tmp_path / "c.tsv", items, extra=[("passport-lost", "item", "出入境", "护照挂失", "出入境管理局")])
    )
    s = compute(items, catalog, today=TODAY)
    assert (s.items, s.catalog, s.covered, s.live) == (10, 11, 10, 8)
    assert s.by_status == {"draft": 1, "published": 8, "retired": 1}
    assert s.by_kind == {"bundle": 1, "item": 9}
    assert s.aliases == sum(len(i.aliases) for i in items) == 50
    assert (s.faqs, s.faqs_en) == (11, 1)
    assert s.english == 0  # name_en alone (no summary_en) does not count as English
    assert s.with_situations == 1
    assert s.links == 2  # the bundle's two member steps
    fields = {f.field: (f.filled, f.total) for f in s.fields}
    assert fields["name_en"] == (1, 10) and fields["summary_en"] == (1, 10) and fields["materials"] == (9, 10)
    domains = {d.domain: d for d in s.domains}
    assert (domains["出入境"].catalog, domains["出入境"].items, domains["出入境"].live) == (2, 1, 0)
    assert (domains["公积金"].items, domains["公积金"].faqs, domains["公积金"].aliases) == (3, 3, 15)


def test_render_shows_tables_and_json_is_plain_data(tmp_path: Path) -> None:
    s = compute(_items(), today=TODAY)
    text = render(s)
    assert text.splitlines()[0] == "10 items (bundle 1, item 9); no catalog given; 8 live today"
    assert "status: draft 1, published 8, retired 1" in text
    assert any(line.split() == ["materials", "9", "10", "90%"] for line in text.splitlines())
    data = json.loads(json.dumps(s.to_json(), ensure_ascii=False))
    assert data["fields"]["materials"] == {"filled": 9, "total": 10, "share": 0.9}
    assert data["domains"]["公积金"]["items"] == 3


def test_table_aligns_chinese_by_display_width() -> None:
    out = table(("domain", "n"), [("公积金", 3), ("tax", 12)]).splitlines()
    assert out == ["domain  n", "------  --", "公积金   3", "tax     12"]


def test_cli_stats_json(tmp_path: Path) -> None:
    items = _items()
    kb_dir = write_kb(tmp_path / "items", items)
    catalog = write_catalog(tmp_path / "c.tsv", items)
    r = CliRunner().invoke(app, ["stats", "--kb-dir", str(kb_dir), "--catalog", str(catalog), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert (data["items"], data["covered"], data["catalog"], data["live"]) == (10, 10, 10, 8)


def test_cli_build_indexes_the_live_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.wiring

    kb_dir = write_kb(tmp_path / "items", _items())
    monkeypatch.setenv("XS_PATHS__KB_DIR", str(kb_dir))
    monkeypatch.setenv("XS_PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XS_INTENTS__BACKEND", "rules")
    monkeypatch.delenv("XS_CONFIG", raising=False)
    # the real embedder needs minutes on 2 cores; the fake one keeps this a unit test
    monkeypatch.setattr(assistant.wiring, "make_embedder", lambda settings, cache_dir: KeywordEmbedder())
    r = CliRunner().invoke(app, ["build"])
    assert r.exit_code == 0, (r.output, r.exception)
    assert "indexed 8 live items of 10" in r.output
    assert "embedder fake-keyword" in r.output
    assert any((tmp_path / "data" / "index" / "kb").iterdir())
