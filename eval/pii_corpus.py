"""A seeded corpus of Chinese personal data as citizens type it, and of numbers that only look alike.

Values come from Faker ``zh_CN`` (resident IDs with a valid check digit, mobiles,
e-mails, dates) or are built here with their real checks (UnionPay cards with
Luhn, 15-digit legacy IDs, landlines with real area codes, passports, permits,
统一社会信用代码 with the GB 32100 check).  Each value is written in several
typed forms (plain, spaced groups, hyphens, +86/0086, full-width digits,
zero-width characters inserted) inside a citizen's sentence.  The same seed
always gives the same corpus.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker

_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
_FULL = str.maketrans("0123456789Xx+-", "０１２３４５６７８９Ｘｘ＋－")
_PROVINCES = ("11", "31", "32", "33", "44", "51", "61", "65")
_AREA_CODES = ("010", "021", "022", "023", "020", "0571", "0512", "0755", "0731", "0991")
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Case:
    """One sentence and where the value sits in it.

    ``kind`` is the PII kind the value is, or ``lookalike:<what>`` for a number
    that must stay readable.
    """

    kind: str
    form: str
    text: str
    start: int
    end: int


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable: one check digit always completes Luhn")


def _credit_code(rng: random.Random) -> str:
    body = "9131" + "".join(rng.choice("0123456789") for _ in range(4)) + "".join(
        rng.choice(_CREDIT_CHARS) for _ in range(9)
    )
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


def _id15(rng: random.Random) -> str:
    return (
        rng.choice(_PROVINCES)
        + f"{rng.randint(1, 99):02d}{rng.randint(1, 99):02d}"
        + f"{rng.randint(30, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )


def _groups(value: str, sizes: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in sizes:
        out.append(value[i:i + size])
        i += size
    if i < len(value):
        out.append(value[i:])
    return sep.join(p for p in out if p)


def _zero_width(value: str, rng: random.Random) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randint(1, len(chars) - 1), rng.choice(_ZERO_WIDTH))
    return "".join(chars)


_TEMPLATES = {
    "resident_id": ("我的身份证号是{v}，想问居住证怎么办", "身份证：{v}", "帮我查一下{v}的社保", "证件号码 {v} 办理进度？", "{v}"),
    "mobile": ("我的电话 {v}，请回电", "手机号{v}", "联系方式：{v}，谢谢", "打{v}找我", "{v}"),
    "landline": ("单位电话{v}", "座机 {v}", "可以打{v}联系我", "{v}"),
    "bank_card": ("我的银行卡号是{v}，补贴没到账", "卡号：{v}", "社保卡绑定的{v}能用吗", "{v}"),
    "email": ("邮箱{v}，麻烦把材料发给我", "我的邮箱是 {v}", "{v}"),
    "passport": ("护照号{v}，外籍人员怎么办", "我的护照 {v} 快过期了", "{v}"),
    "hk_macau_permit": ("港澳通行证{v}续签", "回乡证号码 {v}", "{v}"),
}


def _pii_forms(kind: str, value: str, rng: random.Random) -> list[tuple[str, str]]:
    """(form, typed value) pairs for ``value`` of ``kind``."""
    forms = [("plain", value), ("fullwidth", value.translate(_FULL)), ("zero_width", _zero_width(value, rng))]
    if kind == "resident_id" and len(value) == 18:
        forms += [
            ("spaced", _groups(value, (6, 8, 4), " ")),
            ("spaced", _groups(value, (6, 4, 4, 4), " ")),
            ("hyphen", _groups(value, (6, 8, 4), "-")),
            ("lowercase_x" if value.endswith("X") else "dotted", value.lower() if value.endswith("X") else _groups(value, (6, 8, 4), ".")),
        ]
    elif kind == "mobile":
        forms += [
            ("spaced", _groups(value, (3, 4, 4), " ")),
            ("hyphen", _groups(value, (3, 4, 4), "-")),
            ("dotted", _groups(value, (3, 4, 4), ".")),
            ("+86", rng.choice(("+86", "+86 ", "+86-", "(+86)")) + rng.choice((value, _groups(value, (3, 4, 4), " ")))),
            ("0086", rng.choice(("0086", "0086 ", "0086-")) + value),
            ("86", "86" + value),
        ]
    elif kind == "landline":
        area = 3 if value.startswith(("01", "02")) else 4
        forms += [
            ("hyphen", value[:area] + "-" + value[area:]),
            ("spaced", value[:area] + " " + _groups(value[area:], (4,), " ")),
            ("bracket", "(" + value[:area] + ")" + value[area:]),
            ("extension", value[:area] + "-" + value[area:] + rng.choice(("-", "转", "分机")) + str(rng.randint(1, 9999))),
        ]
    elif kind == "bank_card":
        forms += [("spaced", _groups(value, (4,) * 5, " ")), ("hyphen", _groups(value, (4,) * 5, "-"))]
    return forms


def _lookalikes(fake: Faker, rng: random.Random) -> list[tuple[str, str]]:
    """(what, sentence with the value marked by « ») for numbers that must stay readable."""
    d = fake.date_between(start_date="-5y", end_date="today")
    order = rng.choice(
        (
            d.strftime("%Y%m%d") + "".join(rng.choice("0123456789") for _ in range(rng.randint(8, 11))),
            "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 19))),
        )
    )
    return [
        ("order_number", rng.choice(("订单号«{}»还没发货", "我的订单编号：«{}»", "快递单号«{}»查不到", "受理号«{}»进度如何")).format(order)),
        ("credit_code", rng.choice(("统一社会信用代码«{}»", "公司信用代码是«{}»，怎么年报", "«{}»这家企业")).format(_credit_code(rng))),
        ("date", rng.choice(("«{}»办的", "预约在«{}»", "«{}»以后还能领吗")).format(rng.choice((d.isoformat(), d.strftime("%Y/%m/%d"), d.strftime("%Y.%m.%d"), d.strftime("%Y年%m月%d日"), d.strftime("%Y%m%d"))))),
        ("time", "«{}»去窗口可以吗".format(rng.choice((fake.time(pattern="%H:%M"), fake.time(), d.isoformat() + " " + fake.time())))),
        ("amount", "补贴«{}»元到账了吗".format(rng.choice((f"{rng.randint(100, 999999):,}", f"{rng.uniform(1, 99999):.2f}", str(rng.randint(1000, 99999999)))))),
        ("item_number", "事项编码«{}»".format(rng.choice(("3101" + "".join(rng.choice("0123456789") for _ in range(8)) + "-" + f"{rng.randint(1, 99):02d}", "SH" + "".join(rng.choice("0123456789") for _ in range(10)), "000" + "".join(rng.choice("0123456789") for _ in range(11)) + "X")))),
        ("hotline", "打«{}»热线问过了".format(rng.choice(("12345", "12367", "12333", "12315", "12348")))),
        ("postal_code", "邮编«{}»".format(rng.choice(("200000", "200120", "201203", "200433")))),
        ("year", "«{}»年毕业".format(rng.randint(1980, 2026))),
    ]


def generate(seed: int = 14, per_value: int = 1, values: int = 150) -> list[Case]:
    """The corpus: ``values`` values of each kind in every form, and look-alikes (deterministic)."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    makers: dict[str, Callable[[], str]] = {
        "resident_id": lambda: fake.ssn() if rng.random() < 0.9 else _id15(rng),
        "mobile": lambda: fake.phone_number(),
        "landline": lambda: (a := rng.choice(_AREA_CODES)) + str(rng.randint(2, 9)) + "".join(rng.choice("0123456789") for _ in range(7 if len(a) == 3 else rng.choice((6, 7)))),
        "bank_card": lambda: _luhn_complete(rng.choice(("62", "622202", "621700", "4", "5", "9558")), rng.choice((16, 16, 19, 19, 17, 18)), rng),
        "email": lambda: fake.email(),
        "passport": lambda: rng.choice(("E", "G")) + f"{rng.randint(0, 99999999):08d}" if rng.random() < 0.7 else "E" + rng.choice("ABCDEFGH") + f"{rng.randint(0, 9999999):07d}",
        "hk_macau_permit": lambda: rng.choice(("C", "H", "M")) + "".join(rng.choice("0123456789") for _ in range(rng.choice((8, 10)))),
    }
    cases: list[Case] = []
    for kind, make in makers.items():
        for _ in range(values):
            value = make()
            for form, typed in _pii_forms(kind, value, rng):
                for _ in range(per_value):
                    template = rng.choice(_TEMPLATES[kind])
                    head = template.split("{v}")[0]
                    text = template.format(v=typed)
                    cases.append(Case(kind, form, text, len(head), len(head) + len(typed)))
    for _ in range(values * 2):
        for what, marked in _lookalikes(fake, rng):
            start = marked.index("«")
            end = marked.index("»") - 1
            cases.append(Case("lookalike:" + what, "sentence", marked.replace("«", "").replace("»", ""), start, end))
    return cases
