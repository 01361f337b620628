"""Lifecycle draft -> published -> retired, the recorded history, and the YAML text edits.

Every test edits copies in tmp_path, never the real knowledge_base/items.
"""

from __future__ import annotations

import re

import difflib
import os
import shutil
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant.core.errors import Conflict, InvalidInput, KnowledgeBaseError, NotFound
from knowledge_base import lifecycle
from knowledge_base.cli import app
from knowledge_base.loader import live_items, load_items
from knowledge_base.yamledit import append_to_list, apply_edit, set_scalar

REPO = Path(__file__).resolve().parents[1]
EXEMPLAR = REPO / "knowledge_base" / "items" / "residence-permit-apply.yaml"
TODAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 22, 0, tzinfo=timezone.utc)


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """The exemplar item as a draft, with extra comments, plus the items it links to."""
    kb = tmp_path / "items"
    kb.mkdir()
    text = EXEMPLAR.read_text(encoding="utf-8")
    # the exemplar as first written (its first history entry, updated 2026-11-01): the tests
    # are about the lifecycle, not about the item's later edits
    head, _, history = text.partition("\nhistory:\n")
    first = history.split("\n  - at:")[0]
    text = head + "\nhistory:\n" + first.rstrip("\n") + "\n"
    text = re.sub(r"^updated: .*$", "updated: 2026-11-01", text, count=1, flags=re.M)
    text = text.replace("status: published", "status: draft  # waiting for review")
    text = text.replace("effective_from: 2024-01-01\n", "")
    text = text.replace("fees: ", "# fees are checked every January\nfees: ")
    (kb / "residence-permit-apply.yaml").write_text(text, encoding="utf-8")
    for other in ("residence-permit-renew", "residence-permit-points"):
        (kb / f"{other}.yaml").write_text(f"id: {other}\n", encoding="utf-8")
    return kb


def _diff(before: str, after: str) -> list[str]:
    """Changed lines only: '-old' / '+new'."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_publish_sets_status_and_date_and_records_who_and_what(kb_dir: Path) -> None:
    path = kb_dir / "residence-permit-apply.yaml"
    before = path.read_text(encoding="utf-8")
    item = lifecycle.publish(
        kb_dir, "residence-permit-apply", by="王敏", effective_from=date(2026, 12, 1), today=TODAY, at=AT
    )
    assert item.status == "published" and item.effective_from == date(2026, 12, 1)
    assert not item.is_live(TODAY) and item.is_live(date(2026, 12, 1))
    assert item.history[-1].by == "王敏" and item.history[-1].at == AT
    assert item.history[-1].change == "status draft → published, effective from 2026-12-01"
    # only the intended lines changed: comments, order and the rest of the file are kept
    assert _diff(before, path.read_text(encoding="utf-8")) == [
        "-status: draft  # waiting for review",
        "+status: published  # waiting for review",
        "+effective_from: 2026-12-01",
        "+  - at: 2026-11-25T22:00:00+00:00",
        "+    by: 王敏",
        "+    change: status draft → published, effective from 2026-12-01",
    ]
    after = path.read_text(encoding="utf-8")
    assert "# fees are checked every January\nfees: " in after
    assert after.index("effective_from:") == after.index("updated: 2026-11-01\n") + len("updated: 2026-11-01\n")


def test_publish_refuses_an_item_that_does_not_validate(kb_dir: Path) -> None:
    (kb_dir / "residence-permit-points.yaml").unlink()
    before = (kb_dir / "residence-permit-apply.yaml").read_text(encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="(?s)cannot be published.*links to 'residence-permit-points'"):
        lifecycle.publish(kb_dir, "residence-permit-apply", by="王敏", today=TODAY, at=AT)
    assert (kb_dir / "residence-permit-apply.yaml").read_text(encoding="utf-8") == before


def test_publish_twice_is_a_conflict_unless_rescheduled(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    with pytest.raises(Conflict, match="already published"):
        lifecycle.publish(kb_dir, "residence-permit-apply", by="a", today=TODAY, at=AT)
    item = lifecycle.publish(
        kb_dir, "residence-permit-apply", by="b", effective_from=date(2026, 2, 1), today=TODAY, at=AT
    )
    assert item.effective_from == date(2026, 2, 1)
    assert item.history[-1].change == "effective_from 2026-01-01 → 2026-02-01"


def test_retire_now_takes_the_item_out_of_the_live_set(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    assert [i.id for i in live_items(load_items(kb_dir, strict=False), TODAY)] == ["residence-permit-apply"]
    item = lifecycle.retire(kb_dir, "residence-permit-apply", by="b", reason="政策调整", today=TODAY, at=AT)
    assert item.status == "retired" and item.effective_to == TODAY
    assert item.history[-1].change == "status published → retired, effective to 2026-11-25 (政策调整)"
    assert live_items(load_items(kb_dir, strict=False), TODAY) == []
    with pytest.raises(Conflict, match="already retired"):
        lifecycle.retire(kb_dir, "residence-permit-apply", by="b", today=TODAY, at=AT)


def test_retire_in_the_future_is_scheduled_and_stays_live_until_then(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    item = lifecycle.retire(kb_dir, "residence-permit-apply", by="b", effective_to=date(2026, 12, 31), today=TODAY, at=AT)
    assert item.status == "published" and item.effective_to == date(2026, 12, 31)
    assert item.is_live(date(2026, 12, 31)) and not item.is_live(date(2027, 1, 1))
    assert item.history[-1].change == "retirement scheduled: live until 2026-12-31"


def test_republishing_a_retired_item_clears_its_end_date(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    lifecycle.retire(kb_dir, "residence-permit-apply", by="b", effective_to=date(2026, 6, 30), today=TODAY, at=AT)
    item = lifecycle.publish(kb_dir, "residence-permit-apply", by="c", effective_from=date(2026, 11, 25), today=TODAY, at=AT)
    assert item.status == "published" and item.effective_to is None and item.is_live(TODAY)
    assert "effective_to 2026-06-30 cleared" in item.history[-1].change


def test_drafts_cannot_be_retired_and_dates_are_checked(kb_dir: Path) -> None:
    with pytest.raises(Conflict, match="draft"):
        lifecycle.retire(kb_dir, "residence-permit-apply", by="b", today=TODAY, at=AT)
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 6, 1), today=TODAY, at=AT)
    with pytest.raises(InvalidInput, match="before the item's effective_from 2026-06-01"):
        lifecycle.retire(kb_dir, "residence-permit-apply", by="b", effective_to=date(2026, 5, 1), today=TODAY, at=AT)


def test_unknown_item_names_close_ids(kb_dir: Path) -> None:
    with pytest.raises(NotFound, match="did you mean residence-permit-apply"):
        lifecycle.publish(kb_dir, "residence-permit-aply", by="a", today=TODAY)


def test_history_merges_file_entries_and_git_commits(kb_dir: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Li Lei",
        "GIT_AUTHOR_EMAIL": "li@example.org",
        "GIT_COMMITTER_NAME": "Li Lei",
        "GIT_COMMITTER_EMAIL": "li@example.org",
        "GIT_AUTHOR_DATE": "2026-11-25T23:00:00+00:00",
        "GIT_COMMITTER_DATE": "2026-11-25T23:00:00+00:00",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    repo = kb_dir.parent

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    git("add", "items")
    git("commit", "-q", "-m", "kb: residence permit draft")
    path = kb_dir / "residence-permit-apply.yaml"
    # a hand edit committed without a history entry: git still tells what changed
    text = path.read_text(encoding="utf-8")
    fee_line = next(line for line in text.splitlines() if line.startswith("fees: "))
    path.write_text(text.replace(fee_line, "fees: 以受理窗口告知为准。"), encoding="utf-8")
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = "2026-11-25T23:30:00+00:00"
    git("commit", "-q", "-am", "kb: shorter fee text")
    lifecycle.publish(kb_dir, "residence-permit-apply", by="王敏", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    entries, note = lifecycle.history(kb_dir, "residence-permit-apply")
    assert note == ""
    assert [(e.source, e.by, e.change) for e in entries] == [
        ("file", "xiaoshen-team", "初版：条件、材料（按情形）、流程、收费、时限、地点、线上渠道、法律依据、常见问题"),
        ("file", "王敏", "status draft → published, effective from 2026-01-01"),
        ("git", "Li Lei", "kb: residence permit draft [new file]"),
        ("git", "Li Lei", "kb: shorter fee text [fees]"),
    ]


def test_history_without_git_says_why(kb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(kb_dir.parent.parent))
    entries, note = lifecycle.history(kb_dir, "residence-permit-apply")
    assert [e.source for e in entries] == ["file"]
    assert note.startswith("no git history") or note == "git is not installed"


def test_cli_publish_retire_history(kb_dir: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.tsv"
    catalog.write_text(
        "id\tkind\tdomain\tname\tdepartment\tcolloquial_names\n"
        "residence-permit-apply\titem\t居住证\t上海市居住证申领\t上海市公安局\t办居住证\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    common = ["--kb-dir", str(kb_dir)]
    r = runner.invoke(app, ["publish", "residence-permit-apply", "--effective-from", "2026-01-01", "--by", "王敏", *common, "--catalog", str(catalog)])
    assert r.exit_code == 0, r.output
    assert "residence-permit-apply: published by 王敏, live now" in r.output
    r = runner.invoke(app, ["retire", "residence-permit-apply", "--effective-to", "2099-01-01", "--by", "李雷", *common])
    assert r.exit_code == 0, r.output
    assert "retirement scheduled by 李雷; live until 2099-01-01" in r.output
    r = runner.invoke(app, ["history", "residence-permit-apply", "--no-git", *common])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "residence-permit-apply (上海市居住证申领): status published, effective 2026-01-01 .. 2099-01-01, updated 2026-11-01"
    assert "王敏" in lines[-2] and "status draft → published, effective from 2026-01-01" in lines[-2]
    assert "李雷" in lines[-1] and "retirement scheduled: live until 2099-01-01" in lines[-1]
    bad = runner.invoke(app, ["publish", "residence-permit-apply", "--effective-from", "2026-02-30", "--by", "x", *common, "--catalog", str(catalog)])
    assert isinstance(bad.exception, InvalidInput) and "YYYY-MM-DD" in str(bad.exception)


# --------------------------------------------------------------------------- text edits


def test_set_scalar_replaces_in_place_and_keeps_the_comment() -> None:
    text = "# head\nid: x\nstatus: draft   # note\nname: n\n"
    assert set_scalar(text, "status", "published") == "# head\nid: x\nstatus: published  # note\nname: n\n"


def test_set_scalar_inserts_after_the_anchor_block() -> None:
    text = "id: x\nupdated: 2026-01-01\nsummary: >-\n  long\n  text\n\n# comment about aliases\naliases:\n  - a\n"
    out = set_scalar(text, "effective_to", date(2026, 12, 31), after=("summary",))
    assert out == (
        "id: x\nupdated: 2026-01-01\nsummary: >-\n  long\n  text\neffective_to: 2026-12-31\n\n"
        "# comment about aliases\naliases:\n  - a\n"
    )
    assert yaml.safe_load(out)["summary"] == "long text"


def test_set_scalar_refuses_a_block_value() -> None:
    with pytest.raises(KnowledgeBaseError, match="block value"):
        set_scalar("status:\n  - a\n", "status", "published")


def test_append_to_list_keeps_the_list_indentation() -> None:
    flush = "faqs:\n- question: q1\n  answer: a1\nrelated: []\n"
    out = append_to_list(flush, "faqs", [{"question": "q2: 冒号", "answer": "多行\n答案"}])
    assert out == "faqs:\n- question: q1\n  answer: a1\n- question: 'q2: 冒号'\n  answer: \"多行\\n答案\"\nrelated: []\n"
    assert yaml.safe_load(out)["faqs"][1] == {"question": "q2: 冒号", "answer": "多行\n答案"}


def test_append_to_list_turns_an_empty_flow_list_into_a_block() -> None:
    out = append_to_list("history: []  # none yet\nid: x\n", "history", [{"by": "a", "change": "c"}])
    assert out == "history:  # none yet\n  - by: a\n    change: c\nid: x\n"
    with pytest.raises(KnowledgeBaseError, match="written inline"):
        append_to_list("history: [{by: a}]\n", "history", [{"by": "b"}])


def test_apply_edit_writes_nothing_when_the_result_is_not_what_was_intended(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("id: x\nstatus: draft\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="would change \\['id'\\] unexpectedly"):
        apply_edit(path, lambda t: t.replace("id: x", "id: y"), lambda d: d)
    assert path.read_text(encoding="utf-8") == "id: x\nstatus: draft\n"
    with pytest.raises(KnowledgeBaseError, match="would break its YAML"):
        apply_edit(path, lambda t: t + "bad: [\n", lambda d: d)
    assert path.read_text(encoding="utf-8") == "id: x\nstatus: draft\n"


def test_republishing_with_the_old_start_date_still_clears_a_past_end_date(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    lifecycle.retire(kb_dir, "residence-permit-apply", by="b", effective_to=date(2026, 6, 30), today=TODAY, at=AT)
    item = lifecycle.publish(kb_dir, "residence-permit-apply", by="c", today=TODAY, at=AT)
    assert (item.status, item.effective_from, item.effective_to) == ("published", date(2026, 1, 1), None)
    assert item.is_live(TODAY)


def test_retire_now_then_publish_again_is_live_without_an_end_date(kb_dir: Path) -> None:
    lifecycle.publish(kb_dir, "residence-permit-apply", by="a", effective_from=date(2026, 1, 1), today=TODAY, at=AT)
    lifecycle.retire(kb_dir, "residence-permit-apply", by="b", today=TODAY, at=AT)
    item = lifecycle.publish(kb_dir, "residence-permit-apply", by="c", today=TODAY, at=AT)
    assert item.effective_to is None and item.is_live(date(2030, 1, 1))


def test_every_real_item_layout_can_be_edited(tmp_path: Path) -> None:
    """The text edits work on how the knowledge-base authors actually wrote their files (copies)."""
    from knowledge_base.faq_import import FaqRow, attach_to_item

    real = REPO / "knowledge_base" / "items"
    kb = tmp_path / "items"
    shutil.copytree(real, kb)
    items = load_items(kb, strict=False)
    assert items, "no item files"
    for item in items:
        if item.status != "published":
            continue
        item_id = item.id
        lifecycle.retire(kb, item_id, by="t", effective_to=date(2099, 1, 1), today=TODAY, at=AT)
        attach_to_item(kb, item_id, [FaqRow(1, "测试：能否办理？", "可以。\n见窗口")], by="t", source="t.csv", today=TODAY, at=AT)
        after = lifecycle.load_one(kb, item_id)
        assert after.effective_to == date(2099, 1, 1) and after.faqs[-1].answer == "可以。\n见窗口"
        assert after.faqs[:-1] == item.faqs and after.materials == item.materials and after.aliases == item.aliases
        assert [h.change for h in after.history[-2:]] == [
            "retirement scheduled: live until 2099-01-01",
            "imported 1 FAQ(s) from t.csv",
        ]


def test_changed_fields_lists_what_differs_in_file_order() -> None:
    old = {"id": "x", "fees": "a", "faqs": [1], "history": [1], "gone": 1}
    new = {"id": "x", "faqs": [1, 2], "fees": "b", "history": [1, 2], "added": 2}
    assert lifecycle.changed_fields(old, new) == ("faqs", "fees", "added", "gone")
    assert lifecycle.changed_fields(old, old) == ()
