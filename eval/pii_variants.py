"""An independent set of the ways people really type personal numbers (and numbers that only look alike).

Written apart from the detector (assistant/core/pii.py) and from the first
corpus (eval/pii_corpus.py), whose author also wrote the detector: the values
are made here (own GB 11643 check digits, own Luhn, own card prefixes and
mobile number blocks, no Faker), and the forms come from how Chinese citizens
write numbers in chats and forms: glued to Chinese labels, 3-4-4 and 4-4-3
grouping, +86 with and without brackets, the ``(0)`` of international
landline notation, 幺 for 1 and 〇 for 0, Chinese numerals, spaced passports,
digits spread out one by one, and so on.

Each :class:`Variant` names the characters of the personal value in its
sentence (``start``, ``end``); a look-alike names the characters that must stay
readable.  ``generate_variants()`` is deterministic (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: GB 11643 weights and check characters.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

#: real county-level codes (Shanghai districts first, then other provinces).
_AREAS = (
    "310101", "310104", "310105", "310106", "310107", "310109", "310110", "310112", "310113", "310115",
    "310116", "310117", "310118", "310120", "310151", "110101", "110105", "120101", "130102", "140105",
    "150102", "210102", "220102", "230102", "320102", "320505", "330106", "330212", "340104", "350203",
    "360102", "370202", "410105", "420106", "430104", "440106", "440305", "450103", "460106", "500103",
    "510107", "520102", "530102", "540102", "610113", "620102", "630102", "640104", "650102",
)
#: mobile number blocks in use (three operators and the virtual ones).
_MOBILE_BLOCKS = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "149", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "162", "165", "166", "167", "170", "171",
    "172", "173", "175", "176", "177", "178", "180", "181", "182", "183", "184", "185", "186", "187",
    "188", "189", "190", "191", "192", "193", "195", "196", "197", "198", "199",
)
#: bank card prefixes (UnionPay debit and credit of the big banks, Visa, Mastercard, JCB) and lengths.
_CARD_PREFIXES = (
    ("622202", 19), ("621226", 19), ("621700", 19), ("622848", 19), ("621661", 19), ("622588", 16),
    ("621483", 16), ("623058", 19), ("622262", 19), ("625965", 16), ("622155", 16), ("628288", 16),
    ("436742", 16), ("518710", 16), ("524094", 16), ("356833", 16), ("601382", 19), ("940012", 19),
)
#: area codes with the length of their local numbers.
_LANDLINE_AREAS = (("021", 8), ("010", 8), ("020", 8), ("0755", 8), ("0571", 8), ("025", 8), ("0512", 8),
                   ("028", 8), ("0731", 8), ("0931", 7), ("0898", 8), ("0551", 8))
_EMAIL_DOMAINS = ("163.com", "qq.com", "126.com", "sina.com", "gmail.com", "foxmail.com", "outlook.com",
                  "sh.gov.cn", "fudan.edu.cn", "hotmail.com", "yeah.net", "139.com")

_CN_DIGITS = "〇一二三四五六七八九"
_CN_DIGITS_ALT = "零幺二三四五六七八九"  # spoken: 幺 for 1, 零 for 0
_FULL = str.maketrans("0123456789XxEGCHMDSP@.-+()", "０１２３４５６７８９ＸｘＥＧＣＨＭＤＳＰ＠．－＋（）")


@dataclass(frozen=True)
class Variant:
    """One sentence: the personal value (or look-alike) is ``text[start:end]``."""

    kind: str
    form: str
    text: str
    start: int
    end: int
    #: the value as the detector should read it (digits and letters only).
    value: str


# --------------------------------------------------------------------------- values


def _digits(rng: random.Random, n: int, *, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def resident_id(rng: random.Random) -> str:
    """An 18-character resident ID: real area code, birth date 1935-2012, GB 11643 check character."""
    year = rng.randint(1935, 2012)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    body = f"{rng.choice(_AREAS)}{year:04d}{month:02d}{day:02d}{rng.randint(0, 999):03d}"
    return body + _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS)) % 11]


def legacy_id(rng: random.Random) -> str:
    """A 15-digit resident ID of before 1999 (two-digit year)."""
    return f"{rng.choice(_AREAS)}{rng.randint(30, 84):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"


def mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_BLOCKS) + _digits(rng, 8)


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # every second digit from the right of the full number, i.e. from the body's end
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def bank_card(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + _luhn_digit(body)


def landline(rng: random.Random) -> tuple[str, str]:
    """(area code, local number): local numbers start 2-8."""
    area, n = rng.choice(_LANDLINE_AREAS)
    return area, _digits(rng, n, first="2345678")


def passport(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return "E" + _digits(rng, 8)
    if kind < 0.8:
        return "E" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXY") + _digits(rng, 7)
    return "G" + _digits(rng, 8)


def permit(rng: random.Random) -> str:
    """往来港澳通行证 (C + 8 digits, or C + letter + 7 digits) and 回乡证 (H/M + 8 digits)."""
    kind = rng.random()
    if kind < 0.5:
        return "C" + _digits(rng, 8)
    if kind < 0.75:
        return "C" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXY") + _digits(rng, 7)
    return rng.choice("HM") + _digits(rng, 8)


_PINYIN = ("zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma",
           "zhu", "hu", "guo", "he", "lin", "luo", "gao", "xiaoming", "wei", "fang", "lei", "jing", "hong")


def email(rng: random.Random) -> str:
    style = rng.random()
    name = rng.choice(_PINYIN) + rng.choice(_PINYIN)
    if style < 0.3:
        local = name + str(rng.randint(1, 9999))
    elif style < 0.5:
        local = rng.choice(_PINYIN) + "." + rng.choice(_PINYIN)
    elif style < 0.65:
        local = _digits(rng, rng.randint(6, 11), first="123456789")  # QQ numbers
    elif style < 0.75:
        local = name + "_" + str(rng.randint(80, 2005))
    elif style < 0.85:
        local = name.capitalize() + rng.choice(_PINYIN).capitalize()
    else:
        local = name + "+" + rng.choice(("gov", "sh", "work"))
    return f"{local}@{rng.choice(_EMAIL_DOMAINS)}"


# --------------------------------------------------------------------------- how people write them


def _group(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        if i >= len(value):
            break
        out.append(value[i : i + size])
        i += size
    if i < len(value):
        out.append(value[i:])
    return sep.join(out)


def _cn(value: str, digits: str = _CN_DIGITS) -> str:
    return "".join(digits[int(c)] if c.isdigit() else c for c in value)


def _zw(value: str, rng: random.Random) -> str:
    mark = rng.choice(("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"))
    cut = rng.randint(2, len(value) - 2)
    return value[:cut] + mark + value[cut:]


def _id_forms(v: str, rng: random.Random) -> dict[str, str]:
    return {
        "plain": v,
        "6-8-4 spaces": _group(v, (6, 8, 4), " "),
        "6-4-4-4 spaces": _group(v, (6, 4, 4, 4), " "),
        "3-3-4-4-4 spaces": _group(v, (3, 3, 4, 4, 4), " "),
        "6-8-4 hyphens": _group(v, (6, 8, 4), "-"),
        "fullwidth": v.translate(_FULL),
        "fullwidth spaced": _group(v, (6, 8, 4), "\u3000").translate(_FULL),
        "zero-width": _zw(v, rng),
        "digit by digit": " ".join(v),
        "dots": _group(v, (6, 8, 4), "."),
        "chinese numerals": _cn(v),
    }


def _id_x(rng: random.Random) -> str:
    """A resident ID whose check character is X, typed in lower case."""
    while not (v := resident_id(rng)).endswith("X"):
        pass
    return v.lower()


def _mobile_forms(v: str, rng: random.Random) -> dict[str, str]:
    return {
        "plain": v,
        "3-4-4 spaces": _group(v, (3, 4, 4), " "),
        "3-4-4 hyphens": _group(v, (3, 4, 4), "-"),
        "4-4-3 spaces": _group(v, (4, 4, 3), " "),
        "3-3-5 spaces": _group(v, (3, 3, 5), " "),
        "+86 space": "+86 " + v,
        "+86-grouped": "+86-" + _group(v, (3, 4, 4), "-"),
        "(+86)": "(+86)" + v,
        "+86 3-4-4": "+86 " + _group(v, (3, 4, 4), " "),
        "0086": "0086" + v,
        "86 glued": "86" + v,
        "fullwidth": v.translate(_FULL),
        "fullwidth +86": ("+86 " + v).translate(_FULL),
        "zero-width": _zw(v, rng),
        "dots": _group(v, (3, 4, 4), "."),
        "digit by digit": " ".join(v),
        "chinese numerals": _cn(v),
        "spoken numerals (幺)": _cn(v, _CN_DIGITS_ALT),
        "mixed numerals": v[:3] + _cn(v[3:7]) + v[7:],
        "spoken numerals grouped": _group(_cn(v, _CN_DIGITS_ALT), (3, 4, 4), " "),
    }


def _card_forms(v: str, rng: random.Random) -> dict[str, str]:
    return {
        "plain": v,
        "groups of 4 spaces": _group(v, (4, 4, 4, 4, 4), " "),
        "groups of 4 hyphens": _group(v, (4, 4, 4, 4, 4), "-"),
        "6 + rest": _group(v, (6,), " "),
        "4-6-rest": _group(v, (4, 6), " "),
        "fullwidth": v.translate(_FULL),
        "fullwidth grouped": _group(v, (4, 4, 4, 4, 4), " ").translate(_FULL),
        "zero-width": _zw(v, rng),
        "two spaces": _group(v, (4, 4, 4, 4, 4), "  "),
        "ideographic space": _group(v, (4, 4, 4, 4, 4), "\u3000"),
        "dots": _group(v, (4, 4, 4, 4, 4), "."),
    }


def _landline_forms(area: str, local: str, rng: random.Random) -> dict[str, str]:
    half = len(local) // 2
    ext = str(rng.randint(100, 9999))
    trunk = area[1:]
    return {
        "area-local": f"{area}-{local}",
        "area local": f"{area} {local}",
        "(area)local": f"({area}){local}",
        "（area）local full-width": f"（{area}）{local}",
        "area-4-4": f"{area}-{local[:half]}-{local[half:]}",
        "area 4 4": f"{area} {local[:half]} {local[half:]}",
        "glued": area + local,
        "+86 area local": f"+86 {trunk} {local}",
        "+86-area-local": f"+86-{trunk}-{local}",
        "+86 (0)area": f"+86 (0){trunk} {local[:half]} {local[half:]}",
        "+86(0)area-local": f"+86(0){trunk}-{local}",
        "0086 area": f"0086 {trunk} {local}",
        "extension -": f"{area}-{local}-{ext}",
        "extension 转": f"{area}-{local}转{ext}",
        "extension 分机": f"{area}-{local} 分机{ext}",
        "extension ext.": f"{area}-{local} ext. {ext}",
        "fullwidth": f"{area}-{local}".translate(_FULL),
        "zero-width": _zw(f"{area}-{local}", rng),
        "dots": f"{area}.{local[:half]}.{local[half:]}",
    }


def _passport_forms(v: str, rng: random.Random) -> dict[str, str | tuple[str, str]]:
    digits_at = 2 if v[1].isalpha() else 1
    return {
        "plain": v,
        "lower case": v.lower(),
        "letter space digits": v[:digits_at] + " " + v[digits_at:],
        "letter 4 4": v[:digits_at] + " " + _group(v[digits_at:], (4, 4), " "),
        "letter-digits": v[:digits_at] + "-" + v[digits_at:],
        "fullwidth": v.translate(_FULL),
        "zero-width": _zw(v, rng),
        "No.": ("No.", v),
    }


def _email_forms(v: str, rng: random.Random) -> dict[str, str | tuple[str, str]]:
    return {
        "plain": v,
        "upper case": v.upper(),
        "full-width @": v.replace("@", "＠"),
        "full-width": v.translate(_FULL),
        "zero-width": _zw(v, rng),
        "mailto": ("mailto:", v),
    }


#: sentences around a value: (prefix, suffix); each names the value as people do.
_SENTENCES = {
    "resident_id": (
        ("我的身份证号是", "，帮我查一下社保"), ("身份证：", ""), ("身份证号码", "能办居住证吗"), ("证件号 ", " 麻烦核实"),
        ("ID: ", ""), ("我叫王芳，", "，想问下医保"), ("孩子的身份证号", "，怎么落户"), ("（身份证", "）"),
        ("身份证号码为", "。"), ("my ID number is ", ", thanks"), ("", " 这是我的身份证"), ("公民身份号码：", "\n谢谢"),
    ),
    "legacy_id": (("老身份证号", "还能用吗"), ("身份证：", ""), ("我的旧证号码是", "。"), ("", " 是15位的身份证")),
    "mobile": (
        ("我的手机号是", "，请回电"), ("电话：", ""), ("手机", "谢谢"), ("联系方式 ", " 王先生"), ("tel:", ""),
        ("Tel. ", " (WeChat too)"), ("打我电话", "就行"), ("（手机：", "）"), ("我手机号码", "，微信同号"),
        ("", " 这是我电话"), ("please call me at ", ""), ("联系人：李女士，", "。"),
    ),
    "bank_card": (
        ("我的银行卡号是", "，补贴打到哪张卡"), ("卡号：", ""), ("工资卡", "能领失业金吗"), ("银行卡 ", " 中国银行"),
        ("社保卡金融账户", "。"), ("card number ", ", is it right?"), ("", " 这张卡"), ("账号：", "\n开户行：工商银行"),
    ),
    "landline": (
        ("家里电话", "，白天有人"), ("座机：", ""), ("单位电话", "转人事"), ("联系电话 ", " 张老师"),
        ("打", "可以吗"), ("Tel: ", ""), ("（电话：", "）"), ("", " 是我家座机"),
    ),
    "passport": (
        ("护照号", "，签证过期了怎么办"), ("护照：", ""), ("passport ", " expires soon"), ("我的护照号码是", "。"),
        ("证件号码", "（护照）"), ("", " 这是护照号"),
    ),
    "hk_macau_permit": (
        ("港澳通行证", "过期了"), ("通行证号码：", ""), ("回乡证", "能在上海用吗"), ("我的通行证是", "，续签要什么"),
        ("", " 是我的港澳通行证"),
    ),
    "email": (
        ("邮箱是", "，结果发给我"), ("邮箱：", ""), ("请发到", "谢谢"), ("email: ", ""), ("我的邮箱", "。"),
        ("联系邮箱 ", " 王老师"), ("（", "）"), ("send it to ", " please"),
    ),
}


#: numbers that only look like personal ones: (form, make(rng) -> (prefix, value, suffix)).
def _lookalikes() -> list[tuple[str, Callable[[random.Random], tuple[str, str, str]]]]:
    def credit_code(rng: random.Random) -> str:
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        return "91310" + _digits(rng, 3) + "MA" + "".join(rng.choice(chars) for _ in range(8))

    def date_ymd(rng: random.Random) -> str:
        return f"{rng.randint(2000, 2026)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"

    return [
        ("order number 18 digits", lambda r: ("订单号：", "2024" + _digits(r, 14), "，怎么退款")),
        ("order number 16 digits", lambda r: ("我的订单编号是", _digits(r, 16, first="12"), "")),
        ("serial number", lambda r: ("流水号", _digits(r, 20), "查不到")),
        ("express tracking", lambda r: ("快递单号 SF", _digits(r, 13), " 还没到")),
        ("credit code", lambda r: ("统一社会信用代码：", credit_code(r), "")),
        ("credit code in sentence", lambda r: ("公司信用代码", credit_code(r), "，怎么变更")),
        ("date hyphen", lambda r: ("", f"{r.randint(2000, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}", "之前要办完吗")),
        ("date compact", lambda r: ("有效期至", date_ymd(r), "")),
        ("date range", lambda r: ("", f"{date_ymd(r)}-{date_ymd(r)}", " 期间缴纳的社保")),
        ("date and time", lambda r: ("预约时间 ", f"{r.randint(2024, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(8, 17):02d}:{r.choice(('00', '30'))}", "")),
        ("chinese date", lambda r: ("", f"{r.randint(2000, 2026)}年{r.randint(1, 12)}月{r.randint(1, 28)}日", "出生的孩子")),
        ("amount", lambda r: ("补贴", f"{r.randint(1, 99)},{_digits(r, 3)}.{_digits(r, 2)}", "元到账了吗")),
        ("amount plain", lambda r: ("一共", _digits(r, 6, first="123456789"), "元")),
        ("item code", lambda r: ("事项编码", "3101" + _digits(r, 14) + "000", "")),
        ("invoice code", lambda r: ("发票代码", "0" + _digits(r, 11), "，发票号码" + _digits(r, 8))),
        ("postal code", lambda r: ("邮编", "200" + _digits(r, 3), "")),
        ("hotline", lambda r: ("打", r.choice(("12345", "962222", "021-12345", "12333", "110", "95566")), "热线")),
        ("service number", lambda r: ("客服", r.choice(("400-820-", "400 666 ", "800-820-")) + _digits(r, 4), "")),
        ("student number", lambda r: ("学号", "20" + _digits(r, 8), "")),
        ("plate", lambda r: ("车牌沪", r.choice("ABCDEFGHJKLMN") + _digits(r, 5), "违章了")),
        ("train number", lambda r: ("坐", r.choice("GDCKTZ") + _digits(r, r.randint(2, 4), first="123456789"), "次来上海")),
        ("flight number", lambda r: ("航班", r.choice(("MU", "CA", "FM", "HO")) + _digits(r, 4), "")),
        ("case number", lambda r: ("案号（", f"{r.randint(2018, 2025)}）沪0101民初{_digits(r, 5)}", "号")),
        ("room and address", lambda r: ("长寿路", f"{r.randint(1, 999)}弄{r.randint(1, 40)}号{r.randint(101, 2302)}", "室")),
        ("version", lambda r: ("版本", f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}", "")),
        ("time", lambda r: ("", f"{r.randint(8, 20)}:{r.choice(('00', '15', '30', '45'))}", "以后还开门吗")),
        ("ten-digit timestamp", lambda r: ("时间戳", "17" + _digits(r, 8), "")),
        ("percentage", lambda r: ("报销比例", f"{r.randint(50, 90)}%", "吗")),
        ("year range", lambda r: ("", f"{r.randint(2000, 2015)}-{r.randint(2016, 2026)}", "年的个税")),
        ("social credit-like item id", lambda r: ("办件编号：", "SH" + _digits(r, 16), "")),
        ("IP address", lambda r: ("", f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}", "打不开")),
        ("coordinates", lambda r: ("位置", f"31.{_digits(r, 4)},121.{_digits(r, 4)}", "")),
        ("count and unit", lambda r: ("缴费", f"{r.randint(1, 30)}年{r.randint(1, 11)}个月", "够不够")),
        ("ID tail only", lambda r: ("身份证尾号", _digits(r, 4), "的那个")),
        ("mobile tail only", lambda r: ("尾号", _digits(r, 4), "的手机")),
        ("masked mobile", lambda r: ("", r.choice(_MOBILE_BLOCKS) + "****" + _digits(r, 4), "是我")),
        ("masked ID", lambda r: ("", r.choice(_AREAS) + "********" + _digits(r, 4), "")),
        ("G train and number", lambda r: ("G", _digits(r, 4, first="123456789"), "次列车")),
        ("at-mention", lambda r: ("@", r.choice(("小申", "客服", "随申办")), " 你好")),
    ]


_FORMS_OF = {
    "resident_id": lambda rng: {**_id_forms(resident_id(rng), rng), "lower-case x": _id_x(rng)},
    "legacy_id": lambda rng: {
        **{k: v for k, v in _id_forms(legacy_id(rng), rng).items() if k in ("plain", "fullwidth", "zero-width")},
    },
    "mobile": lambda rng: _mobile_forms(mobile(rng), rng),
    "bank_card": lambda rng: _card_forms(bank_card(rng), rng),
    "landline": lambda rng: _landline_forms(*landline(rng), rng),
    "passport": lambda rng: _passport_forms(passport(rng), rng),
    "hk_macau_permit": lambda rng: _passport_forms(permit(rng), rng),
    "email": lambda rng: _email_forms(email(rng), rng),
}

#: legacy IDs are counted as resident IDs.
KIND_OF = {"legacy_id": "resident_id"}


def generate_variants(seed: int = 1414, per_form: int = 60) -> list[Variant]:
    """``per_form`` sentences of every (kind, form), and ``per_form`` of every look-alike form."""
    rng = random.Random(seed)
    out: list[Variant] = []
    for kind, make in _FORMS_OF.items():
        sentences = _SENTENCES[kind]
        for _ in range(per_form):
            for form, typed in make(rng).items():
                prefix, suffix = rng.choice(sentences)
                if isinstance(typed, tuple):  # a label written before the value ("No.", "mailto:")
                    prefix, typed = prefix + typed[0], typed[1]
                text = prefix + typed + suffix
                value = "".join(c for c in typed if c.isalnum())
                out.append(Variant(KIND_OF.get(kind, kind), form, text, len(prefix), len(prefix) + len(typed), value))
    for form, make_lookalike in _lookalikes():
        for _ in range(per_form):
            prefix, value, suffix = make_lookalike(rng)
            text = prefix + value + suffix
            out.append(Variant("lookalike", form, text, len(prefix), len(prefix) + len(value), value))
    return out


def iter_kinds() -> Iterator[str]:
    """The personal kinds this set covers."""
    yield from (k for k in _FORMS_OF if k not in KIND_OF)
