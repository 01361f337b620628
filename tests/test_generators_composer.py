"""The grounded composer: intent fields, situations, bundles, English, citations, channel line."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from assistant.generators.composer import SITUATION_SLOT, Composer
from assistant.core.types import CONSULT_INTENTS, Action, DialogueState, GenerationRequest, ServiceItem
from tests.fakes import tiny_items

ITEMS = {i.id: i for i in tiny_items()}


def ask(item_id: str, intent: str, lang: str = "zh", slots: dict[str, str] | None = None):
    state = DialogueState(current_item=item_id, slots=slots or {}, lang=lang)  # type: ignore[arg-type]
    return Composer().generate(
        GenerationRequest(question="q", intent=intent, lang=lang, items=(ITEMS[item_id],), state=state)  # type: ignore[arg-type]
    )


def _item_text(item: ServiceItem) -> str:
    return str(asdict(item)) + item.updated.isoformat()


@pytest.mark.parametrize("item_id", sorted(ITEMS))
@pytest.mark.parametrize("intent", CONSULT_INTENTS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_number_in_an_answer_comes_from_the_item(item_id: str, intent: str, lang: str) -> None:
    answer = ask(item_id, intent, lang)
    source = _item_text(ITEMS[item_id])
    body = re.sub(r"^\s*\d+\. ", "", answer.text, flags=re.M)  # list markers are not facts
    for number in re.findall(r"\d+", body):
        assert number in source, f"{number!r} in the answer is not in {item_id}"
    assert answer.citations and all(c.item_id == item_id for c in answer.citations)
    assert ITEMS[item_id].updated.isoformat() in answer.text


def test_materials_answer_cites_materials_and_lists_situations() -> None:
    a = ask("residence-permit-apply", "consult.materials")
    assert [c.field for c in a.citations] == ["materials"]
    assert "居民身份证（原件）" in a.text
    assert "如属“在沪就业”，还需" in a.text and "劳动合同" in a.text


def test_known_situation_keeps_only_its_materials() -> None:
    a = ask("residence-permit-apply", "consult.materials", slots={SITUATION_SLOT: "studying"})
    assert "在读证明" in a.text and "劳动合同" not in a.text


def test_fee_answer_holds_the_fee_only() -> None:
    a = ask("social-security-card", "consult.fee")
    assert "首次申领免费" in a.text
    assert "居民身份证" not in a.text
    assert [c.field for c in a.citations] == ["fees"]


def test_bundle_lists_member_steps_in_order() -> None:
    a = ask("onething-birth", "consult.process")
    first, second = a.text.index("新生儿户口登记"), a.text.index("社保卡")
    assert first < second
    assert "需要：出生医学证明" in a.text


def test_closing_line_has_channel_and_date() -> None:
    a = ask("passport-apply", "consult.time_limit")
    assert "官方渠道：上海一网通办；随申办APP" in a.text
    assert "信息更新于2026-11-01" in a.text


def test_english_uses_english_names_and_keeps_chinese_official_text() -> None:
    a = ask("residence-permit-apply", "consult.overview", "en")
    assert a.lang == "en"
    assert "Shanghai Residence Permit application (上海市居住证申领)" in a.text
    b = ask("hukou-newborn", "consult.materials", "en")  # no English fields: English around Chinese names
    assert "「新生儿出生户口登记」" in b.text and "Materials to bring" in b.text and "出生医学证明 (original)" in b.text


def test_complaint_gives_channels_and_offers_a_person() -> None:
    item = ITEMS["residence-permit-apply"]
    a = Composer().generate(GenerationRequest(question="投诉", intent="complaint", lang="zh", items=(item,)))
    assert a.options and a.options[0].value == "request_human"
    assert "转人工" in a.text
    # where and how to raise it come before what the channel is
    assert a.text.index("线上办理渠道") < a.text.index(item.summary[:10])


def test_generate_refuses_non_answer_actions() -> None:
    with pytest.raises(ValueError, match="clarify"):
        Composer().generate(
            GenerationRequest(question="q", intent="consult.fee", lang="zh", items=(), action=Action.CLARIFY)
        )


def test_stream_concatenates_to_generate() -> None:
    req = GenerationRequest(question="q", intent="consult.process", lang="zh", items=(ITEMS["passport-apply"],))
    assert "".join(Composer().stream(req)) == Composer().generate(req).text


def test_the_rest_of_a_unit_said_by_its_focus_repeats_nothing() -> None:
    from assistant.generators.composer import _without

    faq = "小孩子可以办身份证吗？可以，未满16周岁的由监护人陪同代为申领；年满16周岁应当申领。"
    # the focus said the answer without its 可以: only the question would be left, so nothing is
    assert _without(faq, "未满16周岁的由监护人陪同代为申领；年满16周岁应当申领。") == ""
    # a sentence the focus did not say is the rest
    rest = _without(faq, "未满16周岁的由监护人陪同代为申领；")
    assert "年满16周岁应当申领。" in rest and "监护人" not in rest
    assert _without("Can a child get one? Yes. A guardian applies. It lasts 5 years.", "A guardian applies.") .endswith("It lasts 5 years.")
    assert _without("Can a child get one? Yes. A guardian applies.", "A guardian applies.") == ""
