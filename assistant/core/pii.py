"""Chinese personal data: find it in every form people type it, and mask it.

One home for the rule (stored messages, logs, ticket summaries, the LLM prompt
and evaluation exports all call :func:`mask`).  Detection runs on a view of the
text after NFKC normalisation (full-width digits, ``＋８６``, ``－``) and with
zero-width characters and soft hyphens removed; every :class:`PiiSpan` is
reported in positions of the ORIGINAL text, so masking replaces exactly what
the citizen typed, zero-width characters included.

Kinds and their checks:

- ``resident_id``: 18 characters with the GB 11643 check digit (``X``/``x``
  last), a valid province code and a plausible birth date; 15-digit legacy IDs
  with a valid province code and birth date;
- ``mobile``: ``1[3-9]`` and 11 digits, optionally after ``+86``/``0086``/``86``;
- ``landline``: a valid area code (010, 02X, 0XXX) and a 7-8 digit local
  number starting 2-9, optional extension (``-123``, ``转123``, ``分机123``);
- ``bank_card``: 13-19 digits passing Luhn, first digit 3-6 or 9;
- ``email``; ``passport`` (E/G + 8 digits, E + letter + 7 digits, P/D/S
  service passports); ``hk_macau_permit`` (C/H/M + 8-10 digits, C + letter +
  7-8 digits).

Digits may be split by spaces, hyphens, dots, slashes or brackets (``138 1234
5678``, ``6222-0212-3456-7890``, ``(021) 6234 5678``): a run of such groups is
cut into the longest pieces that pass a kind's check.  A number glued to Latin
letters (a 统一社会信用代码 such as ``91310000MA1FL4XQ3N``, an item code) is
not a personal number.  Right after an order, item, serial or credit-code
keyword (订单号, 编号, 流水号, 统一社会信用代码…) only a full resident ID with a
valid check digit is masked, so order numbers stay readable.

Masked form (one per kind, documented for staff): ``[身份证号·尾号1234]``,
``[手机号·尾号5678]``, ``[座机·尾号5678]``, ``[银行卡号·尾号0123]``,
``[护照号·尾号5678]``, ``[港澳通行证·尾号5678]``, ``[邮箱·***@example.com]``;
the last four characters (the domain for e-mail) let a citizen and an agent
agree on which number was meant without exposing it.  :func:`mask` is
idempotent.  Names and street addresses (``name``, ``address``) are detected
only when asked for (:data:`LLM_KINDS`): the dialogue must still read
"长寿路100号", an outside model need not.

This module imports nothing else of the project.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

RESIDENT_ID = "resident_id"
MOBILE = "mobile"
LANDLINE = "landline"
BANK_CARD = "bank_card"
EMAIL = "email"
PASSPORT = "passport"
HK_MACAU_PERMIT = "hk_macau_permit"
NAME = "name"
ADDRESS = "address"

#: personal numbers and e-mail: masked everywhere text is stored, logged or exported.
NUMBER_KINDS: frozenset[str] = frozenset(
    {RESIDENT_ID, MOBILE, LANDLINE, BANK_CARD, EMAIL, PASSPORT, HK_MACAU_PERMIT}
)
#: what an outside model must not see: the numbers plus names and street addresses.
LLM_KINDS: frozenset[str] = NUMBER_KINDS | {NAME, ADDRESS}

#: the readable label of each kind in a placeholder.
LABELS: dict[str, str] = {
    RESIDENT_ID: "身份证号",
    MOBILE: "手机号",
    LANDLINE: "座机",
    BANK_CARD: "银行卡号",
    EMAIL: "邮箱",
    PASSPORT: "护照号",
    HK_MACAU_PERMIT: "港澳通行证",
    NAME: "姓名",
    ADDRESS: "地址",
}

#: removed before detection: zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen.
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data: its kind and its place ``[start, end)`` in the original text."""

    kind: str
    start: int
    end: int
    #: the characters as typed (original text).
    value: str
    #: digits/letters only, normalised (``13812345678``); the e-mail itself for ``email``.
    canonical: str


# --------------------------------------------------------------------------- normalised view


def normalized_view(text: str) -> tuple[str, list[int]]:
    """``text`` after NFKC and without invisible characters, and for each of its
    characters the index of the original character it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in INVISIBLE:
            continue
        norm = unicodedata.normalize("NFKC", ch) if ord(ch) > 127 else ch
        for n in norm:
            if n in INVISIBLE:
                continue
            out.append(n)
            origin.append(i)
    return "".join(out), origin


# --------------------------------------------------------------------------- checks

_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _plausible_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def id18_valid(value: str) -> bool:
    """An 18-character resident ID: province code, birth date and GB 11643 check character."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    if value[:2] not in _PROVINCES:
        return False
    if not _plausible_date(int(value[6:10]), int(value[10:12]), int(value[12:14])):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


def id15_valid(value: str) -> bool:
    """A 15-digit legacy resident ID: province code and a birth date 19YYMMDD."""
    if len(value) != 15 or not value.isdigit() or value[:2] not in _PROVINCES:
        return False
    return _plausible_date(1900 + int(value[6:8]), int(value[8:10]), int(value[10:12]))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def credit_code_valid(value: str) -> bool:
    """A 统一社会信用代码 (GB 32100): 18 characters whose last is its check character."""
    value = value.upper()
    if len(value) != 18 or any(c not in _CREDIT_CHARS for c in value):
        return False
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(value[:17], _CREDIT_WEIGHTS))
    return _CREDIT_CHARS[(31 - total % 31) % 31] == value[17]


def _area_code(digits: str) -> bool:
    if digits == "010" or re.fullmatch(r"02\d", digits):
        return True
    return bool(re.fullmatch(r"0[3-9]\d\d", digits))


def _landline(groups: list[str]) -> bool:
    """Area code as its own group followed by the local number, or one unbroken string."""
    if len(groups) > 1 and _area_code(groups[0]):
        local = "".join(groups[1:])
        return 7 <= len(local) <= 8 and local[0] in "23456789"
    if len(groups) == 1:
        d = groups[0]
        for n in (3, 4):
            if _area_code(d[:n]) and 7 <= len(d) - n <= 8 and d[n] in "23456789":
                return True
    return False


def _domestic(groups: list[str], *, plus: bool) -> list[str] | None:
    """The groups of a number written the international way (``+86 21 6234 5678``,
    ``+86 (0)21 …``, ``0086-21-…``, ``+862162345678``) as dialled at home
    (``021 6234 5678``); None when the number does not start with the country code."""
    if len(groups) > 1 and groups[0] in ("86", "0086"):
        rest = groups[1:]
        if len(rest) > 1 and rest[0] == "0":  # the "(0)" of international notation
            rest = rest[1:]
    elif len(groups) == 1 and (groups[0].startswith("0086") or (plus and groups[0].startswith("86"))):
        rest = [groups[0][4:] if groups[0].startswith("0086") else groups[0][2:]]
    else:
        return None
    if not rest[0] or rest[0][0] == "0":
        return rest if rest[0] else None
    return ["0" + rest[0], *rest[1:]]


def _mobile(digits: str) -> bool:
    for prefix in ("0086", "86", ""):
        if digits.startswith(prefix):
            rest = digits[len(prefix):]
            if len(rest) == 11 and rest[0] == "1" and rest[1] in "3456789":
                return True
    return False


def _classify(groups: list[str], *, lookalike_context: bool, plus: bool = False) -> str | None:
    """The kind a run of digit groups is, or None (``plus``: a ``+`` stands before it)."""
    digits = "".join(groups)
    if "X" in digits.upper()[:-1]:
        return None
    if len(digits) == 18 and id18_valid(digits):
        if lookalike_context and credit_code_valid(digits):
            return None
        return RESIDENT_ID
    if lookalike_context or not digits.isdigit():
        return None
    if _mobile(digits):
        return MOBILE
    if digits[0] == "0" and _landline(groups):
        return LANDLINE
    domestic = _domestic(groups, plus=plus)
    if domestic is not None and _landline(domestic):
        return LANDLINE
    if len(digits) == 15 and id15_valid(digits):
        return RESIDENT_ID
    if 13 <= len(digits) <= 19 and digits[0] in "34569" and luhn_valid(digits):
        return BANK_CARD
    return None


# --------------------------------------------------------------------------- patterns

_SEP = r"[ \t\-.\u2010-\u2015\u2212/()_]{1,3}"
#: digit groups joined by separators, not glued to Latin letters (codes) or other digits.
#: (an ID's closing X may stand apart when it is typed digit by digit: ``… 4 8 0 X``)
_RUN = re.compile(rf"(?<![0-9A-Za-z])\+?\d+(?:{_SEP}\d+)*(?:[ \-]?[Xx])?(?![0-9A-Za-z])")
_GROUP = re.compile(r"\d+[Xx]?|[Xx]")
_EXTENSION = re.compile(r"[ ]?(?:-|转|分机|ext\.?|x)[ ]?\d{1,6}(?![0-9A-Za-z])", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: a digit, after at most one space, hyphen or dot (``E 1234 5678``, ``C-12345678``).
_D = r"[ \-.]?\d"
_PASSPORT = re.compile(
    rf"(?<![A-Za-z0-9])(?:[EG](?:{_D}){{8}}|E[A-HJ-NP-Z](?:{_D}){{7}}|[PDS][EA]?\d{{7}}|[PDS]\d{{8}})(?![A-Za-z0-9])",
    re.I,
)
_PERMIT = re.compile(rf"(?<![A-Za-z0-9])(?:[CHM](?:{_D}){{8,10}}|C[A-HJ-NP-Z](?:{_D}){{7,8}})(?![A-Za-z0-9])", re.I)
_NAME = re.compile(
    r"(?<=我叫)[\u4e00-\u9fff]{2,3}|(?<=姓名[:：])\s*[\u4e00-\u9fff]{2,3}|(?<=my name is )[A-Z][a-z]+(?: [A-Z][a-z]+)?"
)
_ADDRESS = re.compile(r"[\u4e00-\u9fff]{1,10}(?:路|街|弄)\d+号(?:\d+(?:室|楼))*")

#: numbers after these words are order, item, serial or credit-code numbers.
_LOOKALIKE_WORDS = (
    "订单", "单号", "编号", "编码", "流水", "信用代码", "税号", "批号", "工单", "受理号", "办件号",
    "快递", "运单", "合同号", "发票", "序列号", "批次", "条码", "货号", "型号",
)
#: numbers after these words are personal (a nearer personal word wins over a look-alike word).
_PERSONAL_WORDS = (
    "身份证", "证件", "手机", "电话", "联系", "卡号", "银行卡", "账号", "号码", "护照", "通行证", "微信", "座机",
)
_CONTEXT_CHARS = 12


def _lookalike_context(norm: str, start: int) -> bool:
    before = norm[max(0, start - _CONTEXT_CHARS):start]
    last_lookalike = max((before.rfind(w) + len(w) for w in _LOOKALIKE_WORDS if w in before), default=-1)
    last_personal = max((before.rfind(w) + len(w) for w in _PERSONAL_WORDS if w in before), default=-1)
    return last_lookalike > last_personal


_IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)")
#: digits typed one by one (``1 3 8 1 2 …``): this many single digits in a row are one number.
_SINGLES = 7


def _merge_single_digits(groups: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Groups with every stretch of ``_SINGLES`` or more one-digit groups joined into one group."""
    out: list[tuple[str, int, int]] = []
    stretch: list[tuple[str, int, int]] = []

    def flush() -> None:
        if len(stretch) >= _SINGLES:
            out.append(("".join(g[0] for g in stretch), stretch[0][1], stretch[-1][2]))
        else:
            out.extend(stretch)
        stretch.clear()

    for group in groups:
        digit = len(group[0]) == 1 and group[0] not in "Xx"
        closing_x = group[0] in ("X", "x") and bool(stretch)  # the X closing an ID typed digit by digit
        if digit or closing_x:
            stretch.append(group)
        else:
            flush()
            out.append(group)
    flush()
    return out


#: Chinese numerals people write numbers with, one character per digit (幺 for 1, 〇 and 零 for 0).
_NUMERALS = {"〇": "0", "零": "0", "幺": "1", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5",
             "六": "6", "七": "7", "八": "8", "九": "9"}
_NUMERAL_RUN = re.compile(r"[〇零幺一二三四五六七八九0-9](?:[ \-]?[〇零幺一二三四五六七八九0-9])+(?:[ \-]?[Xx])?")
#: a run of numerals shorter than this is no personal number (and 一二三 stays words).
_NUMERAL_MIN = 7


def _arabic_numerals(norm: str) -> str:
    """``norm`` with digits written as Chinese numerals (一三八一二三四五六七八, 幺三八 …)
    turned into Arabic digits, character for character (so positions stay), wherever
    a run of at least ``_NUMERAL_MIN`` digits holds at least one Chinese numeral."""
    if not any(ch in _NUMERALS for ch in norm):
        return norm
    out = list(norm)
    for run in _NUMERAL_RUN.finditer(norm):
        digits = [ch for ch in run.group() if ch.isdigit() or ch in _NUMERALS]
        if len(digits) >= _NUMERAL_MIN and any(ch in _NUMERALS for ch in digits):
            for k in range(run.start(), run.end()):
                out[k] = _NUMERALS.get(out[k], out[k])
    return "".join(out)


def _number_spans(norm: str) -> list[tuple[str, int, int, int]]:
    """(kind, start, end, end of the number without a landline's extension) in ``norm``."""
    spans: list[tuple[str, int, int, int]] = []
    for run in _RUN.finditer(norm):
        if _IPV4.fullmatch(run.group()):
            continue  # 192.168.1.10 is an address of a machine, not a mobile
        groups = _merge_single_digits(
            [(m.group(), run.start() + m.start(), run.start() + m.end()) for m in _GROUP.finditer(run.group())]
        )
        i = 0
        while i < len(groups):
            found = None
            context = _lookalike_context(norm, groups[i][1])
            # the longest piece starting at group i that passes a check (at most 8 groups)
            for j in range(min(len(groups), i + 8), i, -1):
                piece = [g[0] for g in groups[i:j]]
                if sum(len(p) for p in piece) > 23:
                    continue
                plus = groups[i][1] > 0 and norm[groups[i][1] - 1] == "+"
                kind = _classify(piece, lookalike_context=context, plus=plus)
                if kind is not None:
                    found = (kind, j)
                    break
            if found is None:
                i += 1
                continue
            kind, j = found
            start, end = groups[i][1], groups[j - 1][2]
            if start > 0 and norm[start - 1] == "+":
                start -= 1
            if kind in (LANDLINE, MOBILE) and start > 0 and norm[start - 1] == "(":
                start -= 1  # "(021) 6234 5678", "(+86)138…": the bracket belongs to the number
            main_end = end
            if kind == LANDLINE:
                ext = _EXTENSION.match(norm, end)
                if ext:
                    end = ext.end()
                    while j < len(groups) and groups[j][2] <= end:
                        j += 1
            spans.append((kind, start, end, main_end))
            i = j
    return spans


def detect(text: str, *, kinds: frozenset[str] = NUMBER_KINDS) -> list[PiiSpan]:
    """Personal data of ``kinds`` in ``text``, in order, not overlapping, positions in ``text``."""
    if not text:
        return []
    norm, origin = normalized_view(text)
    numbers = _arabic_numerals(norm)
    found: list[tuple[str, int, int, int]] = list(_number_spans(numbers))
    for kind, pattern in (
        (EMAIL, _EMAIL), (PASSPORT, _PASSPORT), (HK_MACAU_PERMIT, _PERMIT), (NAME, _NAME), (ADDRESS, _ADDRESS)
    ):
        if kind in kinds:
            found.extend((kind, m.start(), m.end(), m.end()) for m in pattern.finditer(norm))
    found = [f for f in found if f[0] in kinds and f[2] > f[1]]
    # longest first, then earliest: an e-mail wins over the mobile number that is its local part
    found.sort(key=lambda f: (-(f[2] - f[1]), f[1]))
    taken: list[tuple[str, int, int, int]] = []
    for f in found:
        if all(f[2] <= t[1] or f[1] >= t[2] for t in taken):
            taken.append(f)
    taken.sort(key=lambda f: f[1])
    spans = []
    for kind, start, end, main_end in taken:
        o_start, o_end = origin[start], origin[end - 1] + 1
        piece = (norm if kind in (EMAIL, NAME, ADDRESS) else numbers)[start:main_end]
        canonical = piece if kind in (EMAIL, NAME, ADDRESS) else re.sub(r"[^0-9A-Za-z]", "", piece).upper()
        spans.append(PiiSpan(kind, o_start, o_end, text[o_start:o_end], canonical))
    return spans


def placeholder(span: PiiSpan) -> str:
    """The readable stand-in for ``span`` (see the module docstring for the forms)."""
    label = LABELS[span.kind]
    if span.kind == EMAIL:
        return f"[{label}·***@{span.canonical.rsplit('@', 1)[-1]}]"
    if span.kind in (NAME, ADDRESS):
        return f"[{label}]"
    return f"[{label}·尾号{span.canonical[-4:]}]"


def mask(text: str, *, kinds: frozenset[str] = NUMBER_KINDS) -> str:
    """``text`` with every piece of personal data of ``kinds`` replaced by its placeholder."""
    spans = detect(text, kinds=kinds)
    if not spans:
        return text
    out, last = [], 0
    for span in spans:
        out.append(text[last:span.start])
        out.append(placeholder(span))
        last = span.end
    out.append(text[last:])
    return "".join(out)


def contains_pii(text: str, *, kinds: frozenset[str] = NUMBER_KINDS) -> bool:
    """Whether ``text`` holds personal data of ``kinds``."""
    return bool(detect(text, kinds=kinds))
