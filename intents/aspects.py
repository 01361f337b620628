"""Which consult aspects a message asks, several at once, and whether it asks yes or no.

A single intent label cannot describe 护照丢了补办要多少钱，多久能拿到 (fee and time
limit) or 驾照快到期了能不能提前换 (a yes/no question about timing).  This module
reads the question words themselves: each aspect has cue patterns, Chinese and
English, written from how people ask (not fitted to a benchmark), and the
aspects come out in the order the message asks them.  When no cue is found the
classifier's primary intent names the aspect, so every consult turn has one.

The cues are deliberately about question words (多少钱, 多久, 在哪, 带什么), not
topics: they carry over to items and phrasings the lists never saw.  The
trained intent model (``intents.trained``) also predicts the set of aspects, a
multi-label head over the same features, which hears the asking that no cue
names (宝宝能跟着我落户吗 asks the conditions); with its scores the model decides
which aspects are asked and the cues order them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from assistant.core.text import normalize
from assistant.core.types import ASPECTS, AspectPrediction, intent_aspect

#: Cue patterns per aspect.  Order inside a pattern does not matter; the aspect's
#: position in the message is its first match.
_CUES: Mapping[str, tuple[str, ...]] = {
    "benefit": (
        r"(能|可以|可)?(拿|领|发|补|给|报|赔)(到)?(多少|几)",
        r"(补贴|津贴|补助|保险金|养老金|低保|救助金|抚恤金)(是|有)?(多少|几|标准|金额)",
        r"(每月|每个月|一个月|每年|一次性)(能|可以)?(拿|领|发|补)",
        r"报销(比例|多少|几成)",
        r"(金额|待遇标准|发放标准|补贴标准)",
        r"how much (do|will|can|would) (i|we|you|they|my \w+) (get|receive|be paid)",
        r"\b(amount|allowance|benefit|subsidy|pension|payment)s?\b.*\bhow much\b",
        r"\bhow much\b.*\b(allowance|benefit|subsidy|pension|reimburse\w*)\b",
        # what a benefit pays, and for how long (for how many months can I get the benefit)
        r"\b(get|receive|claim|be paid)\b.{0,30}\b(benefits?|allowances?|subsid(y|ies)|pensions?|compensation)\b",
        r"\bhow (much|many \w+)\b.{0,40}\b(get|receive|claim)\b",
    ),
    "fee": (
        r"多少钱",
        r"(费用|收费|工本费|手续费|花费|价格)",
        r"(要|需要|得)?(交|付|花)(多少|钱)",
        r"(免费|收不收|要不要钱|要钱|贵不贵)",
        r"\b(cost|costs|fee|fees|charge|charges|price|free)\b",
        # "how much is a 2-year permit": any how-much the benefit cues did not take
        r"\bhow much\b",
    ),
    "time_limit": (
        r"(多久|多长时间|多少天|几天|几个工作日|几个月|多少个工作日)",
        r"(时限|期限|截止|有效期|到期|过期|提前|逾期|时效|办结|时间)",
        r"什么时候(能|可以|才)?(拿|领|办好|出来|到账|下来|办)",
        r"(当天|当场|马上|立即|立刻|多快|几号|几点|有效|能用几年|用几年|管几年|多少年)",
        r"\bhow (long|soon)\b",
        r"\b(deadline|expire\w*|validity|valid for|in advance|early|when can)\b",
        r"\b(days|weeks|months)\b",
    ),
    "materials": (
        r"(材料|资料|证件|证明材料|复印件|原件|照片)",
        r"(带|准备|提交|提供|交)(什么|哪些|啥)",
        r"需要(什么|哪些|啥)(东西|证|材料)?",
        r"\b(documents?|materials?|papers?|paperwork|bring|prepare|submit)\b",
    ),
    "conditions": (
        r"(条件|资格|符合|要求|门槛|限制|标准)",
        r"(谁|哪些人|什么人)(可以|能)",
        r"(能|可以)(不能|不可以)?(申请|办|领|享受|参加|落户|上)",
        r"(够不够|满足|够格|年龄|满\d+年|一定要|必须|才能|才行|有没有资格)",
        r"\b(eligib\w*|qualif\w*|requirements?|who can|allowed|entitled)\b",
    ),
    "process": (
        r"(流程|步骤|程序|手续|办理方式)",
        r"(怎么|如何|怎样|咋)(办|弄|申请|操作|处理|补|换|领|提取|转|注册|登记|预约|做|搞)?",
        r"\bhow (do|can|to|should)\b",
        r"\b(steps?|procedure|process|apply)\b",
    ),
    "location": (
        r"(在哪|哪里|哪儿|去哪|上哪|到哪|什么地方|哪个地方|地址|地点|窗口|网点|哪个部门|哪个单位)",
        # asking for the phone (咨询电话是多少, 打什么电话), not giving one's own (我电话138…)
        r"(电话|热线)(是多少|多少|号码是|号是)|(打|拨)(什么|哪个)(电话|号码)",
        r"\b(where|address|office|window|location|phone number)\b",
    ),
    "online": (
        r"(网上|线上|在线|网办|手机上|小程序|随申办|一网通办|不用跑|足不出户)",
        r"\b(online|website|web|internet|app|suishenban|yiwangtongban)\b",
    ),
    "overview": (
        r"(是什么|什么是|介绍一下|了解一下|是干什么|有什么用)",
        r"\bwhat is\b",
    ),
}
_COMPILED = {a: tuple(re.compile(p) for p in ps) for a, ps in _CUES.items()}

#: How a clause *asks* an aspect (not merely names its topic): 上哪补, 收钱吗, 当场能拿到吗,
#: 能网上申请吗, 带什么.  A message often asks its second question in a short clause of its
#: own (户口本丢了 补一本多少钱 上哪补) that the aspect head, reading the whole message,
#: hears faintly; such a clause asks its aspect whatever the head says.  Topic words
#: (有效期, 网上, 材料 alone) are not here: they name what a message is about.
_ASKING: Mapping[str, tuple[str, ...]] = {
    "benefit": (
        r"(能|可以|可)?(拿|领|发|补|给|报)(到)?(多少|几)",
        r"(补贴|津贴|补助|保险金|养老金|救助金|抚恤金)(是|有)?(多少|标准)",
        r"钱(怎么|咋)(算|发|给|打)|(怎么|咋)(算钱|发钱|计算|计发)|按(多少|几)天算|打到哪",
        # which payments one gets (家属能领到哪些补助, 有什么补贴)
        r"(领|拿|享受|有)(到)?(哪些|什么|啥)(补助|补贴|津贴|待遇|救助|抚恤)",
        # how it is paid once granted (批了以后怎么发), and by what standard (按什么标准返还)
        r"(以后|之后|下来)(怎么|咋|如何)发(?!票)|按(什么|啥|哪个)标准(返还|发放|发|补|给|算|计发)",
        # whether it pays money at all (是直接打钱吗) or covers a cost (培训费能补吗)
        r"(直接)?打钱|发(现金|钱)(吗|不|么)|(费|钱)(能|可以)?(补|报销?)(吗|不|么|多少)|"
        r"(工资|待遇|津贴|补贴|养老金)(还)?(照|会|能)?发(吗|不|么)",
        r"\bhow much (do|will|can|would|does) \w+( \w+)? (get|receive)\b",
        r"\bhow (is|are) (it|they|the \w+) (calculated|worked out|paid)\b",
    ),
    "fee": (
        r"多少钱|收费(吗|不|么)|收不收|收钱(吗|不|么)|要钱(吗|不|么)|要不要钱|免费(吗|不|么)|"
        r"(花|交|付)多少|费用(是)?多少|工本费(是)?多少|贵不贵|(费用|租金)(怎么|咋)(收|算|定)",
        # money back or a late charge: 保证金退吗, 晚交了会怎样, 滞纳金
        r"(保证金|押金|费用|钱)(能|可以|会)?退|退(钱|款)|(?<![提])退(吗|不退)|晚交|逾期(交|缴)|滞纳金|罚(款|金)(是)?(多少|怎么算)",
        r"\b(have to|need to|must i|do i) pay\b|\bis (it|this|that) free\b|\bcost anything\b|\bhow much (is|does|are|will)\b",
    ),
    "time_limit": (
        r"多久|多长时间|多少天|几天|几个工作日|多少个工作日|几个月|多快|用几年|管几年",
        r"(当天|当场|马上|立即|立刻)(就)?(能|可以)|(能|可以)(当天|当场|马上|立即|立刻)",
        r"什么时候(能|可以|才)|有效期(多长|多久|是多久|几年|有多长)",
        r"\bhow (long|soon)\b|\bsame day\b|\bdeadline\b|\bwhen (can|will|do|does|should|must) (i|we|it|they|you)\b",
    ),
    "location": (
        r"在哪|哪里|哪儿|去哪|上哪|到哪(?!些)|去那(里|儿)?(办|领|申请|弄|登|交|补|打)|什么地方|哪个(窗口|部门|单位|网点)",
        # whether it can be done here (外地户口 身份证在上海能补吗): where, in Shanghai
        r"在(上海|本市|这边|这里)(能|可以)(办|补|换|领|申请|考)",
        r"\bwhere\b",
    ),
    "online": (
        r"(能|可以)(在)?(网上|线上|手机上)|(网上|线上|手机上)(能|可以|咋|怎么)|(什么|哪个|啥)(app|软件|小程序|网站|平台)",
        r"\b(apply|do it|register|sign up) online\b|\bonline\?|\b(which|what) (app|website)\b",
    ),
    "materials": (
        r"(带|准备|交|提交|提供)(些)?(什么|哪些|啥)|(什么|哪些|啥)(材料|资料|证件)",
        r"\bwhat (documents|papers|materials)\b|\bwhat do (i|we) (need to )?bring\b",
    ),
    "process": (
        r"(怎么|咋|如何)(办理|申请|操作|登记|注册)|流程|步骤|先(要)?(做|干|办)(什么|啥|嘛)|第一步|(办|要办)(哪些|什么)(事|手续)?$|哪些手续|什么手续",
        r"\bstep by step\b|\bwhat (are|is) the (steps|procedure|process)\b",
    ),
    "conditions": (
        r"条件|资格|门槛|前提|是不是(一定|必须)|一定要.*(吗|不)",
        # what must come first (要先体检吗, 需要先公证吗)
        r"(要|需要|得|必须)先\S{1,6}(吗|不|么)",
        # how long one must have lived or paid before one qualifies (住满多久才行)
        r"(满|住|交|缴|工作|上班|参保)\S{0,3}(多久|几年|多少年)才(行|能|可以)?",
        r"\beligib\w*|\bqualif\w*|\brequirements?\b|\bwho can\b",
        # whether one must (Do I need to register? Does she need a Shanghai hukou?), not what it costs
        r"(^|[.?!,;]\s*|\band\s+)(do|does) (i|we|she|he|they|my \w+) (still )?(need|have) (to (?!pay)|an? |the )",
    ),
}
_ASKING_COMPILED = {a: tuple(re.compile(p) for p in ps) for a, ps in _ASKING.items()}
_CLAUSE_SPLIT = re.compile(r"[，,。；;！!？?\s]+(?![a-z])|(?<=[?？!！。])")


def asking_clause_aspects(text: str) -> list[str]:
    """The aspects some clause of ``text`` asks in so many words (:data:`_ASKING`), in order.

    A money clause that asks what a benefit pays (能领多少) is the benefit, not a fee.
    """
    t = _normal(text)
    first: dict[str, int] = {}
    for aspect, patterns in _ASKING_COMPILED.items():
        for p in patterns:
            m = p.search(t)
            if m and m.start() < first.get(aspect, len(t) + 1):
                first[aspect] = m.start()
    if "benefit" in first and "fee" in first:
        del first["fee"]
    if "conditions" in first and "time_limit" in first and _QUALIFYING.search(t):
        rest = _QUALIFYING.sub("", t)
        if not any(p.search(rest) for p in _ASKING_COMPILED["time_limit"]):
            del first["time_limit"]  # 住满多久才行 asks a condition, not a processing time
    if "location" in first:
        clause = _clause_at(t, first["location"])
        if _ONLINE_WORDS.search(clause):
            # 网上在哪里申请 asks which online channel, not which office
            first.setdefault("online", first["location"])
            del first["location"]
        elif _MONEY_TO.search(clause):
            del first["location"]  # 钱打到哪里: where a benefit is paid to
    return sorted(first, key=lambda a: first[a])


_QUALIFYING = re.compile(r"(满|住|交|缴|工作|上班|参保)\S{0,3}(多久|几年|多少年)才(行|能|可以)?")
_ONLINE_WORDS = re.compile(r"网上|线上|在线|手机上|app|小程序|系统|平台|online|website")
_MONEY_TO = re.compile(r"(打|发|转|汇)到哪")


def _clause_at(t: str, position: int) -> str:
    """The clause of ``t`` holding ``position`` (clauses end at punctuation and spaces)."""
    start = max((m.end() for m in _CLAUSE_SPLIT.finditer(t, 0, position)), default=0)
    end = next((m.start() for m in _CLAUSE_SPLIT.finditer(t, position)), len(t))
    return t[start:end]


#: Where a message splits into the clauses a citizen asks one thing in: Chinese stops,
#: commas and spaces; English sentence ends, commas and an "and" that opens a new question.
_MESSAGE_CLAUSES_ZH = re.compile(r"[，,。；;！!？?、\s]+")
_MESSAGE_CLAUSES_EN = re.compile(
    r"(?<=[?.!])\s+|,\s*(?:and\s+)?|\s+and\s+(?=(?:how|what|when|where|which|who|can|could|do|does|is|are|will|should|must)\b)"
)
#: A clause shorter than this (Chinese characters; English letters four times as many)
#: asks nothing of its own (好的, 我想问).
_MIN_CLAUSE = 3

#: How probable a clause's own most probable aspect must be for the message to ask it.
CLAUSE_FLOOR = 0.6


def message_clauses(text: str) -> list[str]:
    """The clauses of a (normalised) message that may each ask an aspect; [] for one clause.

    护照丢了补办要多少钱，多久能拿到 is two questions; the aspect head reads the whole
    message and hears its second clause faintly, so each clause is also read alone.
    """
    english = text.isascii()
    splitter = _MESSAGE_CLAUSES_EN if english else _MESSAGE_CLAUSES_ZH
    least = 4 * _MIN_CLAUSE if english else _MIN_CLAUSE
    parts = [p.strip() for p in splitter.split(text) if p and len(p.strip()) >= least]
    # only a clause that asks (a wh-word, a yes/no form): 孩子10岁第一次办身份证 or 我妈今年82了
    # tells the situation, and read alone it would sound like a question about conditions
    return [p for p in parts if _asks(p)] if len(parts) > 1 else []


def _asks(clause: str) -> bool:
    """True when a clause asks something (a wh-word or a yes/no form), not only tells."""
    return is_yes_no(clause) or bool(_WH_ZH.search(clause) or _WH_EN.search(clause) or "?" in clause)


def with_clause_scores(
    whole: Mapping[str, float], clauses: Sequence[Mapping[str, float]], *, floor: float = CLAUSE_FLOOR
) -> dict[str, float]:
    """The message's aspect scores, raised by what its clauses ask one by one.

    Each clause asks at most one aspect of its own: its most probable one, when at least
    ``floor`` probable (a clause that only names the topic asks nothing).  "Tell me
    about it" (overview) is never raised: a clause naming the service is not asking for
    an overview beside its neighbour's question.
    """
    scores = dict(whole)
    for clause in clauses:
        if not clause:
            continue
        top = max(clause, key=clause.__getitem__)
        if top != "overview" and clause[top] >= floor:
            scores[top] = max(scores.get(top, 0.0), clause[top])
    return scores


#: Cues that make a "process" match only a question word, not the topic (怎么 in
#: 怎么收费 asks the fee, 怎么提前 the timing): process counts when no other aspect does.
_WEAK = frozenset({"process", "conditions"})

_YES_NO_ZH = re.compile(
    r"(能不能|可不可以|可以不|是不是|是否|要不要|需不需要|需要不|有没有|用不用|会不会|行不行|能否|可否|允不允许|算不算|收不收|给不给)"
)
#: 伐 is Shanghainese 吗 (要钱伐): elderly citizens write as they speak.
_QUESTION_PARTICLE = re.compile(r"(吗|嘛|么|伐)\s*[?？。!！]*\s*$|(吗|嘛|伐)[,，?？]")
_WH_ZH = re.compile(r"(多少|多久|哪|什么|怎么|如何|怎样|几|谁|为什么|啥)")
_YES_NO_EN = re.compile(
    r"^\s*(can|could|may|is|are|do|does|did|will|would|should|must|am|have|has|shall)\b", re.IGNORECASE
)
_WH_EN = re.compile(r"^\s*(what|when|where|which|who|why|how)\b", re.IGNORECASE)


#: A message written in Latin letters (English), digits and punctuation only.
_ENGLISH = re.compile(r"[\x00-\x7f\u2018\u2019\u201c\u201d]*[A-Za-z][\x00-\x7f\u2018\u2019\u201c\u201d]*")

#: Cues are written against the one normal form (simplified, half-width, lower case,
#: numerals as digits), so 費用 and ＦＥＥ meet them too.
_normal = normalize


def is_yes_no(text: str) -> bool:
    """True when the message asks yes or no (能不能…, 是否…, …吗 without a wh-word, Can I …?)."""
    t = _normal(text)
    if _YES_NO_ZH.search(t):
        return True
    if _QUESTION_PARTICLE.search(t) and not _WH_ZH.search(t.replace("什么时候", "")):
        return True
    return bool(_YES_NO_EN.search(t)) and not _WH_EN.search(t)


def _cue_positions(t: str) -> dict[str, int]:
    """Where each aspect's first cue starts in the normalised text ``t`` (aspects without a cue absent)."""
    first: dict[str, int] = {}
    for aspect, patterns in _COMPILED.items():
        positions = [m.start() for p in patterns for m in [p.search(t)] if m]
        if positions:
            first[aspect] = min(positions)
    return first


def asked_aspects(text: str) -> list[str]:
    """The aspects whose cues occur in ``text``, in the order the message asks them."""
    t = _normal(text)
    first = _cue_positions(t)
    if "benefit" in first and "fee" in first:
        # 能领多少钱: the money is what the benefit pays, not a fee
        del first["fee"]
    strong = {a: p for a, p in first.items() if a not in _WEAK and a != "overview"}
    if strong:
        # "how" and "can I" words are also how people ask for a fee or a time (怎么收费,
        # 能不能提前): they count only with a topic of their own (怎么办理 + 要多少钱).
        for weak in _WEAK:
            if weak in first and _weak_stands_alone(t, weak, strong):
                strong[weak] = first[weak]
        first = strong
    elif len(first) > 1:
        first.pop("overview", None)
    return sorted(first, key=lambda a: (first[a], ASPECTS.index(a)))


def _weak_stands_alone(text: str, aspect: str, strong: Mapping[str, int]) -> bool:
    """A process/conditions cue that is its own clause, not the lead-in of a strong aspect."""
    own = {
        "process": re.compile(r"(流程|步骤|程序|怎么(办理|申请|操作|办)|如何(办理|申请)|\bsteps?\b|\bprocedure\b|how (do|can) i apply)"),
        "conditions": re.compile(r"(条件|资格|符合|门槛|谁可以|哪些人|\beligib\w*|\bqualif\w*|\brequirements?\b)"),
    }[aspect]
    return bool(own.search(text))


def intent_aspects(text: str, intent: str) -> tuple[str, ...]:
    """The aspect a single consult ``intent`` label gives ``text`` (training labels from
    intent-labelled data): ``consult.fee`` asked in a benefit's words (能领多少) is ``benefit``."""
    aspect = intent_aspect(intent)
    if not aspect:
        return ()
    if aspect == "fee" and "benefit" in asked_aspects(text):
        return ("benefit",)
    return (aspect,)


def predict_aspects(
    text: str, intent: str = "", scores: Mapping[str, float] | None = None, *, threshold: float = 0.5
) -> AspectPrediction:
    """The aspects ``text`` asks, in the order asked, and whether it asks yes or no.

    With the trained model's ``scores`` (``IntentPrediction.aspect_scores``) every
    aspect at or above ``threshold`` is asked, else the most probable one, plus every
    aspect a clause asks in so many words (:func:`asking_clause_aspects`); the
    cues then only order them (by where each is asked; uncued ones after, most
    probable first).  Without scores the cues decide, and a message without a cue
    asks the primary ``intent``'s aspect.
    """
    if scores:
        chosen = [a for a in ASPECTS if scores.get(a, 0.0) >= threshold]
        if not chosen:
            chosen = [max(ASPECTS, key=lambda a: scores.get(a, 0.0))]
        if _ENGLISH.fullmatch(text.strip() or "x"):
            # the model has seen few English questions; English question words are plain
            # (how much, how long, where, bring), so their strong cues count too
            chosen += [a for a in asked_aspects(text) if a not in _WEAK and a not in chosen and a != "overview"]
        # a clause that asks an aspect in so many words asks it (the second question of a
        # two-part message is often a short clause of its own: 上哪补, 收钱吗)
        asking = asking_clause_aspects(text)
        if "benefit" in asking and "fee" in chosen and "fee" not in asking:
            chosen.remove("fee")  # 能领多少钱 asks what a benefit pays
        if "time_limit" in chosen and "time_limit" not in asking and _QUALIFYING.search(_normal(text)):
            chosen.remove("time_limit")  # 住满多久才行 asks how long one must qualify
        chosen += [a for a in asking if a not in chosen]
        if len(chosen) > 1 and "overview" in chosen:
            # "tell me about it" is what a message asks when it asks nothing in particular
            chosen.remove("overview")
        t = _normal(text)
        where = _cue_positions(t)
        far = len(text) + 1
        uncued = [a for a in chosen if a not in where]
        if uncued:
            # an aspect the model hears without a cue is asked where a clause asks without
            # one (买房付的首付能用公积金提出来吗 要带什么: the conditions, then the materials)
            bare = [
                t.find(c) for c in message_clauses(t)
                if not any(p.search(c) for a in chosen for p in _COMPILED.get(a, ()))
            ]
            for a in uncued:
                if bare:
                    where[a] = bare[0]
        aspects = sorted(chosen, key=lambda a: (where.get(a, far), -scores.get(a, 0.0), ASPECTS.index(a)))
    else:
        aspects = asked_aspects(text)
        if not aspects:
            primary = intent_aspect(intent)
            aspects = [primary] if primary else []
    return AspectPrediction(aspects=tuple(aspects), yes_no=is_yes_no(text))
