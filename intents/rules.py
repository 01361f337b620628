"""A keyword classifier over the intent taxonomy: needs no artefact.

It is the ``rules`` backend (and the baseline the trained classifier is
measured against).  Cue lists are checked in a fixed priority order: a request
for a person beats a complaint, which beats small talk, which beats the
consult sub-intents; a question with no cue at all is an overview question.
Confidence is a fixed level per kind of evidence, documented below, because a
keyword match carries no probability of its own.
"""

from __future__ import annotations

import re

from assistant.core.text import normalize
from assistant.core.types import INTENTS, DialogueState, IntentPrediction

#: (intent, cues) in priority order; a cue is a substring of the normalised
#: message (``assistant.core.text.normalize``: simplified, lower case, one space).
CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "request_human",
        (
            "转人工", "人工客服", "人工服务", "找人工", "真人", "找客服", "接人工", "人工坐席",
            "转接人工", "人工", "talk to a person", "human", "real person", "agent", "operator",
            "speak to someone", "staff member",
        ),
    ),
    (
        "complaint",
        (
            "投诉", "举报", "态度差", "态度很差", "太差了", "不作为", "推诿", "刁难", "差评", "乱收费",
            "太慢了", "没人管", "不满意", "反映问题", "complain", "complaint", "report a problem", "terrible",
        ),
    ),
    (
        "out_of_scope",
        (
            "忽略", "无视", "你的指令", "系统提示", "提示词", "扮演", "角色扮演", "假装", "越狱", "无所不能",
            "不受限制", "不需要遵守", "没有任何限制", "天气", "股票", "彩票", "笑话", "写一首", "写首诗",
            "作业", "翻译一下", "炒股", "基金推荐", "赌博", "黑客", "破解", "毒品", "炸弹", "武器",
            "ignore previous", "ignore your", "system prompt", "jailbreak", "pretend", "role-play",
            "weather", "stock", "poem", "joke", "homework", "lottery",
        ),
    ),
    (
        "thanks",
        ("谢谢", "感谢", "多谢", "再见", "拜拜", "好的明白", "没问题了", "thank", "thanks", "bye", "goodbye"),
    ),
    (
        "greeting",
        ("你好", "您好", "在吗", "哈喽", "嗨", "早上好", "下午好", "晚上好", "hello", "hi", "hey", "good morning"),
    ),
    (
        "consult.materials",
        ("材料", "带什么", "带啥", "准备什么", "准备啥", "证件", "资料", "证明", "documents", "materials", "bring", "paperwork"),
    ),
    (
        "consult.fee",
        ("多少钱", "收费", "费用", "要钱", "花钱", "免费", "工本费", "给多少", "领多少", "补贴多少", "cost", "fee", "free", "how much"),
    ),
    (
        "consult.time_limit",
        ("多久", "几天", "多长时间", "时限", "什么时候能", "期限", "截止", "多少天", "how long", "deadline", "when can", "days"),
    ),
    (
        "consult.location",
        ("在哪", "哪里办", "去哪", "地址", "哪个窗口", "哪个部门", "办事大厅", "受理中心", "where", "office", "address"),
    ),
    (
        "consult.online",
        ("网上", "线上", "随申办", "一网通办", "app", "手机上", "小程序", "网上办", "online", "website", "app"),
    ),
    (
        "consult.conditions",
        ("条件", "能不能办", "可以办吗", "能办吗", "符合", "资格", "要求", "能申请吗", "够不够", "是否可以", "qualify", "eligible", "requirement", "can i"),
    ),
    (
        "consult.process",
        ("流程", "步骤", "怎么申请", "如何申请", "程序", "手续", "怎么操作", "steps", "procedure", "process", "how do i apply"),
    ),
)

#: Confidence levels: a cue match is strong evidence for the social intents and
#: fair evidence for a consult sub-intent; no cue at all is weak evidence for an
#: overview question.
_CUE_CONFIDENCE = {"social": 0.9, "consult": 0.75}
_DEFAULT_CONFIDENCE = 0.5

_WORD_CUES = {"hi", "hey", "app", "human", "agent", "stock", "joke", "fee", "free", "days", "where", "cost", "bye"}


def _matches(cue: str, text: str) -> bool:
    if cue in _WORD_CUES:
        return re.search(rf"\b{re.escape(cue)}\b", text) is not None
    return cue in text


class RuleClassifier:
    """Keyword rules in priority order; see the module docstring."""

    name = "rules"

    def classify(self, text: str, *, state: DialogueState | None = None) -> IntentPrediction:
        """Label ``text``; ``state`` is unused (rules look at the message only)."""
        # the shared normal form: a traditional 轉人工 or a full-width ＨＵＭＡＮ meets the cues
        norm = normalize(text)
        for intent, cues in CUES:
            if any(_matches(c, norm) for c in cues):
                # A greeting followed by a real question is a question, not small talk.
                if intent == "greeting" and len(text.strip()) > 8:
                    continue
                kind = "consult" if intent.startswith("consult.") else "social"
                return self._prediction(intent, _CUE_CONFIDENCE[kind])
        return self._prediction("consult.overview", _DEFAULT_CONFIDENCE)

    @staticmethod
    def _prediction(label: str, confidence: float) -> IntentPrediction:
        rest = (1.0 - confidence) / (len(INTENTS) - 1)
        scores = {i: (confidence if i == label else rest) for i in INTENTS}
        return IntentPrediction(label=label, confidence=confidence, scores=scores)
