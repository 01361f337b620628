"""kb validate's content checks: English text, benefits, bundle steps against their members."""

from __future__ import annotations

import dataclasses

from assistant.core.types import Benefit, Material, Step
from knowledge_base.content_checks import benefit_problems, bundle_problems, english_problems
from tests.kb_fixtures import complete_items, with_english


def _one(id_: str):
    return next(i for i in complete_items() if i.id == id_)


def test_every_missing_english_field_is_named() -> None:
    item = _one("residence-permit-apply")
    assert list(english_problems(item)) == []
    bare = dataclasses.replace(item, fees_en="", materials=(Material("身份证"),), conditions_en=())
    fields = {f for f, _ in english_problems(bare)}
    assert {"fees_en", "materials.0.name_en", "conditions_en"} <= fields


def test_a_paying_item_must_say_what_it_pays() -> None:
    item = dataclasses.replace(_one("residence-permit-apply"), name="失业保险金申领", benefit=None)
    assert [f for f, _ in benefit_problems(item)] == ["benefit"]
    paid = dataclasses.replace(item, benefit=Benefit(amount="按月发放，标准以人社部门公布为准", amount_en="Monthly", source="失业保险条例"))
    assert list(benefit_problems(paid)) == []
    assert [f for f, _ in benefit_problems(dataclasses.replace(paid, benefit=Benefit(amount="每月", source="")))] == [
        "benefit.source"
    ]


def test_a_bundle_step_that_contradicts_its_member_is_reported() -> None:
    member = with_english(
        dataclasses.replace(
            _one("residence-permit-apply"),
            id="marriage",
            name="结婚登记",
            aliases=("结婚",),
            materials=(Material("居民身份证"),),
            time_limit="当场办结。",
            faqs=(),
            process=(Step("申请", "当场办理"),),
            conditions=("无需户口簿",),
        )
    )
    bundle = dataclasses.replace(
        member,
        id="onething-marriage",
        kind="bundle",
        process=(Step("结婚登记", needs="双方身份证、户口簿", detail="一个月内办理", item="marriage"),),
    )
    problems = [r for _, r in bundle_problems(bundle, {"marriage": member})]
    assert any("户口簿" in r for r in problems) and any("1月" in r for r in problems)
    aligned = dataclasses.replace(bundle, process=(Step("结婚登记", needs="双方居民身份证", item="marriage"),))
    assert list(bundle_problems(aligned, {"marriage": member})) == []
