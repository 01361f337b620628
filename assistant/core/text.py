"""Text rules shared by every stage: the one normaliser, the language detector, the question key.

One home per fact: the intent model, the retriever's analyzer (index and
queries), the dialogue, the CLIs, the benchmark builders and the helpdesk all
read text through these functions.  Because the intent model and the retriever
normalise a message identically, they hand the embedder the same string, and
the embedder's query cache serves the second of them: a message is embedded
once per turn.

Changing :func:`normalize` changes index tokens and model features: bump
``retrieval.analyzer.ANALYZER_VERSION`` (existing indexes then rebuild), retrain
the intent model (``xiaoshen intents train``) and refit the policy
(``xiaoshen intents fit-policy``).

This module imports nothing else of the project; OpenCC is imported on first use.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate
from typing import Literal

Lang = Literal["zh", "en"]

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
#: Units after which a Chinese numeral is a quantity (十五日, 两年, 第三个); elsewhere
#: 一 and 两 are parts of words (一网通办, 两个人 is still 2个人).
_NUM_UNITS = "个|日|天|年|月|周|岁|元|次|份|张|工作日|小时|分钟|倍|名|人|套|平方米|项|类|级|寸|页|万元|周岁"
_CN_NUM_RE = re.compile(rf"(第)?([零〇一二两三四五六七八九十百千万]+)(?=({_NUM_UNITS}))|第([零〇一二两三四五六七八九十百千万]+)")
_SPACE_RE = re.compile(r"\s+")

#: Below this many Latin letters, a message with no Han character in a Chinese
#: conversation is read as a pinyin alias (shebaoka), not as English.
PINYIN_MAX_LETTERS = 12


def cn_to_int(text: str) -> int | None:
    """A Chinese numeral (十五, 二十三, 一百零五, 两) as an int, or None when ``text`` is not one."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            if unit == 10000:
                section = (section + (digit if digit is not None else (0 if section else 1))) * unit
                total += section
                section = 0
            else:
                section += (1 if digit is None else digit) * unit
            digit = None
        else:
            return None
    return total + section + (digit or 0)


def _numbers(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        prefix = "第" if (m.group(1) or m.group(4)) else ""
        value = cn_to_int(m.group(2) or m.group(4))
        return m.group(0) if value is None else f"{prefix}{value}"

    return _CN_NUM_RE.sub(repl, text)


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    # imported on first use: OpenCC reads its dictionaries at construction (~0.1 s)
    from opencc import OpenCC

    return OpenCC("t2s")


def normalize(text: str) -> str:
    """The one normal form of a text, for features, index tokens and embeddings.

    In order: NFKC (full-width letters, digits and punctuation to half-width;
    compatibility ideographs to their unified form, so t2s sees them),
    traditional to simplified characters (OpenCC t2s), lower case, Chinese
    numerals before a unit to digits (十五日 -> 15日, 第三个 -> 第3个), runs
    of whitespace to one space, stripped.

    >>> normalize("辦理居住證　十五日內")
    '办理居住证 15日内'
    """
    if not text:
        return ""
    text = _t2s().convert(unicodedata.normalize("NFKC", text)).lower()
    return _SPACE_RE.sub(" ", _numbers(text)).strip()


def detect_lang(text: str, previous: Lang = "zh") -> Lang:
    """``en`` when Latin letters dominate, ``zh`` when Han characters do.

    Latin counts ASCII letters (full-width ones too: the text is read after
    NFKC), Han counts CJK unified ideographs; ``en`` needs more than three
    Latin letters per Han character.  A message with
    neither (``1``, ``？``) keeps ``previous`` (the conversation's language;
    ``zh`` for a first message).  A lone Latin word of at most
    :data:`PINYIN_MAX_LETTERS` letters after a Chinese ``previous`` is a
    pinyin alias (shebaoka) and stays ``zh``.
    """
    text = unicodedata.normalize("NFKC", text)
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if han == 0 and latin == 0:
        return previous
    if han == 0:
        if previous == "zh" and latin <= PINYIN_MAX_LETTERS and " " not in text.strip():
            return "zh"
        return "en"
    return "en" if latin > 3 * han else "zh"


def question_key(text: str) -> str:
    """The key under which two questions count as the same ("asked again").

    :func:`normalize`, then only letters and digits kept, so 居住證怎麼辦？
    and 居住证怎么办 share a key.
    """
    return "".join(ch for ch in normalize(text) if ch.isalnum())


__all__ = ["Lang", "cn_to_int", "detect_lang", "is_generic", "longer_names", "normalize", "question_key"]


#: How citizens say what the knowledge base says officially (上班 for 就业, 老婆 for 配偶).
#: A message is matched after its colloquial words are followed by the official ones: a
#: reply against situation labels, a question against the answer units of an item.
COLLOQUIAL: tuple[tuple[str, str], ...] = (
    ("上海", "沪本市"),
    ("上班", "就业工作"),
    ("工作", "就业"),
    ("打工", "就业"),
    ("读书", "就读在读学生"),
    ("上学", "就读在读学生"),
    ("学生", "就读在读"),
    ("大学", "就读高校"),
    ("买房", "购房购买"),
    ("买了房", "购房购买"),
    ("租房", "租赁租房"),
    ("租的", "租赁租房"),
    ("辞职", "离职"),
    ("离开上海", "离沪"),
    ("回老家", "离沪"),
    ("丢了", "遗失补领"),
    ("过期", "到期换领"),
    ("到期", "换领"),
    ("自己的房", "自有住房"),
    # 自己办 is 个人申办 or 本人办理; 沪牌 is the auctioned 非营业性客车额度
    ("自己", "个人 本人"),
    ("沪牌", "非营业性客车额度 拍卖"),
    # 外地人 / 外地户口: labels say 来沪人员随迁子女, 持本市居住证, never 外地
    ("外地", "来沪 随迁 持居住证"),
    ("外省", "来沪 随迁 持居住证"),
    ("本地户口", "本市户籍"),
    # 外地户口 is a 户籍 elsewhere (外地户口的能减吗 meets 一般为本市户籍); not "非本市户籍", whose
    # 本市户籍 would read as the local situation
    ("外地户口", "外省户籍"),
    ("外省户口", "外省户籍"),
    # family and home as people say them; the items write 配偶, 子女, 住房
    ("老婆", "配偶"),
    ("媳妇", "配偶"),
    ("老公", "配偶"),
    ("丈夫", "配偶"),
    ("妻子", "配偶"),
    ("孩子", "子女 儿童"),
    ("小孩", "子女 儿童"),
    ("宝宝", "子女 婴幼儿 新生儿"),
    ("爸妈", "父母"),
    ("亲戚", "亲友 亲属"),
    ("朋友家", "亲友"),
    ("房子", "住房 房屋"),
    ("走了", "去世 死亡"),
    # 过世, 离世 … are 去世 already (:data:`SYNONYMS`, read first)
    ("去世", "死亡"),
    ("钱", "费用"),
)


def expand_colloquial(text: str) -> str:
    """``text``, its true synonyms as the knowledge base's word (:func:`standard_words`),
    followed by the official words for the colloquial ones it contains."""
    text = standard_words(text)
    extra = [official for colloquial, official in COLLOQUIAL if colloquial in text]
    return text + (" " + " ".join(extra) if extra else "")


#: Words of a follow-up that ask about a field, not about an item (那需要什么材料?).
FOLLOWUP_WORDS: frozenset[str] = frozenset(
    """材料 资料 证件 证明 需要 条件 要求 资格 符合 流程 步骤 程序 手续 费用 收费 收不收费 免费 钱 多少钱 花钱 工本费 交钱
    多久 时间 几天 天 时限 期限 工作日 多长时间 多长 长时间 什么时候 时候 办好 拿到 地点 地方 哪里 窗口 地址 去 哪儿 网上 线上 在线 网上办 手机 app
    一网通办 随申办 办理 办 办证 申请 那 那么 还 带 准备 交 提交 可以 能 哪些 办事 预约 电话 咨询 进度 查询 本人 代办 别人 本人去 要不要 需不需要
    吗 呢 什么 怎么 如何 还要 还需要 另外 其他 别的 具体 详细 一下 说说 再 问 那个 这个 该 它 流程图 要多久 多少 几 个 次 份 复印件 原件 复印
    弄 怎么弄 咋弄 搞 怎么搞 事情 事儿 想问 问问 问一下 了解 了解一下
    apply application get need can as in on with want please""".split()
)

#: Characters that alone never name an item (那要, 还要带, 去哪).
FOLLOWUP_CHARS: frozenset[str] = frozenset("那这要还带交的了吗呢么啥咋怎样呀啊吧哪些几多少去可以能再又也都就先后得")


def is_generic(token: str) -> bool:
    """True when a query token asks about a field or is filler, not about an item."""
    return token in FOLLOWUP_WORDS or all(ch in FOLLOWUP_CHARS for ch in token)


#: China's provincial-level divisions but Shanghai, as people name where they come from
#: (我是安徽户口, 河南人): a place other than Shanghai is 外地 to the knowledge base.
PROVINCES: tuple[str, ...] = tuple(
    """北京 天津 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川 贵州
    云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门""".split()
)
_NONLOCAL = re.compile(r"(" + "|".join(PROVINCES) + r")(省|市|的)?(户口|户籍|人|老家)")


def says_nonlocal(text: str) -> bool:
    """True when ``text`` says the citizen's hukou or home is a province other than Shanghai."""
    return bool(_NONLOCAL.search(text))


#: Words that mean exactly what the knowledge base's word means, as (variant, its word),
#: applied in order: a search for 奶奶过世了 must meet the items that say 去世.  Only true
#: synonyms belong here (not 走了, which also means left): they replace the variant.
SYNONYMS: tuple[tuple[str, str], ...] = (
    ("过世", "去世"),
    ("离世", "去世"),
    ("逝世", "去世"),
    ("故去", "去世"),
    ("身故", "去世"),
    ("亡故", "去世"),
    # a death or an injury at work is a 工伤 (因工死亡 in the law): the word the items are named by
    ("因工去世", "因工死亡"),
    ("因工死亡", "工伤死亡"),
    ("因工受伤", "工伤"),
    ("因工负伤", "工伤"),
)


def standard_words(text: str) -> str:
    """``text`` with each :data:`SYNONYMS` variant replaced by the knowledge base's word."""
    for variant, word in SYNONYMS:
        if variant in text:
            text = text.replace(variant, word)
    return text


#: 弄 / 搞 before what happened to a thing (弄丢了, 搞坏了) add nothing to it: names and
#: aliases say 丢了, 坏了.  Nor does a 完 / 了 / 好 between a verb and the 证 it gets
#: (刚领完证, 领了证, 办好证): names and aliases say 领证, 办证.
_FILLER_VERB = re.compile(r"[弄搞](?=[丢坏掉没])|(?<=[领办拿考换补])[完了好](?=证)")


def plain_verbs(text: str) -> str:
    """``text`` with the filler of 弄丢了 / 搞坏了 / 领完证 dropped, as names and aliases say it."""
    return _FILLER_VERB.sub("", text)


def longer_names(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each of ``names`` that lies inside longer ones, those longer names.

    居住证 lies in 居住证签注 and 居住证积分.  One C-level ``str.find`` pass per name
    over all the names joined, not a Python loop over every pair: a corpus of ten
    thousand names costs a fraction of a second at start-up, not minutes.
    """
    keys = list(dict.fromkeys(n for n in names if n))
    blob = "\x00".join(keys)
    starts = list(accumulate((len(k) + 1 for k in keys[:-1]), initial=0))
    out: dict[str, tuple[str, ...]] = {}
    for key in keys:
        found: list[str] = []
        at = blob.find(key)
        while at >= 0:
            other = keys[bisect_right(starts, at) - 1]
            if len(other) > len(key):
                found.append(other)
            at = blob.find(key, at + 1)
        if found:
            out[key] = tuple(dict.fromkeys(found))
    return out
