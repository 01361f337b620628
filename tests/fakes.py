"""Tiny deterministic fakes shared by unit tests.

- ``KeywordEmbedder``: character uni/bi-grams hashed (sha256, so stable across
  runs) into a small vector; texts sharing characters are close, so nearest
  neighbours are predictable without a model.
- ``tiny_items()``: a 10-item knowledge base with real-shaped content,
  including situations and a bundle.
- ``ScriptedGenerator``: returns a fixed text and records every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

import numpy as np

from assistant.core.types import (
    FAQ,
    Answer,
    AnswerStream,
    Citation,
    GenerationRequest,
    Location,
    Material,
    OnlineChannel,
    ServiceItem,
    Situation,
    Step,
)


class KeywordEmbedder:
    """Hashed character n-gram embedder: deterministic, no model, L2-normalised."""

    name = "fake-keyword"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0
        self.texts_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        grams = list(text) + [text[i : i + 2] for i in range(len(text) - 1)]
        for g in grams:
            h = int.from_bytes(hashlib.sha256(g.encode("utf-8")).digest()[:4], "little")
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_queries(texts)


class ScriptedGenerator:
    """A Generator that answers with a fixed text and records its requests."""

    name = "scripted"

    def __init__(self, text: str = "scripted answer") -> None:
        self.text = text
        self.requests: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> Answer:
        self.requests.append(request)
        citations = tuple(
            Citation(item_id=i.id, item_name=i.name, field="summary", updated=i.updated) for i in request.items[:1]
        )
        return Answer(text=self.text, action=request.action, lang=request.lang, citations=citations, generator=self.name)

    def stream(self, request: GenerationRequest) -> AnswerStream:
        return AnswerStream([self.generate(request).text])


_UPDATED = date(2026, 11, 1)
_OFFICE = (Location(name="居住地社区事务受理服务中心", address="就近办理", hours="工作日 9:00-17:00"),)
_ONLINE = OnlineChannel(web="上海一网通办", app="随申办APP")


def _item(id: str, name: str, domain: str, department: str, summary: str, **kw: object) -> ServiceItem:
    base: dict[str, object] = dict(
        id=id,
        kind="item",
        name=name,
        domain=domain,
        department=department,
        summary=summary,
        updated=_UPDATED,
        status="published",
        conditions=("符合办理条件的申请人",),
        materials=(Material(name="居民身份证", form="original"),),
        process=(Step(title="提交申请", detail="线上或窗口提交"), Step(title="审核", detail="部门审核")),
        fees="不收费",
        time_limit="5个工作日",
        locations=_OFFICE,
        online=_ONLINE,
        legal_basis=("相关法规",),
        phone="12345",
        faqs=(FAQ(question=f"{name}怎么办？", answer=summary),),
    )
    base.update(kw)
    return ServiceItem(**base)  # type: ignore[arg-type]


def tiny_items() -> list[ServiceItem]:
    """Ten items with distinct vocabulary; ids are real catalog ids."""
    return [
        _item(
            "residence-permit-apply",
            "上海市居住证申领",
            "居住证",
            "上海市公安局",
            "来沪人员居住登记满半年，符合就业、住所或就读条件之一的，可以申领上海市居住证。",
            aliases=("居住证", "办居住证", "居主证", "juzhuzheng", "residence permit"),
            name_en="Shanghai Residence Permit application",
            situations=(
                Situation(key="employed", label="在沪就业", question="您是就业、有住所还是就读？"),
                Situation(key="studying", label="在沪就读", question="您是就业、有住所还是就读？"),
            ),
            materials=(
                Material(name="居民身份证", form="original"),
                Material(name="劳动合同", form="original_and_copy", situations=("employed",)),
                Material(name="在读证明", form="original", situations=("studying",)),
            ),
            time_limit="自受理之日起15日内",
        ),
        _item(
            "residence-registration",
            "来沪人员居住登记",
            "居住证",
            "上海市公安局",
            "来沪人员在居住地办理居住登记，是申领居住证的前提。",
            aliases=("居住登记", "来沪登记", "办暂住", "暂住证", "登记居住"),
        ),
        _item(
            "hukou-newborn",
            "新生儿出生户口登记",
            "户籍",
            "上海市公安局",
            "婴儿出生后一个月内，由监护人到派出所为新生儿申报出生户口。",
            aliases=("报出生", "给孩子上户口", "新生儿落户", "宝宝报户口", "上户口"),
            materials=(Material(name="出生医学证明", form="original"), Material(name="父母户口簿", form="original")),
        ),
        _item(
            "social-security-card",
            "社会保障卡申领与补换",
            "社保",
            "上海市人力资源和社会保障局",
            "本市参保人员申领、补领或换领社会保障卡。",
            aliases=("社保卡", "社宝卡", "shebaoka", "补社保卡", "social security card"),
            fees="首次申领免费，补换工本费以窗口告知为准",
        ),
        _item(
            "housing-fund-withdraw-rent",
            "租房提取住房公积金",
            "公积金",
            "上海市公积金管理中心",
            "职工在本市租房自住的，可以提取住房公积金支付房租。",
            aliases=("租房提公积金", "公积金租房提取", "付房租提公积金", "租房取公积金", "gongjijin租房"),
        ),
        _item(
            "housing-fund-withdraw-buy",
            "购房提取住房公积金",
            "公积金",
            "上海市公积金管理中心",
            "职工购买自住住房的，可以提取住房公积金。",
            aliases=("买房提公积金", "购房提取", "买房取公积金", "首付提公积金", "公积金买房提取"),
        ),
        _item(
            "housing-fund-withdraw-leave",
            "离职或离沪提取住房公积金",
            "公积金",
            "上海市公积金管理中心",
            "职工离职后离开本市或与单位终止劳动关系的，可以按规定提取住房公积金。",
            aliases=("离职提公积金", "离沪提取", "辞职取公积金", "离开上海取公积金", "销户提取"),
        ),
        _item(
            "passport-apply",
            "普通护照申领",
            "出入境",
            "上海市公安局出入境管理局",
            "中国公民因私出国可以申请普通护照。",
            aliases=("办护照", "护照", "申请护照", "huzhao", "passport"),
            fees="以出入境管理部门公布标准为准",
        ),
        _item(
            "business-establish",
            "企业设立登记（营业执照）",
            "企业开办",
            "上海市市场监督管理局",
            "设立公司等企业，向市场监管部门申请设立登记，领取营业执照。",
            aliases=("办营业执照", "注册公司", "开公司", "营业执照", "公司注册"),
        ),
        ServiceItem(
            id="onething-birth",
            kind="bundle",
            name="出生一件事",
            domain="一件事",
            department="上海市政府办公厅",
            summary="孩子出生后的出生医学证明、户口登记、医保参保等事项一次办理。",
            updated=_UPDATED,
            status="published",
            aliases=("孩子出生要办什么", "出生一件事", "宝宝出生办证", "新生儿一件事", "出生联办"),
            conditions=("本市出生的新生儿",),
            process=(
                Step(title="新生儿户口登记", item="hukou-newborn", needs="出生医学证明"),
                Step(title="社保卡", item="social-security-card", needs="户口登记完成"),
            ),
            fees="不收费",
            time_limit="各事项时限以各部门为准",
            online=_ONLINE,
            legal_basis=("上海市一件事改革相关规定",),
            faqs=(FAQ(question="孩子出生要办哪些事？", answer="出生医学证明、户口登记、社保卡等可一次办理。"),),
        ),
    ]


class RecordingEmbedder(KeywordEmbedder):
    """The keyword fake that remembers every query text the model would embed."""

    def __init__(self) -> None:
        super().__init__()
        self.query_texts: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_texts.extend(texts)
        return super().embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed_queries(texts)  # passages are not query texts
