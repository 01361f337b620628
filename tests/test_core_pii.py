"""The personal-data detector: hand-made cases of every kind and form, and the generated corpus."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from assistant.core import pii
from assistant.core.pii import LLM_KINDS, detect, mask
from eval.pii_corpus import generate

#: recall floors of the issue (IDs, mobiles, bank cards) and for the other kinds.
RECALL_FLOOR = {"resident_id": 0.995, "mobile": 0.995, "bank_card": 0.995}
OTHER_RECALL_FLOOR = 0.98
LOOKALIKE_READABLE_FLOOR = 0.98


def _covered(case, spans) -> bool:
    return any(s.start <= case.start and s.end >= case.end for s in spans)


def _touched(case, spans) -> bool:
    return any(s.start < case.end and s.end > case.start for s in spans)


def test_generated_corpus_recall_and_lookalikes(capsys: pytest.CaptureFixture[str]) -> None:
    cases = generate()
    started = time.perf_counter()
    results = [(case, detect(case.text)) for case in cases]
    elapsed = time.perf_counter() - started
    per_form: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    misses = []
    for case, spans in results:
        if case.kind.startswith("lookalike:"):
            ok = not _touched(case, spans)
            per_kind[case.kind][0] += ok
            per_kind[case.kind][1] += 1
            if not ok:
                misses.append(case)
            continue
        ok = _covered(case, spans)
        right_kind = any(s.kind == case.kind and s.start <= case.start and s.end >= case.end for s in spans)
        per_form[(case.kind, case.form)][0] += ok
        per_form[(case.kind, case.form)][1] += 1
        per_kind[case.kind][0] += ok
        per_kind[case.kind][1] += 1
        per_kind[case.kind][2] += right_kind
        if not ok:
            misses.append(case)
    pii_total = sum(v[1] for k, v in per_kind.items() if not k.startswith("lookalike:"))
    look_total = sum(v[1] for k, v in per_kind.items() if k.startswith("lookalike:"))
    with capsys.disabled():
        print(f"\npersonal-data corpus: {pii_total} instances, {look_total} look-alikes, {elapsed:.2f} s")
        for kind, (ok, n, right) in sorted(per_kind.items()):
            if kind.startswith("lookalike:"):
                print(f"  {kind:<28} readable {ok}/{n} = {ok / n:.2%}")
            else:
                print(f"  {kind:<28} recall {ok}/{n} = {ok / n:.2%}  (as this kind {right / n:.2%})")
        for (kind, form), (ok, n) in sorted(per_form.items()):
            print(f"    {kind:<18} {form:<12} {ok}/{n} = {ok / n:.2%}")
        for case in misses[:15]:
            print(f"  miss {case.kind} {case.form}: {case.text!r}")
    assert pii_total >= 5000
    for kind, (ok, n, _) in per_kind.items():
        if kind.startswith("lookalike:"):
            continue
        assert ok / n >= RECALL_FLOOR.get(kind, OTHER_RECALL_FLOOR), (kind, ok, n)
    readable = sum(v[0] for k, v in per_kind.items() if k.startswith("lookalike:"))
    assert readable / look_total >= LOOKALIKE_READABLE_FLOOR, (readable, look_total)


def test_corpus_is_deterministic() -> None:
    assert generate(values=5) == generate(values=5)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("我的身份证号是11010519491231002X，怎么办", "resident_id", "11010519491231002X"),
        ("身份证 110105 19491231 002x", "resident_id", "110105 19491231 002x"),
        ("老身份证310104500101123", "resident_id", "310104500101123"),
        ("电话+86 138-1234-5678", "mobile", "+86 138-1234-5678"),
        ("手机 0086 13812345678", "mobile", "0086 13812345678"),
        ("手机１３８１２３４５６７８", "mobile", "１３８１２３４５６７８"),
        ("手机138\u200b1234\u200d5678请回电", "mobile", "138\u200b1234\u200d5678"),
        ("单位电话(021) 6234 5678转123", "landline", "(021) 6234 5678转123"),
        ("座机0571-87654321", "landline", "0571-87654321"),
        ("卡号6222 0212 3456 7890 128", "bank_card", "6222 0212 3456 7890 128"),
        ("邮箱ａｂｃ＠qq.com", "email", "ａｂｃ＠qq.com"),
        ("护照E12345678", "passport", "E12345678"),
        ("回乡证H1234567890", "hk_macau_permit", "H1234567890"),
    ],
)
def test_detects_each_kind_in_the_original_positions(text: str, kind: str, value: str) -> None:
    spans = detect(text)
    assert [(s.kind, s.value) for s in spans] == [(kind, value)]
    assert text[spans[0].start:spans[0].end] == value


@pytest.mark.parametrize(
    "text",
    [
        "订单号2024051312345678901还没到",
        "订单号6222021234567890128",  # passes Luhn, but it is named an order number
        "统一社会信用代码91310000MA1FL4XQ3N",
        "2024-05-06 13:45:30 预约",
        "金额1,234.56元，拨打12345或12367、12333",
        "邮编200120，2024年毕业",
        "6222021234567890127",  # fails Luhn
        "11010519491231002Y 不是身份证",
        "110105194913310021",  # month 13
    ],
)
def test_lookalikes_stay_readable(text: str) -> None:
    assert mask(text) == text


def test_mask_placeholders_keep_a_hint_and_are_idempotent() -> None:
    text = "身份证11010519491231002X，手机138 1234 5678，卡6222021234567890128，邮箱li.si@example.com"
    masked = mask(text)
    assert masked == (
        "身份证[身份证号·尾号002X]，手机[手机号·尾号5678]，卡[银行卡号·尾号0128]，邮箱[邮箱·***@example.com]"
    )
    assert mask(masked) == masked


def test_names_and_addresses_only_when_asked() -> None:
    text = "我叫李四，住在长寿路100号"
    assert mask(text) == text
    masked = mask(text, kinds=LLM_KINDS)
    assert masked.startswith("我叫[姓名]，") and masked.endswith("[地址]") and "长寿路" not in masked


def test_check_functions() -> None:
    assert pii.id18_valid("11010519491231002X")
    assert not pii.id18_valid("110105194912310021")
    assert pii.luhn_valid("6222021234567890128")
    assert pii.credit_code_valid("91310000MA1FL4XQ3N") is pii.credit_code_valid("91310000MA1FL4XQ3N".lower())


@pytest.mark.parametrize("text", ["1 " * 1000 + "a", "12-" * 666 + "a", "1" * 2000 + "a", "a@" * 1000])
def test_a_message_at_the_length_cap_is_scanned_quickly(text: str) -> None:
    # every message is scanned before anything else runs: no backtracking blow-up
    started = time.perf_counter()
    detect(text)
    assert time.perf_counter() - started < 0.5
