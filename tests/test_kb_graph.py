"""The knowledge graph: bundles and their steps, prerequisites, related items, departments."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.core.errors import KnowledgeBaseError, NotFound
from assistant.core.types import ServiceItem, Step
from knowledge_base.cli import app
from knowledge_base.graph import KnowledgeBase, department_node
from tests.fakes import tiny_items
from tests.kb_fixtures import write_kb

TODAY = date(2026, 11, 25)


def _items(**changes: dict[str, object]) -> list[ServiceItem]:
    """tiny_items with per-id field changes."""
    return [dataclasses.replace(i, **changes.get(i.id.replace("-", "_"), {})) for i in tiny_items()]


@pytest.fixture
def kb() -> KnowledgeBase:
    items = _items(
        # 刻章 needs a licence; the licence needs a residence permit (made up, to get a 2-step chain)
        passport_apply=dict(prerequisites=("business-establish",), related=("social-security-card",)),
        business_establish=dict(prerequisites=("residence-permit-apply",)),
        residence_permit_apply=dict(prerequisites=("residence-registration",), related=("residence-registration",)),
        hukou_newborn=dict(related=("onething-birth",)),
    )
    return KnowledgeBase(items, today=TODAY)


def test_a_birth_question_reaches_the_bundle_and_its_steps_in_order(kb: KnowledgeBase) -> None:
    assert [b.id for b in kb.bundles_of("hukou-newborn")] == ["onething-birth"]
    steps = kb.bundle_steps("onething-birth")
    assert [(s.position, s.item.id if s.item else None, s.step.needs) for s in steps] == [
        (1, "hukou-newborn", "出生医学证明"),
        (2, "social-security-card", "户口登记完成"),
    ]
    assert [i.id for i in kb.members("onething-birth")] == ["hukou-newborn", "social-security-card"]


def test_links_of_a_bundle_list_its_steps_first(kb: KnowledgeBase) -> None:
    links = kb.links("onething-birth")
    assert [(l.item.id, l.relation, l.direction, l.order) for l in links] == [
        ("hukou-newborn", "step", "out", 1),
        ("social-security-card", "step", "out", 2),
    ]


def test_links_of_a_member_reach_its_bundle_then_related(kb: KnowledgeBase) -> None:
    links = kb.links("hukou-newborn")
    # the bundle is reached through its step edge (in), and listed once although also related
    assert [(l.item.id, l.relation, l.direction) for l in links] == [("onething-birth", "step", "in")]


def test_prerequisite_chain_is_transitive_first_things_first(kb: KnowledgeBase) -> None:
    chain = [i.id for i in kb.prerequisite_chain("passport-apply")]
    assert chain == ["residence-registration", "residence-permit-apply", "business-establish"]
    assert [i.id for i in kb.prerequisites("passport-apply")] == ["business-establish"]
    assert [i.id for i in kb.dependents("business-establish")] == ["passport-apply"]
    assert kb.prerequisite_chain("residence-registration") == []


def test_prerequisite_cycle_raises_instead_of_looping() -> None:
    items = _items(passport_apply=dict(prerequisites=("business-establish",)), business_establish=dict(prerequisites=("passport-apply",)))
    with pytest.raises(KnowledgeBaseError, match="prerequisite cycle passport-apply -> business-establish -> passport-apply"):
        KnowledgeBase(items, today=TODAY).prerequisite_chain("passport-apply")


def test_related_goes_both_ways_without_duplicates(kb: KnowledgeBase) -> None:
    assert [i.id for i in kb.related("residence-permit-apply")] == ["residence-registration"]
    assert [i.id for i in kb.related("residence-registration")] == ["residence-permit-apply"]
    assert [i.id for i in kb.related("residence-registration", both_ways=False)] == []
    assert [i.id for i in kb.related("social-security-card")] == ["passport-apply"]


def test_departments_are_nodes(kb: KnowledgeBase) -> None:
    assert "上海市公安局" in kb.departments()
    police = [i.id for i in kb.items_of_department("上海市公安局")]
    assert police == ["hukou-newborn", "residence-permit-apply", "residence-registration"]
    assert any(e.target == department_node("上海市公安局") and e.relation == "department" for e in kb.edges)
    with pytest.raises(NotFound, match="did you mean 上海市公安局"):
        kb.items_of_department("上海公安局")


def test_live_only_hides_drafts_retired_and_future_items() -> None:
    items = _items(
        social_security_card=dict(status="draft"),
        hukou_newborn=dict(effective_from=date(2027, 1, 1)),
        passport_apply=dict(status="retired", effective_to=date(2026, 1, 1)),
    )
    kb = KnowledgeBase(items, today=TODAY)
    assert {i.id for i in kb.live()} == {i.id for i in items} - {"social-security-card", "hukou-newborn", "passport-apply"}
    steps = kb.bundle_steps("onething-birth")
    # steps keep their place, but point at no item while the member is not live
    assert [s.item for s in steps] == [None, None]
    assert [s.item.id for s in kb.bundle_steps("onething-birth", live_only=False) if s.item] == [
        "hukou-newborn",
        "social-security-card",
    ]
    assert kb.bundles_of("hukou-newborn") == [kb.get("onething-birth")]
    assert not kb.is_live("hukou-newborn") and kb.is_live("onething-birth")


def test_unknown_ids_say_what_was_meant(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFound, match="did you mean passport-apply"):
        kb.get("pasport-apply")
    with pytest.raises(NotFound):
        kb.bundles_of("nothing-here")


def test_duplicate_ids_are_refused() -> None:
    items = tiny_items()
    with pytest.raises(KnowledgeBaseError, match="'passport-apply' appears twice"):
        KnowledgeBase([*items, items[7]])


def test_a_link_to_a_missing_item_is_skipped_not_crashed() -> None:
    items = _items(passport_apply=dict(related=("not-written-yet",), process=(Step(title="x", item="not-written-yet"),)))
    kb = KnowledgeBase(items, today=TODAY)
    assert kb.related("passport-apply") == []
    assert [s.item for s in kb.bundle_steps("passport-apply")] == [None]


def test_dot_export_names_nodes_and_edge_kinds(kb: KnowledgeBase) -> None:
    dot = kb.to_dot()
    assert dot.startswith("digraph kb {")
    assert '"onething-birth" -> "hukou-newborn" [style=bold, label="1"];' in dot
    assert '"passport-apply" -> "business-establish" [style=solid];' in dot
    assert '"dept:上海市公安局" [label="上海市公安局", shape=ellipse];' in dot


def test_load_from_a_folder_and_the_graph_command(tmp_path: Path) -> None:
    kb_dir = write_kb(tmp_path / "items", tiny_items())
    kb = KnowledgeBase.load(kb_dir)
    assert len(kb) == 10 and "onething-birth" in kb
    result = CliRunner().invoke(app, ["graph", "onething-birth", "--kb-dir", str(kb_dir)])
    assert result.exit_code == 0, result.output
    assert "1. 新生儿户口登记: hukou-newborn (新生儿出生户口登记); needs: 出生医学证明" in result.output
    assert "2. 社保卡: social-security-card" in result.output
    member = CliRunner().invoke(app, ["graph", "hukou-newborn", "--kb-dir", str(kb_dir)])
    assert "in bundles: onething-birth (出生一件事)" in member.output
    dot = tmp_path / "kb.dot"
    written = CliRunner().invoke(app, ["graph", "--dot", str(dot), "--kb-dir", str(kb_dir)])
    assert written.output.strip() == f"wrote {dot.read_text(encoding='utf-8').count(' -> ')} edges to {dot}"
    nothing = CliRunner().invoke(app, ["graph", "--kb-dir", str(kb_dir)])
    assert "pass an ITEM" in str(nothing.exception)
    dept = CliRunner().invoke(app, ["graph", "--department", "上海市公积金管理中心", "--kb-dir", str(kb_dir)])
    assert dept.output.split() == [
        "housing-fund-withdraw-buy", "购房提取住房公积金",
        "housing-fund-withdraw-leave", "离职或离沪提取住房公积金",
        "housing-fund-withdraw-rent", "租房提取住房公积金",
    ]


@pytest.mark.slow
def test_real_kb_birth_question_reaches_the_birth_bundle_and_its_steps(tmp_path: Path) -> None:
    """The issue's example end to end: retrieval finds the bundle, the graph lists its steps.

    Slow only because it indexes the whole real knowledge base (fake embedder, ~20 s).
    """
    from retrieval.hybrid import build_retriever
    from assistant.core.settings import RetrievalSettings
    from assistant.core.types import RetrievalQuery
    from tests.fakes import KeywordEmbedder

    real = Path(__file__).resolve().parents[1] / "knowledge_base" / "items"
    kb = KnowledgeBase.load(real)
    if "onething-birth" not in kb:
        pytest.skip("the birth bundle is not written yet")
    retriever = build_retriever(kb.live(), KeywordEmbedder(), RetrievalSettings(), tmp_path / "index", progress=False)
    hits = retriever.retrieve(RetrievalQuery(text="孩子出生要办什么"), top_k=3)
    ranked = [h.item_id for h in hits]
    assert "onething-birth" in ranked, ranked
    members = [i.id for i in kb.members("onething-birth")]
    assert members[:1] == ["birth-medical-certificate"] and "hukou-newborn" in members
    # and from a member, the links lead back to the bundle
    assert "onething-birth" in [l.item.id for l in kb.links("hukou-newborn") if l.relation == "step"]
