"""Aspects (several per message, yes/no) and answer planning (the deciding unit first)."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.core.types import FAQ, Benefit, Material, ServiceItem, Step
from assistant.generators.composer import Composer
from assistant.generators.planning import AnswerPlanner, item_units
from assistant.core.types import Action, GenerationRequest
from assistant.core.text import normalize
from intents.aspects import (
    asked_aspects,
    asking_clause_aspects,
    is_yes_no,
    message_clauses,
    predict_aspects,
    with_clause_scores,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("护照丢了补办要多少钱，多久能拿到", ["fee", "time_limit"]),
        ("办居住证要带什么材料", ["materials"]),
        ("生育津贴能拿多少", ["benefit"]),
        ("那要多少钱", ["fee"]),
        ("在哪里办，网上能办吗", ["location", "online"]),
        ("How long does it take and what does it cost?", ["time_limit", "fee"]),
        ("Where do I apply?", ["location"]),
        ("居住证是什么", ["overview"]),
        ("咨询电话是多少", ["location"]),
        ("护照补办要多少钱 我电话13812345678", ["fee"]),
    ],
)
def test_aspects_in_the_order_asked(text: str, expected: list[str]) -> None:
    assert asked_aspects(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("户口本弄丢了 补一本多少钱 上哪补", ["fee", "location"]),
        ("第一次领社保卡去哪办 能当场拿到手吗", ["location", "time_limit"]),
        ("买房要开社保缴费证明 哪里能打 收钱吗", ["location", "fee"]),
        ("失业金去那领 能网上申请吗", ["location", "online"]),
        ("招应届生的补贴 网上在哪里申请", ["online"]),  # which online channel, not which office
        ("公司招应届生有补贴吗 钱打到哪里", ["benefit"]),  # where the money goes: what it pays, no office
        ("低保一个月能发多少钱", ["benefit"]),  # what a benefit pays, not a fee
        ("居住证有效期", []),  # a topic word is no question
        ("办居住证要登记住满多久才行 第一次办收不收费", ["conditions", "fee"]),  # how long to qualify
        ("护照多久才能办好", ["time_limit"]),  # how long it takes
        ("Where can I print my record, and is it free?", ["location", "fee"]),
        ("Do I need to register my residence, and where?", ["conditions", "location"]),
        ("how long do i have to apply by myself", ["time_limit"]),  # not "do I have to"
        ("Does it cost anything, and when does it start working?", ["fee", "time_limit"]),
        ("拍牌多久一次 没拍中押金退吗", ["time_limit", "fee"]),  # money back is a fee question
        ("罚款几天内要交 晚交了会怎样", ["time_limit", "fee"]),  # and so is a late charge
        ("护理补贴是直接打钱吗", ["benefit"]),  # whether it pays money
        ("考证的培训费能补吗", ["benefit"]),  # a cost it covers
        ("身份证丢了能补吗", []),  # a replacement card is no benefit
        ("换证要先体检吗", ["conditions"]),  # what must come first
        ("网上办要什么前提", ["conditions"]),
        ("病假期间工资还照发吗", ["benefit"]),  # whether it keeps paying
        ("退休了能提公积金吗", []),
        ("老年综合津贴去哪申请 批了以后怎么发", ["location", "benefit"]),  # how it is paid once granted
        ("稳岗补贴按什么标准返还给企业", ["benefit"]),  # by what standard it pays, no condition
        ("因工去世了 家属能领到哪些补助", ["benefit"]),  # which payments
        ("办了残疾证有什么补贴", ["benefit"]),
        ("河南户口 身份证快到期了 在上海能换吗", ["location"]),  # whether it can be done here: where
        ("在上海工作能领失业金吗", []),
        ("证办下来怎么领", []),  # collecting a certificate is no benefit
        ("批下来以后发票怎么开", []),
    ],
)
def test_a_clause_that_asks_an_aspect_in_so_many_words(text: str, expected: list[str]) -> None:
    assert asking_clause_aspects(text) == expected


def test_an_asking_clause_adds_what_the_aspect_head_missed() -> None:
    # the head heard the fee only; the short clause 上哪补 asks the place too
    got = predict_aspects("户口本弄丢了 补一本多少钱 上哪补", "consult.fee", {"fee": 0.83, "location": 0.11})
    assert got.aspects == ("fee", "location")
    # and 能领多少钱 asks what a benefit pays even where the head also heard a fee
    got = predict_aspects("低保一个月能发多少钱", "consult.fee", {"benefit": 0.98, "fee": 0.9})
    assert got.aspects == ("benefit",)


def test_an_aspect_heard_without_a_cue_is_asked_where_a_clause_asks_without_one() -> None:
    # the head hears the conditions in 能用公积金提出来吗, which no cue names: it was asked first
    scores = {"materials": 0.9, "conditions": 0.6}
    got = predict_aspects("买房付的首付能用公积金提出来吗 要带什么", "consult.materials", scores)
    assert got.aspects == ("conditions", "materials")
    got = predict_aspects("要带什么 首付能用公积金提出来吗", "consult.materials", scores)
    assert got.aspects == ("materials", "conditions")
    # one clause: the cued aspect first, as before
    got = predict_aspects("首付提公积金要带什么", "consult.materials", scores)
    assert got.aspects == ("materials", "conditions")


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        # each clause that asks is read alone; one that only tells the situation is not
        ("孩子10岁第一次办身份证 多少钱 能用几年", ["多少钱", "能用几年"]),
        ("租房提公积金，合同没去备案能提吗？多久到账", ["合同没去备案能提吗", "多久到账"]),
        ("人才引进落户要交钱伐 审核大概要多久", ["人才引进落户要交钱伐", "审核大概要多久"]),
        ("I lost my licence. How much is a new one and which app can I use?", ["how much is a new one", "which app can i use?"]),
        # a message of one clause is read whole
        ("居住证怎么办理", []),
        ("How long does it take?", []),
    ],
)
def test_the_clauses_of_a_message_that_ask(text: str, clauses: list[str]) -> None:
    assert message_clauses(normalize(text)) == clauses


def test_a_clause_raises_only_its_own_most_probable_aspect() -> None:
    whole = {"fee": 0.9, "conditions": 0.2, "time_limit": 0.3, "overview": 0.1}
    clauses = [
        {"fee": 0.95, "time_limit": 0.1, "conditions": 0.55, "overview": 0.0},
        {"time_limit": 0.8, "conditions": 0.7, "fee": 0.0, "overview": 0.0},
        {"overview": 0.9, "conditions": 0.1, "fee": 0.0, "time_limit": 0.0},  # naming the topic asks no overview
        {"conditions": 0.5, "fee": 0.1, "time_limit": 0.1, "overview": 0.0},  # below the floor
    ]
    got = with_clause_scores(whole, clauses)
    assert got == {"fee": 0.95, "conditions": 0.2, "time_limit": 0.8, "overview": 0.1}
    # the two-part question is then asked both ways
    assert predict_aspects("补办要多少钱，多久能拿到", "consult.fee", got).aspects == ("fee", "time_limit")


def test_no_cue_falls_back_to_the_primary_intent() -> None:
    assert predict_aspects("公积金", "consult.materials").aspects == ("materials",)
    assert predict_aspects("你好", "greeting").aspects == ()


@pytest.mark.parametrize(
    ("text", "yes_no"),
    [
        ("驾照快到期了能不能提前换", True),
        ("离婚冷静期里能不能反悔", True),
        ("外地户口可以办吗？", True),
        ("Can I renew my licence early?", True),
        ("签注要钱伐", True),  # 伐: Shanghainese 吗
        ("要带什么材料吗", False),
        ("多久能拿到", False),
        ("How long does it take?", False),
    ],
)
def test_yes_no(text: str, yes_no: bool) -> None:
    assert is_yes_no(text) is yes_no


def _item(**kw: object) -> ServiceItem:
    base = dict(
        id="divorce",
        kind="item",
        name="离婚登记",
        domain="婚育",
        department="民政局",
        summary="双方自愿离婚的，到婚姻登记机关申请离婚登记。",
        updated=date(2026, 12, 1),
        status="published",
        conditions=("双方自愿离婚", "已签订书面离婚协议"),
        conditions_en=("Both agree to divorce", "A written divorce agreement is signed"),
        materials=(Material("居民身份证", name_en="Resident ID card"), Material("结婚证", name_en="Marriage certificate")),
        process=(
            Step("申请", "双方到场提交申请"),
            Step("冷静期", "自收到申请之日起30日内，任何一方不愿离婚的，可向登记机关撤回申请。"),
            Step("领证", "期满后30日内双方到场领取离婚证"),
        ),
        fees="不收费。",
        fees_en="Free of charge.",
        time_limit="冷静期满后当场办结。",
        faqs=(FAQ("离婚要带户口簿吗？", "不需要，带身份证和结婚证即可。", question_en="Do I need the hukou booklet?", answer_en="No, your ID card and marriage certificate are enough."),),
    )
    base.update(kw)
    return ServiceItem(**base)  # type: ignore[arg-type]


def test_every_field_becomes_units() -> None:
    fields = [u.field for u in item_units(_item())]
    assert fields.count("conditions") == 2 and fields.count("materials") == 2 and fields.count("process") == 3
    assert {"fees", "time_limit", "faqs", "summary"} <= set(fields)


def test_the_deciding_unit_comes_first_with_its_own_verdict() -> None:
    plan = AnswerPlanner().plan(_item(), "离婚冷静期里能不能反悔撤回", ["conditions"], yes_no=True)
    direct = plan.by_role("direct")
    assert direct and direct[0].unit.field == "process" and "撤回" in direct[0].unit.text
    assert plan.verdict == "yes"
    text = Composer().generate(
        GenerationRequest("离婚冷静期里能不能反悔撤回", "consult.conditions", "zh", (_item(),), Action.ANSWER, plan=plan)
    ).text
    assert text.index("撤回申请") < 150 and "可以。" in text[:30]


def test_a_faq_asked_almost_word_for_word_answers_directly() -> None:
    plan = AnswerPlanner().plan(_item(), "离婚要带户口簿吗", ["materials"], yes_no=True)
    assert plan.by_role("direct")[0].unit.field == "faqs"
    # the FAQ opens with its own 不需要: no second verdict in front of it
    assert plan.verdict == "" and plan.by_role("direct")[0].unit.text.startswith("不需要")


def test_two_aspects_answer_both_and_a_benefit_is_not_a_fee() -> None:
    item = _item(benefit=Benefit(amount="每月发放500元（2024年起）", amount_en="500 yuan a month (since 2024)", source="某办法"))
    plan = AnswerPlanner().plan(item, "要多少钱，多久办好", ["fee", "time_limit"])
    assert [u.unit.field for u in plan.by_role("asked")] == ["benefit", "time_limit"]
    en = Composer().generate(GenerationRequest("how much do I get", "consult.fee", "en", (item,), Action.ANSWER, aspects=("benefit",)))
    assert "500 yuan a month" in en.text and "(Chinese official text)" not in en.text.split("Official channel")[0]


def test_long_lists_are_short_first_with_the_rest_one_message_away() -> None:
    mats = tuple(Material(f"材料{i}", name_en=f"Doc {i}") for i in range(12))
    item = _item(materials=mats)
    short = AnswerPlanner().plan(item, "要带什么材料", ["materials"])
    assert len(short.by_role("asked")) == 8 and short.more == ("materials",)
    answer = Composer().generate(GenerationRequest("要带什么材料", "consult.materials", "zh", (item,), Action.ANSWER, aspects=("materials",)))
    assert any(o.value == "查看全部材料" for o in answer.options)
    full = AnswerPlanner().plan(item, "查看全部材料", ["materials"])
    assert len(full.by_role("asked")) == 12 and not full.more


def test_a_life_event_question_puts_the_bundle_first_and_a_member_question_does_not() -> None:
    from assistant.core.types import Hit
    from assistant.dialogue.engine import life_event_bundle

    member = _item(id="birth-cert", name="出生医学证明")
    bundle = _item(id="onething-birth", name="出生一件事", kind="bundle")
    items = {"birth-cert": member, "onething-birth": bundle}
    hits = [Hit("birth-cert", 1.0), Hit("onething-birth", 0.9)]
    assert life_event_bundle("刚生完孩子要办哪些事", hits, items) == "onething-birth"
    assert life_event_bundle("出生医学证明怎么办", hits, items) == ""
    assert life_event_bundle("What do I need to do after my baby is born?", hits, items) == "onething-birth"
    assert life_event_bundle("We just had a baby. What paperwork do we need to do?", hits, items) == "onething-birth"
    # a message naming one service keeps it first, life-event words or not
    named = life_event_bundle("出生医学证明要办哪些手续", hits, items, mentioned=("birth-cert",))
    assert named == ""


def test_a_service_named_by_the_words_of_a_bundles_event_gives_way_to_the_bundle() -> None:
    from assistant.core.types import Hit
    from assistant.dialogue.engine import life_event_bundle

    company = _item(id="business-establish", name="企业设立登记", aliases=("开公司",))
    bundle = _item(id="onething-business", name="企业开办一件事", kind="bundle", aliases=("开公司要办哪些",))
    kindergarten = _item(id="kindergarten", name="幼儿园入园", aliases=("上幼儿园",))
    school = _item(id="onething-school", name="入学一件事", kind="bundle", aliases=("孩子入学要办什么",))
    items = {i.id: i for i in (company, bundle, kindergarten, school)}
    hits = [Hit("business-establish", 1.0), Hit("onething-business", 0.9)]
    # 开公司 names the service and is the event the bundle is named by
    assert life_event_bundle("要开公司需要办哪些", hits, items, mentioned=("business-establish",)) == "onething-business"
    # 上幼儿园 names one service, which no bundle is named by: the service stays
    hits = [Hit("kindergarten", 1.0), Hit("onething-school", 0.9)]
    assert life_event_bundle("上幼儿园要办哪些手续", hits, items, mentioned=("kindergarten",)) == ""


def test_of_two_bundles_the_better_wins_and_a_far_bundle_stays_behind() -> None:
    from assistant.core.types import Hit
    from assistant.dialogue.engine import life_event_bundle

    member = _item(id="birth-cert", name="出生医学证明")
    birth = _item(id="onething-birth", name="出生一件事", kind="bundle", process=(Step("出生医学证明", item="birth-cert"),))
    marriage = _item(id="onething-marriage", name="婚育一件事", kind="bundle", process=(Step("结婚登记", item="x"),))
    items = {i.id: i for i in (member, birth, marriage)}
    hits = [Hit("birth-cert", 0.99), Hit("onething-marriage", 0.8), Hit("onething-birth", 0.9)]
    assert life_event_bundle("刚生完孩子要办哪些事", hits, items) == "onething-birth"
    far = [Hit("birth-cert", 1.0), Hit("onething-birth", 0.42)]
    assert life_event_bundle("出生证要办哪些手续", far, items) == ""


def test_a_two_part_question_is_answered_in_the_opening_lines() -> None:
    from assistant.core.types import Location

    places = tuple(
        Location(f"第{i}区婚姻登记处", address=f"某某路{i}00号，乘地铁到某某站下车后步行十分钟", hours="工作日9:00-17:00")
        for i in range(1, 6)
    )
    item = _item(locations=places, time_limit="冷静期满后当场办结。另需注意：冷静期内任何一方可撤回申请。")
    question = "离婚去哪办，多久能办好"
    plan = AnswerPlanner().plan(item, question, ["location", "time_limit"])
    text = Composer().generate(
        GenerationRequest(question, "consult.location", "zh", (item,), Action.ANSWER, plan=plan)
    ).text
    head = text[:150]
    # the first place and the time limit both come before the other places
    assert "第1区婚姻登记处" in head and "当场办结" in head
    assert text.index("当场办结") < text.index("第2区婚姻登记处")
    # nothing asked is lost: every place is still in the answer
    assert all(f"第{i}区婚姻登记处" in text for i in range(1, 6))


def test_a_long_unit_is_said_first_by_the_sentence_that_answers() -> None:
    from assistant.generators.planning import focus_of, sentences

    text = (
        "按月发放。领取期限按失业前累计缴费时间确定，满1年不足5年最长12个月，10年以上最长24个月。"
        "月发放标准低于本市最低工资标准，以当年公布为准。领取期间个人不缴纳医保费，由失业保险基金支付。"
    )
    assert len(sentences(text)) == 4
    item = _item(benefit=Benefit(amount=text, source="某办法"))
    plan = AnswerPlanner().plan(item, "失业金最长能领几个月", ["benefit"])
    unit = plan.by_role("asked")[0]
    assert "最长24个月" in unit.focus and "个人不缴纳" not in unit.focus
    answer = Composer().generate(
        GenerationRequest("失业金最长能领几个月", "consult.fee", "zh", (item,), Action.ANSWER, plan=plan)
    ).text
    # said first by its focus, then whole in the detail
    assert answer.index("最长24个月") < 60 and "个人不缴纳医保费" in answer
    # a short text has no focus
    assert focus_of("不收费。当场办结。", {}, 60) == ""


def test_a_bundle_answers_with_its_steps_in_order_on_the_first_line() -> None:
    bundle = _item(id="onething-birth", name="出生一件事", kind="bundle", process=(
        Step("领取出生医学证明", needs="父母身份证件", title_en="Get the birth medical certificate (出生医学证明)"),
        Step("新生儿户口登记", needs="出生医学证明、户口簿", title_en="Register the newborn"),
        Step("申领育儿补贴", needs="身份证", title_en="Claim the childcare subsidy"),
    ))
    zh = Composer().generate(GenerationRequest("刚生完孩子要办哪些事", "consult.process", "zh", (bundle,), Action.ANSWER, aspects=("process",))).text
    first = zh.splitlines()[0]
    assert first == "办理顺序：领取出生医学证明 → 新生儿户口登记 → 申领育儿补贴。"
    en = Composer().generate(GenerationRequest("What do we do after the birth?", "consult.process", "en", (bundle,), Action.ANSWER, aspects=("process",))).text
    # the English order line reads without the bracketed Chinese names; the steps below keep
    # them, and a title that already names its Chinese term gets no second bracket
    assert en.startswith("In order: Get the birth medical certificate → Register the newborn → Claim")
    assert "Get the birth medical certificate (出生医学证明) (needs" in en and "Register the newborn (新生儿户口登记)" in en


def test_an_faq_whose_yes_answers_another_question_does_not_decide() -> None:
    item = _item(faqs=(FAQ("可以自己一个人去办吗？", "不可以，双方必须共同到场。"),))
    plan = AnswerPlanner().plan(item, "冷静期里能不能撤回申请", ["conditions"], yes_no=True)
    direct = plan.by_role("direct")
    assert direct and direct[0].unit.field != "faqs"


def test_a_situation_the_question_names_is_recognised_and_look_alikes_are_not() -> None:
    from assistant.core.types import Situation
    from assistant.dialogue.engine import situation_named

    item = _item(
        id="hukou-move-in-relative",
        name="投靠亲属户口迁入",
        situations=(
            Situation("spouse", "夫妻投靠", label_en="Joining a spouse"),
            Situation("elderly", "老人投靠子女", label_en="Elderly parents joining children"),
        ),
    )
    assert situation_named("夫妻投靠落户 还得准备啥", item) == "spouse"
    assert situation_named("My wife wants to join her spouse here", item) == "spouse"
    # the item's own words (投靠) and English letter pairs name no situation
    assert situation_named("投靠落户要带什么", item) == ""
    assert situation_named("what do i have to bring", item) == ""

    def situated(id: str, name: str, *situations: tuple[str, str]) -> ServiceItem:
        return _item(id=id, name=name, situations=tuple(Situation(key, label) for key, label in situations))

    # named alike, the situation that says "not" as the message does
    lease = situated(
        "housing-fund-withdraw-rent", "租房提取住房公积金",
        ("no-lease", "未办理租赁合同网签备案"), ("lease", "已办理租赁合同网签备案"),
    )
    assert situation_named("合同没去备案能提吗", lease) == "no-lease"
    assert situation_named("合同没去网签备案能提吗", lease) == "no-lease"
    # a message that says no "not" names neither by these shared words
    assert situation_named("合同网签备案的能提多少", lease) == ""
    # as citizens say it: 自己办 is 个人申办
    retire = situated("pension-retirement", "退休申办", ("unit", "在职职工（单位申办）"), ("self", "灵活就业或失业人员（个人申办）"))
    assert situation_named("自己办退休要带什么", retire) == "self"
    # of two situations, the one the message denies is not its situation: the other is
    notarised, direct = ("notarised", "凭公证书或法院文书"), ("direct", "全体继承人到登记机构直接申请")
    inherit = situated("real-estate-inherit", "继承不动产转移登记", notarised, direct)
    assert situation_named("继承房产过户 没去做公证 要准备哪些材料", inherit) == "direct"
    assert situation_named("继承房产过户 已经做了公证 要准备哪些材料", inherit) == "notarised"
    # with a third situation, denying one names none (and not the one denied)
    three = situated("real-estate-inherit", "继承不动产转移登记", notarised, direct, ("will", "遗嘱继承"))
    assert situation_named("没去做公证 要准备哪些材料", three) == ""


def test_the_sentence_of_the_expected_answer_type_is_said_first() -> None:
    from assistant.generators.planning import answer_types, focus_of

    text = "生育津贴按缴费基数计发，具体以核定为准。国家规定产假98天，难产增加15天。本市延长的生育假按现行规定执行。"
    types = answer_types("产假按多少天算")
    assert types and "98天" in focus_of(text, {}, 20, types=types)
    assert answer_types("where do I go") and not answer_types("是什么")
    # a duration in words is one too (一个月内, 半年, one-year), a year named (上一年度) is not
    (how_long,) = answer_types("多久")
    assert all(how_long.search(t) for t in ("出生后一个月内申报", "登记满半年", "a one-year limitation period", "60日内"))
    assert not how_long.search("按上一年度月平均工资")
    # asked where, a hedge that names an office (以各中心公告为准) is no place: the place leads
    place = "一般为工作日 9:00-17:00，以各中心公告为准；街道（乡镇）社区事务受理服务中心；按户籍地或居住地就近办理，地址可在随申办APP查询"
    focus = focus_of(place, {}, 20, types=answer_types("去哪申请"))
    assert focus.startswith("街道") and "公告" not in focus


def test_an_out_of_town_hukou_meets_what_the_items_say_of_hukou() -> None:
    from assistant.core.text import expand_colloquial

    item = _item(
        id="funeral-subsidy",
        name="基本殡葬服务费用减免",
        conditions=("困难群众减免需提供低保、特困等身份证明", "逝者符合减免对象条件（一般为本市户籍等）"),
    )
    plan = AnswerPlanner().plan(item, "外地户口的能减吗", ["conditions"], yes_no=True)
    asked = sorted((p for p in plan.units if p.role == "asked"), key=lambda p: -p.score)
    assert "本市户籍" in asked[0].unit.text
    # not read as the local situation (本市户籍儿童) of a 外地 family
    assert "本市户籍" not in expand_colloquial("外地户口")


def test_how_long_is_answered_by_the_unit_that_gives_the_duration_wherever_it_is() -> None:
    item = _item(
        name="机动车检验合格标志核发",
        conditions=("在检验有效期满前3个月内申请", "交强险在有效期内"),
        conditions_en=("", ""),
        time_limit="免检车辆网上申领一般当日办结。",
    )
    plan = AnswerPlanner().plan(item, "有效期满前多久要申请检验", ["time_limit"])
    assert plan.by_role("direct")[0].unit.text == "在检验有效期满前3个月内申请"
    # an office named in a condition is a mention, not the answer to 去哪个派出所
    item = _item(conditions=("出生后一个月内到户籍地派出所申报",), conditions_en=("",), locations=())
    plan = AnswerPlanner().plan(item, "去哪个派出所", ["location"])
    assert not plan.by_role("direct")


def test_a_citizen_who_gives_an_age_is_answered_by_the_condition_on_ages() -> None:
    item = _item(
        conditions=("有确定的聘用单位，从事的工作为我国经济社会发展所需", "年满18周岁，身体健康，无犯罪记录"),
        conditions_en=("You have a confirmed employer", "You are aged 18 or over and in good health"),
    )
    for question, lang in (("我今年17岁 能申请吗", "zh"), ("I am 17 years old, can I apply?", "en")):
        plan = AnswerPlanner().plan(item, question, ["conditions"], yes_no=True, lang=lang)
        best = max(plan.units, key=lambda p: p.score)
        assert "18" in best.unit.text, question
    # a question without an age ranks them by their words alone
    plan = AnswerPlanner().plan(item, "要有单位吗", ["conditions"], yes_no=True)
    assert "单位" in max(plan.units, key=lambda p: p.score).unit.text


def test_an_english_faq_that_shares_only_the_items_name_does_not_answer_directly() -> None:
    faq = FAQ("朋友能替我们办吗？", "不能，双方须亲自到场。", question_en="Can a friend do the divorce registration for us?",
              answer_en="No, both of you must come in person.")
    item = _item(name_en="Divorce registration", faqs=(faq,))
    plan = AnswerPlanner().plan(item, "What documents do I need for divorce registration?", ["materials"], lang="en")
    assert not plan.by_role("direct")
    # asked in its own words, it does
    plan = AnswerPlanner().plan(item, "Can a friend do our divorce registration?", ["conditions"], yes_no=True, lang="en")
    assert plan.by_role("direct")[0].unit.field == "faqs"


def test_colloquial_words_meet_the_official_ones_of_the_units() -> None:
    item = _item(conditions=("本人及配偶在本市均无自有住房", "在本市连续足额缴存住房公积金"), conditions_en=("", ""))
    plan = AnswerPlanner().plan(item, "我老婆名下在上海有套房子 我还能提吗", ["conditions"], yes_no=True)
    best = max(plan.units, key=lambda p: p.score)
    # 老婆 meets 配偶 and 房子 meets 住房: the spouse condition is the one that answers
    assert "配偶" in best.unit.text and best.score > min(p.score for p in plan.units)


def test_asked_two_things_the_materials_line_is_brief_and_the_rest_follows() -> None:
    mats = tuple(Material(name) for name in ("居民身份证", "户口簿", "结婚证", "近期一寸白底证件照或数码照片回执", "住房证明", "申请表"))
    item = _item(materials=mats, fees="工本费每本10元。")
    question = "换证要带照片吗 工本费多少"
    plan = AnswerPlanner().plan(item, question, ["materials", "fee"])
    text = Composer().generate(GenerationRequest(question, "consult.materials", "zh", (item,), Action.ANSWER, plan=plan)).text
    first = text.splitlines()[0]
    # the photo the question points at is named first; three named, the rest below
    assert first.startswith("所需材料：近期一寸白底证件照") and "另有3项见下" in first
    assert "工本费每本10元" in text[:150] and all(name in text for name in ("住房证明", "申请表", "户口簿"))


def test_a_known_situations_own_materials_lead_what_to_bring() -> None:
    from assistant.core.types import DialogueState, Situation

    item = _item(
        situations=(Situation("hire", "就业登记（单位招用）"), Situation("jobless", "失业登记（个人申请）")),
        materials=(Material("用工登记表", situations=("hire",)), Material("解除劳动合同的证明", situations=("jobless",))),
    )
    plan = AnswerPlanner().plan(item, "要带啥", ["materials"], situation="jobless")
    state = DialogueState(current_item=item.id, slots={"situation": "jobless"})
    request = GenerationRequest("要带啥", "consult.materials", "zh", (item,), Action.ANSWER, state=state, plan=plan)
    first = Composer().generate(request).text.splitlines()[0]
    assert first == "所需材料：解除劳动合同的证明（原件）。"
    # the whole list ("查看全部材料") reads the same way
    from assistant.generators.composer import _materials_for

    assert _materials_for(item.materials, "jobless") == ([item.materials[1]], {})
    assert _materials_for(item.materials, "") == ([], {"hire": [item.materials[0]], "jobless": [item.materials[1]]})
    # beside materials every applicant brings, the situation's own come first (拍到沪牌了
    # 上牌要准备什么: the quota certificate), not as extras after the list
    ident = Material("居民身份证")
    both = (ident, *item.materials)
    assert _materials_for(both, "hire") == ([item.materials[0], ident], {})
    assert _materials_for(both, "") == ([ident], {"hire": [item.materials[0]], "jobless": [item.materials[1]]})


def test_a_verdict_is_said_only_of_what_the_yes_no_clause_asks() -> None:
    from assistant.generators.planning import _verdict

    # 能领…吗 asks whether one can: a 需要 in the unit is no answer to it
    assert _verdict("持有残疾人证、残疾等级为一级或二级且需要长期照护的重度残疾人。", "孩子二级残疾 一直要人照顾 能领护理补贴吗", "护理补贴") == ""
    # the yes/no part asks the fee: a sentence about the deadline answers nothing of it
    assert _verdict("应在婴儿出生后一个月内申报出生登记。", "报户口要不要钱 出生多久之内得去报", "新生儿出生户口登记") == ""
    # the sentence that speaks of what is asked decides: 撤回 asked, 可以撤回 said
    assert _verdict("自收到申请之日起30日内，任何一方可以撤回申请。", "冷静期里能不能撤回申请", "离婚登记") == "yes"
    # asked 要不要钱, the fee line (不收费) is the answer: no 需要 / 不需要 in front of it
    assert _verdict("出生户口登记不收费。", "报户口要不要交费用", "出生户口登记") == ""
    # the verdict word must bear on what is asked: 需要本人到场 says nothing of 公证
    assert _verdict("继承、遗嘱等事项一般需要相关当事人本人到场。", "继承房子必须去做公证吗", "公证") == ""
    assert _verdict("配偶、未成年子女符合随迁条件的可以随迁。", "老婆孩子能一起迁过来吗", "户口迁入") == "yes"


def test_a_deadline_question_is_led_by_what_must_be_done_by_when_not_the_processing_time() -> None:
    from assistant.generators.planning import answer_types

    item = _item(
        id="death-cancel",
        name="死亡人员户口注销",
        conditions=("死者为本市常住户口", "《户口登记条例》规定应及时申报死亡登记（城市在葬前申报）"),
        conditions_en=("The deceased had a Shanghai hukou", "The death must be reported promptly (in cities, before the burial)"),
        process=(Step("申报", "亲属到派出所申报"),),
        time_limit="材料齐全的一般当场办结。",
    )
    question = "老人过世以后 户口最晚什么时候得去销掉"
    # a processing time (当场办结) is not the answer type of 最晚
    assert not any(t.search("材料齐全的一般当场办结。") for t in answer_types(question))
    # asked in English: the limitation period answers, the processing time does not
    english = answer_types("Can I still apply for arbitration, is there a time limit?")
    assert english[0].search("Filed within the one-year limitation period")
    assert not any(t.search("The decision on acceptance is made within 5 days.") for t in english)
    plan = AnswerPlanner().plan(item, question, ["time_limit"])
    text = Composer().generate(GenerationRequest(question, "consult.time_limit", "zh", (item,), Action.ANSWER, plan=plan)).text
    assert text.startswith("《户口登记条例》规定应及时申报死亡登记（城市在葬前申报）")
    # how long it takes is still answered by the time limit
    plan = AnswerPlanner().plan(item, "销户要多久", ["time_limit"])
    text = Composer().generate(GenerationRequest("销户要多久", "consult.time_limit", "zh", (item,), Action.ANSWER, plan=plan)).text
    assert "葬前" not in text.split("\n")[0]


def test_a_validity_question_is_answered_by_the_validity_not_the_issuing_time() -> None:
    from assistant.generators.planning import answer_types

    item = _item(
        id="food-licence",
        name="食品经营许可",
        summary="开办餐饮服务等食品经营活动应取得食品经营许可。许可证有效期为5年。",
        time_limit="受理之日起10个工作日内作出决定。",
        faqs=(),
    )
    question = "食品经营许可证拿到以后能用几年"
    assert not any(t.search("受理之日起10个工作日内作出决定。") for t in answer_types(question))
    plan = AnswerPlanner().plan(item, question, ["time_limit"])
    text = Composer().generate(GenerationRequest(question, "consult.time_limit", "zh", (item,), Action.ANSWER, plan=plan)).text
    assert "有效期为5年" in text.split("\n")[0]
    # asked with a fee, the validity is still said (not only the issuing time)
    plan = AnswerPlanner().plan(item, "多少钱 能用几年", ["fee", "time_limit"])
    text = Composer().generate(GenerationRequest("多少钱 能用几年", "consult.fee", "zh", (item,), Action.ANSWER, plan=plan)).text
    assert "有效期为5年" in text[:150]


def test_asked_whether_one_can_a_fee_line_does_not_decide() -> None:
    item = _item(
        id="id-card-nonlocal",
        name="异地办理居民身份证",
        fees="到期换领工本费20元，遗失补领或损坏换领40元。",
        faqs=(
            FAQ("外地人在上海换身份证多少钱？", "到期换领工本费20元，遗失补领或损坏换领40元。"),
            FAQ("外地户口身份证在上海丢了要回老家吗？", "不用，可以到本市具备异地受理功能的派出所申请补领。"),
        ),
    )
    plan = AnswerPlanner().plan(item, "外地人身份证在上海能换吗", ["conditions"], yes_no=True)
    direct = plan.by_role("direct")
    assert not any("工本费" in p.unit.text for p in direct)
    # asked what it costs, the fee line answers as before
    plan = AnswerPlanner().plan(item, "在上海换身份证要钱吗", ["fee"], yes_no=True)
    assert any("工本费" in p.unit.text for p in plan.units if p.role in ("direct", "asked"))
