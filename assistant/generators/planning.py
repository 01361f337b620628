"""Answer planning: split an item into answer units, score them against the question, order them.

Every item becomes units (each condition, material, step, fee line, time-limit
line, location, online channel, situation condition, benefit line and FAQ
pair).  The plan keeps the units that answer the asked aspects, scored against
the question's own words (character bigrams weighted by how rare they are
within the item, so 反悔 and 撤回 count and 办理 does not), and an FAQ whose
question is close to the citizen's (question-to-question similarity).  It is
written in this order: the direct answer (the unit that decides; a verdict such
as 可以 / 不需要 only where that unit itself says so), then what else was asked,
then the supporting detail.  Every generator writes from the plan: the composer
deterministically, the LLM generators with only these units as context.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.core.settings import AnswerSettings
from assistant.core.text import expand_colloquial, normalize
from assistant.core.types import (
    ASPECT_FIELDS,
    AnswerPlan,
    AnswerUnit,
    Embedder,
    Lang,
    PlannedUnit,
    ServiceItem,
)

#: Aspect of each unit field (the inverse of ASPECT_FIELDS, first aspect wins).
FIELD_ASPECT: dict[str, str] = {}
for _aspect, _fields in ASPECT_FIELDS.items():
    for _f in _fields:
        FIELD_ASPECT.setdefault(_f, _aspect)
FIELD_ASPECT["summary"] = "overview"
FIELD_ASPECT["faqs"] = ""

#: Question words carry the aspect, not the topic: they do not count as overlap.
_FUNCTION = re.compile(
    r"多少钱|多少|多久|多长时间|怎么办|怎么|如何|怎样|能不能|可不可以|可以|需不需要|需要|要不要|"
    r"是不是|是否|有没有|什么|哪些|哪里|在哪|吗|呢|吧|啊|的|了|我|你|您|要|想|请问|一下|办理|申请|上海"
)
#: "the whole list" (查看全部材料, all materials): no short list.
_FULL = re.compile(r"全部|所有|完整|全部的|\ball\b|full list|every")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[。；;！!？?])")

#: How sure a yes/no unit must be before its verdict is said (share of its words met).
_NEGATIVE = re.compile(r"(不可以|不能|不得|不予|不允许|不支持|不受理|禁止|无法|不可)")
_NO_NEED = re.compile(r"(不需要|无需|不用|不必|免于|免交|免予|无须|不再需要|不收费|免费)")
_POSITIVE = re.compile(r"(可以|允许|能够|可向|可申请|可办理|可在|可到)")
_NEED = re.compile(r"(需要|须|应当|必须|应)")


_normal = normalize

#: Fields an asked aspect lists whole (materials, steps): one entry does not lead a
#: question that is not yes/no.
_LISTED = frozenset({"materials", "process"})


#: English question and function words: like _FUNCTION, they carry no topic.
_EN_FUNCTION = frozenset(
    "how many much long what when where which who whom why can could may might do does did is are was were be been "
    "the a an to for of in on at by with from and or if then than this that these those there here it its my our "
    "your their his her we you they i me us them get got have has had need needs will would should shall must "
    "not no yes any some all also just still please about into after before over under again apply applying "
    "shanghai service".split()
)


def _bigrams(text: str) -> tuple[str, ...]:
    """Character bigrams of the content words of ``text`` (Latin words whole, function words out).

    Cached: the same unit texts are read at every question, and the normal form
    (OpenCC's traditional-to-simplified conversion) costs most of the work.
    """
    return _bigrams_of(text)


@lru_cache(maxsize=32768)
def _gram_set(text: str) -> frozenset[str]:
    """The set of :func:`_bigrams` of ``text`` (cached like them)."""
    return frozenset(_bigrams_of(text))


@lru_cache(maxsize=32768)
def _bigrams_of(text: str) -> tuple[str, ...]:
    t = _FUNCTION.sub(" ", _normal(text))
    grams: list[str] = []
    for piece in _PUNCT.split(t):
        if not piece:
            continue
        if piece.isascii():
            if len(piece) > 2 and piece not in _EN_FUNCTION:
                grams.append(piece)
            continue
        grams.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return tuple(grams)


def _split_lines(text: str) -> list[str]:
    """A fee or time-limit text as its sentences (each one unit)."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def item_units(item: ServiceItem) -> tuple[AnswerUnit, ...]:
    """Every answer unit of ``item``, in the item's own order."""
    units: list[AnswerUnit] = []

    def add(field: str, index: int, text: str, en: str = "", **kw: str) -> None:
        if text.strip():
            units.append(AnswerUnit(item.id, field, index, FIELD_ASPECT.get(field, ""), text.strip(), en.strip(), **kw))

    add("summary", 0, item.summary, item.summary_en)
    for i, c in enumerate(item.conditions):
        add("conditions", i, c, item.conditions_en[i] if i < len(item.conditions_en) else "")
    for si, s in enumerate(item.situations):
        for i, c in enumerate(s.conditions):
            label_en = s.label_en or s.label
            en = s.conditions_en[i] if i < len(s.conditions_en) else ""
            add("situations", si * 100 + i, f"{s.label}：{c}", f"{label_en}: {en}" if en else "", situation=s.key)
    for i, m in enumerate(item.materials):
        add("materials", i, m.name, m.name_en, situation=",".join(m.situations))
    for i, st in enumerate(item.process):
        zh = f"{st.title}：{st.detail}" if st.detail else st.title
        en = f"{st.title_en}: {st.detail_en}" if st.detail_en else st.title_en
        add("process", i, zh, en)
    zh_fees, en_fees = _split_lines(item.fees), _split_lines(item.fees_en)
    for i, line in enumerate(zh_fees):
        add("fees", i, line, en_fees[i] if len(en_fees) == len(zh_fees) else (item.fees_en if i == 0 else ""))
    zh_time, en_time = _split_lines(item.time_limit), _split_lines(item.time_limit_en)
    for i, line in enumerate(zh_time):
        add("time_limit", i, line, en_time[i] if len(en_time) == len(zh_time) else (item.time_limit_en if i == 0 else ""))
    if item.benefit is not None:
        add("benefit", 0, item.benefit.amount, item.benefit.amount_en)
    for i, loc in enumerate(item.locations):
        zh = "；".join(x for x in (loc.name, loc.address, loc.hours, loc.note) if x)
        en = "; ".join(x for x in (loc.name_en, loc.address_en, loc.hours_en, loc.note_en) if x)
        add("locations", i, zh, en)
    if item.phone:
        add("phone", 0, f"咨询电话：{item.phone}", f"Enquiries: {item.phone}")
    ch = item.online
    if ch.available:
        # each channel a unit of its own: "which app" is answered by the app line
        for i, (zh, en) in enumerate(((ch.web, ch.web_en), (ch.app, ch.app_en), (ch.note, ch.note_en))):
            add("online", i, zh, en)
    else:
        add("online", 0, "该事项暂不支持网上办理" + (f"：{ch.note}" if ch.note else ""),
            "Not available online" + (f": {ch.note_en}" if ch.note_en else ""))
    for i, f in enumerate(item.faqs):
        if f.lang == "en":
            add("faqs", i, f.answer, f.answer, question=f.question, question_en=f.question)
        else:
            add("faqs", i, f.answer, f.answer_en, question=f.question, question_en=f.question_en)
    return tuple(units)


@dataclass(frozen=True)
class _ItemVectors:
    """One item's unit vectors and, per (unit position, language), its sentences' vectors."""

    item: ServiceItem
    units: np.ndarray
    clauses: dict[tuple[int, str], np.ndarray]


class AnswerPlanner:
    """Builds the AnswerPlan of one item for one question (pure, deterministic)."""

    def __init__(self, settings: AnswerSettings | None = None, *, embedder: Embedder | None = None) -> None:
        self.settings = settings or AnswerSettings()
        self.embedder = embedder if self.settings.dense_weight > 0 else None
        self._cache: dict[str, tuple[ServiceItem, tuple[AnswerUnit, ...]]] = {}
        self._vectors: dict[str, _ItemVectors] = {}

    def load(self, items: Iterable[ServiceItem]) -> None:
        """Embed every unit of ``items``, and each sentence of the long ones, at start-up.

        The embedder's disk cache keeps the vectors, so only new text is embedded.
        Idempotent, and called again with edited items (another object) it embeds
        those again; without an embedder the planner scores lexically only.
        """
        if self.embedder is None:
            return
        todo = [item for item in items if self._loaded(item) is None]
        texts: list[str] = []
        plans: list[tuple[ServiceItem, int, int, list[tuple[int, str, int, int]]]] = []
        for item in todo:
            units = self.units(item)
            start = len(texts)
            texts.extend(u.question or u.text for u in units)
            clauses: list[tuple[int, str, int, int]] = []
            for i, u in enumerate(units):
                for lang, text in (("zh", u.text), ("en", u.text_en)):
                    parts = self._clauses(text, lang)
                    if parts:
                        clauses.append((i, lang, len(texts), len(texts) + len(parts)))
                        texts.extend(parts)
            plans.append((item, start, start + len(units), clauses))
        if not texts:
            return
        vectors = np.asarray(self.embedder.embed_passages(texts), dtype=np.float32)
        for item, start, end, clauses in plans:
            self._vectors[item.id] = _ItemVectors(
                item, vectors[start:end], {(i, lang): vectors[a:b] for i, lang, a, b in clauses}
            )

    def _clauses(self, text: str, lang: Lang) -> list[str]:
        """The sentences of a unit text long enough to be said by its focus (else none)."""
        limit = self.settings.focus_chars * (2 if lang == "en" else 1)
        parts = sentences(text) if len(text) > limit else []
        return parts if len(parts) > 1 else []

    def _loaded(self, item: ServiceItem) -> _ItemVectors | None:
        """The vectors of this very item object (an edited item has none until loaded)."""
        cached = self._vectors.get(item.id)
        return cached if cached is not None and cached.item is item else None

    def _query(self, question: str) -> np.ndarray | None:
        """The question's vector (None without an embedder)."""
        if self.embedder is None:
            return None
        # the normal form is what the classifier and the retriever embedded: a cache hit
        return np.asarray(self.embedder.embed_queries([normalize(question)]), dtype=np.float32)[0]

    def _dense_share(self, cos: float) -> float:
        """A cosine above ``dense_floor`` rescaled to 0–1 and weighted: the dense part of a score."""
        floor, w = self.settings.dense_floor, self.settings.dense_weight
        return w * max(0.0, (cos - floor) / (1.0 - floor))

    def units(self, item: ServiceItem) -> tuple[AnswerUnit, ...]:
        """The item's units, cached per item (an edited item is another object: split again)."""
        cached = self._cache.get(item.id)
        if cached is None or cached[0] is not item:
            cached = self._cache[item.id] = (item, item_units(item))
        return cached[1]

    def plan(
        self,
        item: ServiceItem,
        question: str,
        aspects: Sequence[str],
        *,
        yes_no: bool = False,
        lang: Lang = "zh",
        situation: str = "",
    ) -> AnswerPlan:
        """The plan answering ``aspects`` of ``question`` from ``item``."""
        all_units = self.units(item)
        units = [u for u in all_units if _fits_situation(u, situation)]
        asked = list(dict.fromkeys(a for a in aspects if a)) or ["overview"]
        asked = [_resolve_money(a, item) for a in asked]
        asked = list(dict.fromkeys(asked))
        topic = _topic_grams(item)
        weights = _weights(question, units, lang, topic=topic)
        # the question's words beyond those naming the item: what it asks of the item
        own = {g: w for g, w in weights.items() if g not in topic}
        scores = {id(u): _share(weights, _unit_text(u, lang)) for u in units}
        loaded = self._loaded(item)
        query = self._query(question) if loaded is not None else None
        position = {id(u): i for i, u in enumerate(all_units)}
        if loaded is not None and query is not None:
            dense = loaded.units @ query
            for u in units:
                scores[id(u)] += self._dense_share(float(dense[position[id(u)]]))
        faq_sim = {
            id(u): _dice(question, _faq_question(u, lang))
            for u in units
            if u.field == "faqs"
        }
        planned: list[PlannedUnit] = []
        used: set[int] = set()
        full = bool(_FULL.search(_normal(question)))

        en = lang == "en"
        types = answer_types(question)
        # a deadline or validity question: the type of the unit that answers it, and the
        # units of that type (not lists: a material naming 有效期 answers nothing)
        limit_type = next((answer for _, answer in _LIMIT_KINDS if types and types[0] is answer), None)
        limit_units = (
            [u for u in units if u.field not in _LISTED and _typed(_unit_text(u, lang), (limit_type,))]
            if limit_type is not None
            else []
        )

        def take(u: AnswerUnit, score: float, role: str) -> None:
            if id(u) not in used:
                used.add(id(u))
                english = en and bool(u.text_en)
                said = u.text_en if english else u.text
                clause_vectors = loaded.clauses.get((position[id(u)], "en" if english else "zh")) if loaded else None
                dense = None
                if clause_vectors is not None and query is not None:
                    dense = [self._dense_share(float(c)) for c in clause_vectors @ query]
                focus = focus_of(said, weights, self.settings.focus_chars, english=english, dense=dense, types=types)
                own = _OWN_VERDICT.match(said.strip()) if u.field == "faqs" else None
                if own and (not yes_no or faq_sim.get(id(u), 0.0) < self.settings.faq_direct):
                    # an FAQ's own 可以 / Yes answers its own question: said to another
                    # question (要什么条件, or a yes/no question it was not asked in) it would
                    # answer something nobody asked, so the answer starts after it
                    focus = after_verdict(focus or said)
                # the recorded score ranks a field's units for the short answer: one of the
                # expected answer type (a duration for 多久) comes first
                planned.append(PlannedUnit(u, round(score + _typed(said, types), 4), role, focus))

        # 1. the direct answer: an FAQ asked almost word for word, else (yes/no or a
        #    question with a topic of its own) the unit that meets the question best
        asks_money = "fee" in asked or bool(types and types[0] is _ANSWER_TYPES[0][1])

        def costs_only(u: AnswerUnit) -> bool:
            # asked whether one can (在上海能换吗), a line saying what it costs decides
            # nothing, however many of the question's words it shares (外地人在上海换身份证多少钱)
            return yes_no and not asks_money and (u.field == "fees" or (u.field == "faqs" and answers_fee(u.text)))

        best_faq = max(
            (u for u in units if u.field == "faqs" and not costs_only(u)), key=lambda u: faq_sim[id(u)], default=None
        )
        verdict = ""
        if (
            best_faq is not None
            and faq_sim[id(best_faq)] >= self.settings.faq_direct
            # asked almost word for word means in the words that ask, not only those naming
            # the item: Can I apply for the work permit myself? is not What documents do I
            # need for a work permit?  English questions have few content words and the
            # item's name is most of them; a Chinese question's character pairs say more
            # (注销抵押要钱吗 meets 注销抵押登记收费吗 mostly in the name, and rightly).
            and (lang != "en" or not own or _share(own, _faq_question(best_faq, lang)) > 0)
            # an FAQ about the same service that answers another kind of question (能不能在
            # 上海办 for 多少钱) does not lead: where a kind of answer is expected, it must give it
            and (not types or _typed(_unit_text(best_faq, lang), types))
        ):
            take(best_faq, faq_sim[id(best_faq)], "direct")
        else:
            # only a yes/no question has a deciding unit outside what it asks (能不能反悔 is
            # decided by a step); otherwise the asked aspects come first, in the order asked
            # the deciding unit is looked for among the asked aspects' units (and FAQs) first
            # (能当场拿到吗 is decided by a time-limit line), then anywhere in the item
            candidates = [
                u for u in units
                if u.field not in ("summary", "phone")
                and not (
                    u.field == "faqs"
                    and _OWN_VERDICT.match(((u.text_en or u.text) if lang == "en" else u.text).strip())
                    and faq_sim[id(u)] < self.settings.faq_verdict
                )
            ]
            candidates = [u for u in candidates if not costs_only(u)]
            wanted = {f for a in asked for f in ASPECT_FIELDS.get(a, ())} | {"faqs"}
            # a question asking how long or when finds its answer where the item says it: 年检能
            # 提前多久办 is answered by a condition (有效期满前3个月内), not the inspection's own
            # time limit.  (An office or an amount named in a condition is a mention, not an answer.)
            timed = [t for t in types if t in _TIME_TYPES]
            inside = [u for u in candidates if u.field in wanted or (timed and not yes_no and _typed(_unit_text(u, lang), timed))]
            if not yes_no:
                # a question that is not yes/no is led only by what it asks: a unit of an
                # asked aspect (or an FAQ), of the expected answer type where there is one
                # (asked 多少钱, a place is no lead however many words it shares)
                # An FAQ leads such a question only when it was asked about the same thing
                # (its question close to the citizen's): its answer shares the item's words
                # with any question, and said first to another one it answers nobody.
                inside = [
                    u for u in inside
                    if u.field not in _LISTED
                    and (not types or _typed(_unit_text(u, lang), types))
                    and (u.field != "faqs" or faq_sim[id(u)] >= self.settings.faq_verdict)
                ]
            best = max(inside, key=lambda u: scores[id(u)], default=None)
            if yes_no and (best is None or scores[id(best)] < self.settings.decide_share):
                best = max(candidates, key=lambda u: scores[id(u)], default=None)
            if best is not None and scores[id(best)] >= self.settings.decide_share and (
                yes_no or scores[id(best)] >= self.settings.lead_share
            ):
                # a yes/no question is decided by its best unit; any other question is led
                # by a unit only when that unit meets most of the question's own words
                take(best, scores[id(best)], "direct")
            elif limit_units:
                # asked by when the citizen must act (or how long the document lasts), the
                # item's sentence that says so leads wherever it stands (城市在葬前申报 is a
                # condition, 有效期5年 an FAQ's): neither is a processing time, and their
                # few words rarely share the question's
                among = {id(u) for u in candidates}
                limits = [u for u in limit_units if id(u) in among]
                if limits:
                    first = max(limits, key=lambda u: scores[id(u)])
                    take(first, scores[id(first)], "direct")
        direct = [p for p in planned if p.role == "direct"]
        if yes_no and direct and direct[0].score >= self.settings.verdict_share:
            verdict = _verdict(direct[0].unit.text, question, item.name)

        # 2. what was asked: each aspect's units, the most relevant first for long lists
        more: list[str] = []
        for aspect in asked:
            fields = ASPECT_FIELDS.get(aspect, ())
            if aspect == "overview":
                fields = ("summary",)
            if aspect == "time_limit" and limit_units and not any(u.field in fields for u in limit_units):
                # 能用几年 asks the validity (最晚 a deadline): where the time-limit field gives
                # only how long issuing takes, the unit that gives it (an FAQ's 有效期5年) is said
                best_limit = max(limit_units, key=lambda u: scores[id(u)])
                take(best_limit, scores[id(best_limit)], "asked")
            for field in fields:
                group = [u for u in units if u.field == field]
                if not group:
                    continue
                limit = len(group) if full or field in ("fees", "time_limit", "benefit", "online", "summary", "phone") else self.settings.list_units
                if len(group) > limit:
                    more.append(field)
                    keep = sorted(group, key=lambda u: -scores[id(u)])[:limit]
                    group = [u for u in group if u in keep]
                for u in group:
                    take(u, scores[id(u)], "asked")
        # 3. supporting detail: the best-scoring other units (an overview also shows the
        #    main conditions and steps)
        if asked == ["overview"]:
            for field in ("conditions", "process"):
                group = [u for u in units if u.field == field][:3]
                for u in group:
                    take(u, scores[id(u)], "support")
                if len([u for u in units if u.field == field]) > 3:
                    more.append(field)
        rest = sorted(
            (u for u in units if id(u) not in used and u.field not in ("summary", "phone") and scores[id(u)] >= self.settings.decide_share),
            key=lambda u: -scores[id(u)],
        )
        for u in rest[: self.settings.support_units]:
            take(u, scores[id(u)], "support")
        return AnswerPlan(
            item_id=item.id,
            aspects=tuple(asked),
            yes_no=yes_no,
            units=tuple(planned),
            verdict=verdict,
            more=tuple(dict.fromkeys(more)),
            full=full,
        )


def _resolve_money(aspect: str, item: ServiceItem) -> str:
    """``fee`` on an item that pays a benefit and costs nothing asks the benefit, and back."""
    if aspect == "benefit" and item.benefit is None:
        return "fee"
    if aspect == "fee" and item.benefit is not None and re.search(r"不收费|免费|无", item.fees or "不收费"):
        return "benefit"
    return aspect


def _fits_situation(unit: AnswerUnit, situation: str) -> bool:
    if not situation or not unit.situation:
        return True
    return situation in unit.situation.split(",")


def _weights(
    question: str, units: Sequence[AnswerUnit], lang: Lang, *, topic: frozenset[str] = frozenset()
) -> dict[str, float]:
    """The question's content bigrams, each weighted by its rarity among the item's units.

    The question's colloquial words bring their official ones along (老婆 → 配偶), the
    words the units are written in.  Bigrams of the item's own name and aliases
    (``topic``) found the item; inside it they say nothing about which unit answers
    (我老婆有房 还能租房提公积金吗 is decided by 配偶…无自有住房, not by an FAQ that repeats
    租房提取公积金), so they weigh :data:`_TOPIC_WEIGHT` of their rarity.
    """
    q = Counter(_bigrams(expand_colloquial(question)))
    if not q:
        return {}
    docs = [_gram_set(_unit_text(u, lang)) for u in units]
    n = len(docs) or 1
    df = Counter(g for d in docs for g in d)
    return {g: math.log(1 + n / (1 + df[g])) * (_TOPIC_WEIGHT if g in topic else 1.0) for g in q}


#: Weight of a question bigram that names the item itself (its name or an alias).
_TOPIC_WEIGHT = 0.3


def _topic_grams(item: ServiceItem) -> frozenset[str]:
    """The content bigrams of the item's names: what every unit of it is about."""
    return _gram_set(" ".join((item.name, item.name_en, *item.aliases)))


def _share(weights: dict[str, float], text: str) -> float:
    """The share of the question's weighted content bigrams that ``text`` contains."""
    total = sum(weights.values())
    if not total:
        return 0.0
    grams = _gram_set(text)
    return sum(w for g, w in weights.items() if g in grams) / total


def _scores(question: str, units: Sequence[AnswerUnit], lang: Lang) -> dict[int, float]:
    """Each unit's share of the question's content bigrams it contains, idf-weighted in the item."""
    weights = _weights(question, units, lang)
    return {id(u): _share(weights, _unit_text(u, lang)) for u in units}


#: What kind of text answers a kind of question (the expected answer types of classic
#: question answering): asked 多少钱, a sentence with an amount or 免费 answers; asked 多久,
#: one with a duration.  A unit or sentence of the expected type is the better one to say first.
_ANSWER_TYPES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(q, re.IGNORECASE), re.compile(a, re.IGNORECASE))
    for q, a in (
        (
            r"多少钱|收费|费用|要钱|收钱|花多少|贵不贵|免费|how much|\bcosts?\b|\bfees?\b|\bpay\b|\bfree\b",
            r"\d+(\.\d+)?\s*元|免费|不收费|不收取|收取|工本费|\byuan\b|free of charge|no (card )?fee|\bfree\b|\bcharged?\b",
        ),
        (
            r"多久|多长时间|几天|多少天|几个月|多少个月|几年|多少年|工作日|期限|时限|有效期|用几年|how long|how many (days|weeks|months|years)|valid",
            # a duration in digits or in words (一个月内, 半年, one-year, sixty days)
            r"(\d+|(?<![上下])[一二两三四五六七八九十百半]+)\s*(个)?(工作日|日|天|周|月|年)|当场|当天|当日|即时|即办|次日|立即|"
            r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|sixty|ninety)"
            r"[\s-]*(working[\s-])?(days?|weeks?|months?|years?)\b|same day|on the spot|immediately",
        ),
        (
            r"什么时候|几月|哪天|几号|when\b",
            r"\d+\s*月|\d+\s*日|每年|每月|每季|当天|(january|february|march|april|may|june|july|august|september|october|november|december)",
        ),
        (
            r"(拿|领|发|补|报|给|赔)(到)?(多少|几)|标准|比例|金额|how much .*(get|receive|paid)|\bamount\b|\brate\b",
            r"\d|%|标准|比例|金额|按月|每月|\bper cent\b|\bpercent\b|\bstandard\b|\brate\b|\bamount\b",
        ),
        (
            r"(哪个|什么|啥)(app|软件|小程序)|\bwhich app\b|\bwhat app\b|\bapp\b|手机上",
            r"\bapp\b|APP|小程序|随申办",
        ),
        (
            r"(哪个|什么|啥)(网站|平台|系统)|\bwhich (website|platform|system)\b|\bwebsite\b",
            r"网站|平台|系统|一网通办|\.gov\.cn|website|platform|portal",
        ),
        (
            # a citizen who gives an age (我17岁, 我妈今年82了, my father is 67) is answered by
            # what the item says of ages: 年满18周岁, 65-69周岁, aged 18 or over
            r"\d+\s*(岁|周岁)|今年\d+|\b\d+\s*(years? old|yo)\b|\b(is|am|are|turned|aged?)\s+\d+\b",
            r"\d+\s*(周岁|岁)|年满|\baged?\s+\d+|\bages?\s+\d+|\d+\s*or\s*(over|older|above)|\bunder\s+\d+|\d+\s*[-–]\s*\d+",
        ),
        (
            r"哪里|在哪|哪儿|去哪|上哪|到哪|地址|什么地方|哪个部门|\bwhere\b|\baddress\b",
            r"中心|窗口|大厅|网点|派出所|办事处|分局|登记处|\d+号|\bcentre\b|\bcenter\b|\boffice\b|\bwindow\b|\bbranch\b|\bstation\b",
        ),
    )
)
#: A deadline question (最晚什么时候得去销户, 提前多久能办, how many days do I have to apply)
#: asks a limit on the citizen, answered by what must be done before or within a time
#: (城市在葬前申报, 有效期满前3个月内申请), not by how long the office takes (当场办结).
_DEADLINE = (
    re.compile(
        r"最晚|最迟|截止|提前(多久|多长|几)|(多少|几)(天|个月|年)(之内|以内|内)|多久(之内|以内|内)|"
        r"时效|deadline|by when|no later|how (many days|long) do (i|we|you) have|is there a (time limit|deadline)|"
        r"limitation period",
        re.IGNORECASE,
    ),
    re.compile(
        r"(内|前)[^，。；,;]{0,4}(申报|申请|办理|缴纳|登记|提出|提交|换领|报名|参保|备案)|(应当?|须|需|必须)[^，。；]{0,12}(内|前)|"
        r"\bwithin \S+ (working )?(days?|months?|years?) of\b|\bno later than\b|\bbefore (the|it|your)\b|"
        r"\bmust (apply|report|register|pay)\b|时效|\blimitation period\b",
        re.IGNORECASE,
    ),
)
#: A validity question (能用几年, how long is it valid) asks how long the document lasts,
#: answered by 有效期5年, not by how long the office takes to issue it.
_VALIDITY = (
    re.compile(
        r"(能|可以)?用(几|多少)年|管(几|多少)年|能用多久|有效期(是)?(多长|多久|几年|有多长)|"
        r"how long is (it|the \w+|my \w+|a \w+)( \w+)? (valid|good)|valid for how long|good for",
        re.IGNORECASE,
    ),
    re.compile(r"有效期|有效\S{0,6}\d+\s*年|\bvalid\b|\bvalidity\b", re.IGNORECASE),
)
#: Time questions of a kind a duration does not answer: a deadline and a validity.
_LIMIT_KINDS = (_DEADLINE, _VALIDITY)
#: The answer types of 多久 and 什么时候: a duration or a date (or a deadline, a validity).
_TIME_TYPES = (_ANSWER_TYPES[1][1], _ANSWER_TYPES[2][1], _DEADLINE[1], _VALIDITY[1])


def answers_fee(text: str) -> bool:
    """True when ``text`` states what something costs (an amount or 免费: the 多少钱 answer type).

    Only the fee has a kind this plain: a duration or an office in an FAQ's answer is
    often one of several (单位30日内、个人1年内), an amount or 免费 is the answer."""
    return bool(_ANSWER_TYPES[0][1].search(text))


#: How much a unit or a sentence of the expected answer type counts beside its score.
_TYPE_BONUS = 0.25


def answer_types(question: str) -> tuple[re.Pattern[str], ...]:
    """The answer-type patterns a question's words call for (none: any text may answer)."""
    q = _normal(question)
    types = tuple(a for q_pattern, a in _ANSWER_TYPES if q_pattern.search(q))
    for asked, answer in _LIMIT_KINDS:
        if asked.search(q):
            # a limit on the citizen or on the document: a processing time (当场办结, a
            # duration) is no answer; a date (by 30 June) may be
            return (answer, *(a for a in types if a is not _ANSWER_TYPES[1][1]))
    return types


#: A hedge (以各中心公告为准, 以窗口告知为准): it names an office or a notice, and answers nothing.
_HEDGE = re.compile(r"以[^，。；,;]{0,30}为准")


def _typed(text: str, types: Sequence[re.Pattern[str]]) -> float:
    """The bonus of a text of an expected answer type (0 when none is expected or met).

    Its hedges do not count: 一般为工作日 9:00-17:00，以各中心公告为准 names a 中心 but does not
    say where to go.
    """
    if not types:
        return 0.0
    text = _HEDGE.sub("", text)
    return _TYPE_BONUS if any(t.search(text) for t in types) else 0.0


#: Where a unit's text splits into sentences and clauses (Chinese stops and semicolons,
#: English full stops and semicolons followed by a space).
_CLAUSE = re.compile(r"(?<=[。；;！!？?])(?![”」）)])|(?<=\.)\s+(?=[A-Z(“\"])")


def sentences(text: str) -> list[str]:
    """``text`` as its sentences and semicolon clauses, in order."""
    return [s.strip() for s in _CLAUSE.split(text) if s and s.strip()]


#: Characters (Chinese; English three times as many) a unit must keep beyond its focus.
_MIN_REST = 20


def focus_of(
    text: str,
    weights: dict[str, float],
    limit: int,
    *,
    english: bool = False,
    dense: Sequence[float] | None = None,
    types: Sequence[re.Pattern[str]] = (),
) -> str:
    """The sentence of ``text`` that meets the question best, "" when ``text`` is short.

    A sentence is scored like a unit: the share of the question's weighted content
    bigrams it holds, plus its ``dense`` part when the sentences were embedded, plus a
    bonus when it is of an expected answer ``type`` (an amount for 多少钱).
    English runs about twice as long as Chinese for the same content, so its limit is
    twice ``limit``.  A very short best sentence (可以。) takes the next one along;
    a focus that is most of the text, or leaves only a short clause, is no focus.
    """
    if len(text) <= (2 * limit if english else limit):
        return ""
    parts = sentences(text)
    if len(parts) < 2:
        return ""
    scored = [_share(weights, p) + _typed(p, types) for p in parts]
    if dense is not None and len(dense) == len(parts):
        scored = [s + d for s, d in zip(scored, dense)]
    best = max(range(len(parts)), key=lambda i: (scored[i], -i))
    focus = parts[best]
    if len(focus) < (40 if english else 20) and best + 1 < len(parts):
        focus = focus + (" " if english else "") + parts[best + 1]
    # a focus worth saying apart leaves a real rest behind (not a closing clause such as
    # 以窗口告知为准 on a line of its own)
    rest = len(text) - len(focus)
    return focus if len(focus) <= 0.7 * len(text) and rest >= (3 * _MIN_REST if english else _MIN_REST) else ""


def _faq_question(u: AnswerUnit, lang: Lang) -> str:
    """The question of an FAQ unit as the citizen's language reads it."""
    return u.question_en if lang == "en" and u.question_en else u.question


def _unit_text(u: AnswerUnit, lang: Lang) -> str:
    parts = [u.question, u.text]
    if lang == "en":
        parts += [u.question_en, u.text_en]
    return " ".join(p for p in parts if p)


def containment(text: str, said: Iterable[str]) -> float:
    """The share of ``text``'s content bigrams that the texts already ``said`` contain (0 to 1)."""
    grams = set(_bigrams(text))
    if not grams:
        return 1.0
    seen: set[str] = set()
    for s in said:
        seen.update(_bigrams(s))
    return len(grams & seen) / len(grams)


def _dice(a: str, b: str) -> float:
    x, y = Counter(_bigrams(a)), Counter(_bigrams(b))
    if not x or not y:
        return 0.0
    inter = sum((x & y).values())
    return 2 * inter / (sum(x.values()) + sum(y.values()))


#: A unit that opens with its own yes or no (可以，… / 不需要。… / No, …) needs no verdict of ours.
_OWN_VERDICT = re.compile(
    r"^(可以|不可以|能|不能|可|不可|需要|不需要|要|不要|不用|无需|是|不是|会|不会|一般不|一般可以|不一定|"
    r"yes|no|not|you can|you cannot|you can't|you do not|you don't)(?![a-z])",
    re.IGNORECASE,
)


#: Where a question splits into clauses, and what marks the clause that asks yes or no.
_Q_CLAUSES = re.compile(r"[，,。；;！!？?\s]+")
_YES_NO_MARK = re.compile(
    r"能不能|可不可以|可以不|是不是|是否|要不要|需不需要|需要不|有没有|用不用|会不会|行不行|能否|可否|吗|嘛|么|伐"
)
#: The question asks whether something is needed (not whether it may be done): asked on
#: the yes/no clause itself, so 一直要人照顾 能领补贴吗 asks 能, not 需要.
_ASKS_NEED = re.compile(
    r"需要|要不要|需不需要|用不用|得不得|必须|一定要|还要|要带|带不带|得带|要交|要钱|收钱|要去|要办|要做|要先|要本人|"
    r"do i need|need to|have to|must i"
)
#: How many characters after a verdict word may name what it is said of.
_VERDICT_REACH = 8


def _yes_no_clause(question: str) -> str:
    """The clause of ``question`` that asks yes or no (the last one with a yes/no word), else all of it."""
    t = _normal(question)
    clauses = [c for c in _Q_CLAUSES.split(t) if c]
    asking = [c for c in clauses if _YES_NO_MARK.search(c)]
    return asking[-1] if asking and not t.isascii() else t


def bare_verdict(text: str) -> bool:
    """Whether ``text`` is a yes or no and nothing else (可以。 / Yes.)."""
    m = _OWN_VERDICT.match(text.strip())
    return bool(m) and not text.strip()[m.end() :].strip("，,。.；;！! ")


def after_verdict(text: str) -> str:
    """``text`` without the yes or no it opens with (可以，… → …; Yes. … → …).

    Only a verdict standing alone before a stop counts: "You can apply online…" keeps
    its words.
    """
    m = _OWN_VERDICT.match(text.strip())
    if not m or not re.match(r"\s*[，,。.；;！!]", text.strip()[m.end() :]):
        return text
    rest = text.strip()[m.end() :].lstrip("，,。.；;:： ")
    return rest[:1].upper() + rest[1:] if rest and rest.isascii() else rest or text


def _verdict(text: str, question: str, own_words: str = "") -> str:
    """``yes``/``no`` (or ``need``/``no_need``) from the deciding unit's sentence, ``""`` when
    it says neither, or says it of something else.

    A unit that already opens with its answer (可以，… 不需要，…) gets none: the unit says
    it.  The verdict is read from the unit's sentence that shares the most words with
    the clause that asks yes or no, and only when they share words beyond ``own_words``
    (the item's name, which every unit of the item is about) or the sentence is of the
    answer type the clause expects (an amount or 免费 for 要不要钱): 报户口要不要钱 is not
    answered 需要 by a sentence about when to register, nor 能领护理补贴吗 by one that
    says 需要长期照护.  Asked whether something is needed, only 需要 / 不需要 are said;
    asked whether one can, only 可以 / 不可以.
    """
    if _OWN_VERDICT.match(text.strip()):
        return ""
    clause = _yes_no_clause(question)
    types = answer_types(clause)
    if types and types[0] is _ANSWER_TYPES[0][1]:
        # 收费吗 / 要钱吗: the fee line says 不收费 or the amount itself; a 可以 or 需要
        # in front of it would answer another question
        return ""
    asked = _gram_set(expand_colloquial(clause)) - _gram_set(own_words)
    parts = sentences(text) or [text]
    # a sentence speaks of what is asked when it shares its words or is of the answer type
    # the clause expects (要不要钱 is answered by a sentence saying 不收费)
    overlap = [len(asked & _gram_set(p)) + (1 if _typed(p, types) else 0) for p in parts]
    best = max(range(len(parts)), key=lambda i: (overlap[i], -i))
    if overlap[best] == 0:
        return ""
    said = parts[best]
    # the verdict word must bear on what the clause asks: a character of the clause's own
    # words follows it closely (可以随迁 for 能一起迁过来吗; not 需要本人到场 for 必须公证吗)
    asked_chars = {ch for g in asked for ch in g}

    def bears(pattern: re.Pattern[str]) -> bool:
        return any(asked_chars & set(said[m.end() : m.end() + _VERDICT_REACH]) for m in pattern.finditer(said))

    if _ASKS_NEED.search(clause):
        if bears(_NO_NEED):
            return "no_need"
        if bears(_NEED):
            return "need"
        return ""
    if bears(_NEGATIVE):
        return "no"
    if bears(_POSITIVE):
        return "yes"
    return ""


def plan_text_units(plan: AnswerPlan) -> Iterable[AnswerUnit]:
    """The plan's units in the order an answer states them."""
    for role in ("direct", "asked", "support"):
        for p in plan.by_role(role):
            yield p.unit
