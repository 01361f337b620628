"""``xiaoshen kb validate``: every problem as (file, field, reason), coverage of the catalog.

The first test runs over the real knowledge base and the real catalog; the
rest use tiny item folders written to tmp_path.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant.core.types import FAQ, Material, Situation, Step
from knowledge_base.cli import app
from knowledge_base.loader import check, read_catalog, validate
from tests.kb_fixtures import complete_items, item_data, write_catalog, write_item, write_kb

REPO = Path(__file__).resolve().parents[1]
#: the service catalog, shipped with the knowledge base (product data)
CATALOG = REPO / "knowledge_base" / "catalog" / "service_catalog.tsv"
TODAY = date(2026, 11, 25)


def test_real_knowledge_base_covers_the_whole_catalog_without_problems() -> None:
    catalog = read_catalog(CATALOG)
    report = check(REPO / "knowledge_base" / "items", catalog, require_all=True)
    assert len(report.catalog_ids) == 120
    problems = "\n".join(str(p) for p in report.problems[:40])
    assert not report.problems, f"{len(report.problems)} problem(s):\n{problems}"
    assert len(report.covered) == 120, f"missing: {report.missing}"


def test_real_knowledge_base_meets_the_counts_of_issue_3() -> None:
    from knowledge_base.graph import KnowledgeBase
    from knowledge_base.stats import compute

    catalog = read_catalog(CATALOG)
    kb = KnowledgeBase.load(REPO / "knowledge_base" / "items")
    items = list(kb)
    figures = compute(items, catalog)
    assert figures.covered == 120 and figures.by_status.get("published") == 120
    thin = [(i.id, len(i.aliases), len(i.faqs)) for i in items if len(i.aliases) < 5 or len(i.faqs) < 3]
    assert not thin, f"items under 5 aliases or 3 FAQs: {thin}"
    assert figures.english >= 25, f"only {figures.english} items have an English name and summary"
    bundles = [i for i in items if i.kind == "bundle"]
    assert len(bundles) == 9
    short = [b.id for b in bundles if len(kb.members(b.id, live_only=False)) < 2]
    assert not short, f"bundles with fewer than 2 member items: {short}"
    # the situations the issue names: 居住证 by employed / studying / …
    assert {"employed", "studying"} <= {s.key for s in kb.get("residence-permit-apply").situations}
    # 营业执照 before 刻章 and 发票
    for item_id in ("business-seal", "tax-invoice-apply"):
        assert "business-establish" in [p.id for p in kb.prerequisite_chain(item_id, live_only=False)], item_id


@pytest.fixture
def kb(tmp_path: Path) -> tuple[Path, Path]:
    items = complete_items()
    kb_dir = write_kb(tmp_path / "items", items)
    catalog = write_catalog(tmp_path / "catalog.tsv", items)
    return kb_dir, catalog


def _problems(kb_dir: Path, catalog: Path, **kw: object) -> list[str]:
    return [str(p) for p in validate(kb_dir, read_catalog(catalog), require_all=True, today=TODAY, **kw)]


def _rewrite(kb_dir: Path, item_id: str, **changes: object) -> None:
    from knowledge_base.loader import parse_item

    item, _ = parse_item(kb_dir / f"{item_id}.yaml")
    assert item is not None
    write_item(kb_dir, dataclasses.replace(item, **changes))


def test_a_complete_tiny_knowledge_base_has_no_problem(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    assert _problems(kb_dir, catalog) == []
    report = check(kb_dir, read_catalog(catalog), require_all=True, today=TODAY)
    assert report.ok and len(report.covered) == 10 and report.missing == ()


def test_missing_catalog_id_and_unknown_id_are_reported(kb: tuple[Path, Path], tmp_path: Path) -> None:
    kb_dir, _ = kb
    items = complete_items()
    catalog = write_catalog(
        tmp_path / "catalog2.tsv", items[1:], extra=[("passport-lost", "item", "出入境", "护照挂失", "上海市公安局出入境管理局")]
    )
    found = _problems(kb_dir, catalog)
    assert "residence-permit-apply.yaml: id: 'residence-permit-apply' is not a catalog id; use an id of service_catalog.tsv" in found
    assert any(p.startswith("passport-lost.yaml: -: catalog id 'passport-lost' (护照挂失) has no valid item file") for p in found)
    report = check(kb_dir, read_catalog(catalog), require_all=True, today=TODAY)
    assert report.missing == ("passport-lost",)
    assert len(report.covered) == 9


def test_links_must_resolve_and_not_point_at_the_item_itself(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    _rewrite(kb_dir, "business-establish", related=("business-establish", "no-such-item"), prerequisites=("gone-item",))
    _rewrite(
        kb_dir,
        "onething-birth",
        process=(Step(title="户口", item="hukou-newborn"), Step(title="不存在", item="missing-step")),
    )
    found = _problems(kb_dir, catalog)
    assert "business-establish.yaml: related: links to itself ('business-establish'); remove it" in found
    assert "business-establish.yaml: related: links to 'no-such-item', which has no item file" in found
    assert "business-establish.yaml: prerequisites: links to 'gone-item', which has no item file" in found
    assert "onething-birth.yaml: process.1.item: links to 'missing-step', which has no item file" in found


def test_prerequisite_cycles_are_reported_once(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    _rewrite(kb_dir, "passport-apply", prerequisites=("social-security-card",))
    _rewrite(kb_dir, "social-security-card", prerequisites=("passport-apply",))
    cycles = [p for p in _problems(kb_dir, catalog) if "cycle" in p]
    assert len(cycles) == 1
    assert "passport-apply -> social-security-card -> passport-apply" in cycles[0] or (
        "social-security-card -> passport-apply -> social-security-card" in cycles[0]
    )


def test_published_items_need_aliases_faqs_and_required_fields(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    item = complete_items()[7]  # passport-apply
    _rewrite(kb_dir, item.id, aliases=item.aliases[:4], faqs=item.faqs[:2], fees="  ", legal_basis=())
    found = _problems(kb_dir, catalog)
    assert "passport-apply.yaml: aliases: 4 alias(es); a published item needs at least 5" in found
    assert "passport-apply.yaml: faqs: 2 FAQ(s); a published item needs at least 3" in found
    assert "passport-apply.yaml: fees: required for a published item but empty" in found
    assert "passport-apply.yaml: legal_basis: required for a published item but empty" in found


def test_drafts_may_be_incomplete(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    item = complete_items()[7]
    _rewrite(kb_dir, item.id, status="draft", aliases=item.aliases[:1], faqs=(), fees="")
    assert _problems(kb_dir, catalog) == []


def test_dates_must_be_consistent(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    _rewrite(kb_dir, "passport-apply", effective_from=date(2026, 6, 1), effective_to=date(2026, 1, 1))
    _rewrite(kb_dir, "hukou-newborn", updated=date(2027, 1, 1))
    _rewrite(kb_dir, "social-security-card", status="retired", effective_to=date(2026, 12, 31))
    found = _problems(kb_dir, catalog)
    assert "passport-apply.yaml: effective_to: 2026-01-01 is before effective_from 2026-06-01" in found
    assert any(p.startswith("hukou-newborn.yaml: updated: 2027-01-01 is in the future") for p in found)
    assert any(p.startswith("social-security-card.yaml: effective_to: retired item effective until 2026-12-31") for p in found)


def test_an_invalid_date_is_a_schema_problem(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    path = kb_dir / "passport-apply.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("updated: '2026-11-01'", "updated: '2026-13-45'"), encoding="utf-8")
    found = _problems(kb_dir, catalog)
    assert any(p.startswith("passport-apply.yaml: updated: ") for p in found)
    # an unparsable file leaves its catalog id uncovered
    assert any(p.startswith("passport-apply.yaml: -: catalog id 'passport-apply'") for p in found)


def test_situations_must_share_one_question_and_materials_name_known_situations(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    _rewrite(
        kb_dir,
        "residence-permit-apply",
        situations=(
            Situation(key="employed", label="在沪就业", question="您是就业还是就读？"),
            Situation(key="studying", label="在沪就读", question="您在上海读书吗？"),
        ),
        materials=(Material(name="劳动合同", situations=("employed", "retired")),),
    )
    _rewrite(kb_dir, "hukou-newborn", situations=(Situation(key="only", label="唯一情形", question="？"),))
    found = _problems(kb_dir, catalog)
    assert "residence-permit-apply.yaml: situations: every situation must carry the same 'question' text" in found
    assert (
        "residence-permit-apply.yaml: materials.0.situations: unknown situation 'retired'; use one of ['employed', 'studying']"
        in found
    )
    assert any(p.startswith("hukou-newborn.yaml: situations: a single situation tells nothing apart") for p in found)


def test_identity_must_match_the_catalog(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    _rewrite(kb_dir, "passport-apply", name="护照办理", department="上海市公安局")
    found = _problems(kb_dir, catalog)
    assert "passport-apply.yaml: name: '护照办理' but the catalog says '普通护照申领'; use the catalog's" in found
    assert any(p.startswith("passport-apply.yaml: department: '上海市公安局'") for p in found)


def test_yaml_and_schema_errors_name_the_line_and_field(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    (kb_dir / "passport-apply.yaml").write_text("id: passport-apply\nname: [unclosed\n", encoding="utf-8")
    data = item_data(complete_items()[3])
    data["colour"] = "blue"
    write_item(kb_dir, data)
    found = _problems(kb_dir, catalog)
    assert any(p.startswith("passport-apply.yaml: -: invalid YAML at line") for p in found)
    assert any(p.startswith("social-security-card.yaml: colour: ") for p in found)


def test_duplicate_aliases_and_faq_questions(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    item = complete_items()[7]
    _rewrite(
        kb_dir,
        item.id,
        aliases=(*item.aliases, "护照"),
        faqs=(*item.faqs, FAQ(question=item.faqs[0].question, answer="另一个答案")),
    )
    found = _problems(kb_dir, catalog)
    assert "passport-apply.yaml: aliases: duplicate alias(es) 护照; keep one of each" in found
    assert "passport-apply.yaml: faqs: duplicate FAQ question; merge the answers" in found


def test_cli_validate_exit_codes_and_summary(kb: tuple[Path, Path]) -> None:
    kb_dir, catalog = kb
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--kb-dir", str(kb_dir), "--catalog", str(catalog)])
    assert ok.exit_code == 0, ok.output
    assert "10/10 catalog ids covered; 0 FAQ collection(s); 0 problem(s)" in ok.output

    _rewrite(kb_dir, "passport-apply", related=("nowhere",))
    bad = runner.invoke(app, ["validate", "--kb-dir", str(kb_dir), "--catalog", str(catalog)])
    assert bad.exit_code == 1
    assert "passport-apply.yaml: related: links to 'nowhere', which has no item file" in bad.output
    assert "1 problem(s)" in bad.output


def test_cli_validate_reports_a_missing_catalog_clearly(kb: tuple[Path, Path], tmp_path: Path) -> None:
    from assistant.core.errors import KnowledgeBaseError

    kb_dir, _ = kb
    result = CliRunner().invoke(app, ["validate", "--kb-dir", str(kb_dir), "--catalog", str(tmp_path / "none.tsv")])
    assert isinstance(result.exception, KnowledgeBaseError)
    assert "none.tsv" in str(result.exception)


def test_loader_round_trips_the_written_items(kb: tuple[Path, Path]) -> None:
    from knowledge_base.loader import load_items

    kb_dir, _ = kb
    loaded = {i.id: i for i in load_items(kb_dir)}
    for item in complete_items():
        assert loaded[item.id] == item
    raw = yaml.safe_load((kb_dir / "onething-birth.yaml").read_text(encoding="utf-8"))
    assert raw["process"][0]["item"] == "hukou-newborn"


def test_service_today_is_shanghai_date() -> None:
    from datetime import datetime, timedelta, timezone

    from knowledge_base.loader import service_today

    # Shanghai is UTC+8 all year: between 16:00 and 24:00 UTC it is already tomorrow there
    expected = (datetime.now(timezone.utc) + timedelta(hours=8)).date()
    assert service_today() == expected


def test_the_catalog_ships_with_the_knowledge_base_and_is_the_default() -> None:
    from assistant.core.settings import PathsSettings

    assert PathsSettings().catalog == CATALOG and CATALOG.is_file()
    assert "../shared" not in str(PathsSettings().catalog) and "shared" not in CATALOG.parts


def test_the_shipped_catalog_is_the_teams(tmp_path: Path) -> None:
    """The copy in knowledge_base/ must not drift from the catalog the team keeps in ../shared."""
    from tests.conftest import shared_file

    team = shared_file("catalog", "service_catalog.tsv")
    assert CATALOG.read_bytes() == team.read_bytes(), f"copy {team} to {CATALOG} (or the other way round)"


def test_validate_needs_no_shared_folder_beside_the_checkout(tmp_path: Path) -> None:
    """A clone with no ../shared: the default settings find the catalog inside the checkout."""
    import os
    import shutil
    import subprocess
    import sys

    clone = tmp_path / "clone"  # tmp_path has no 'shared' folder beside 'clone'
    for part in ("assistant", "knowledge_base", "retrieval", "intents", "eval", "ui"):
        shutil.copytree(REPO / part, clone / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XS_")}
    env["PYTHONPATH"] = str(clone)
    code = "from assistant.cli import main; main()"
    r = subprocess.run(
        [sys.executable, "-P", "-c", code, "kb", "validate"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not found" not in r.stdout + r.stderr
