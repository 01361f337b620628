"""The one text module: normaliser, language detector, question key (assistant/core/text.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assistant.core.text import cn_to_int, detect_lang, normalize, question_key

# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("居住證辦理", "居住证办理"),  # traditional characters
        ("護照過期了怎麼辦", "护照过期了怎么办"),
        ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits
        ("社保卡补办要１５天吗", "社保卡补办要15天吗"),
        ("十五日内，两年，第三个", "15日内,2年,第3个"),  # numerals before units; NFKC halves the commas
        ("一百零五元", "105元"),
        ("第二", "第2"),
        ("一网通办", "一网通办"),  # 一 not before a unit stays a word
        ("How do I apply for a 居住证?", "how do i apply for a 居住证?"),  # mixed English
        ("  Residence\tPermit \n\n renewal  ", "residence permit renewal"),  # whitespace collapsed, stripped
        ("ShebaoKa", "shebaoka"),  # a pinyin alias keeps its letters, lower case
        ("", ""),
        ("   \n\t ", ""),
        ("？！。", "?!。"),  # punctuation only: half-width where NFKC has one, nothing dropped
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_is_idempotent() -> None:
    for raw in ("居住證　十五日內辦好", "ＡＢＣ  居住证", "第三个 窗口", "How  MUCH?"):
        once = normalize(raw)
        assert normalize(once) == once


def test_cn_to_int() -> None:
    assert cn_to_int("一百零五") == 105 and cn_to_int("二十三") == 23 and cn_to_int("十") == 10
    assert cn_to_int("万") == 10000 and cn_to_int("两") == 2
    assert cn_to_int("十五天") is None


# ---------------------------------------------------------------- detect_lang


@pytest.mark.parametrize(
    "text,previous,expected",
    [
        ("居住证怎么办", "zh", "zh"),
        ("居住證怎麼辦", "en", "zh"),  # traditional characters are Han
        ("how do I renew my passport", "zh", "en"),
        ("How do I apply for a 居住证?", "zh", "en"),  # 14 letters > 3 x 3 Han
        ("我的passport丢了", "zh", "zh"),  # 8 letters <= 3 x 4 Han
        ("ＨＯＷ ＤＯ Ｉ ＲＥＮＥＷ", "zh", "en"),  # full-width Latin counts as Latin
        ("shebaoka", "zh", "zh"),  # a lone pinyin alias in a Chinese conversation
        ("shebaoka", "en", "en"),
        ("passport", "en", "en"),
        ("1", "en", "en"),  # no letters: the conversation's language
        ("？！", "zh", "zh"),
        ("", "en", "en"),
    ],
)
def test_detect_lang(text: str, previous: str, expected: str) -> None:
    assert detect_lang(text, previous) == expected  # type: ignore[arg-type]


def test_detect_lang_first_message_defaults_to_chinese() -> None:
    assert detect_lang("123") == "zh"
    assert detect_lang("social security card replacement") == "en"


# ---------------------------------------------------------------- question_key


def test_question_key_ignores_script_width_case_spaces_and_punctuation() -> None:
    assert question_key("居住證怎麼辦？") == question_key("居住证 怎么办") == "居住证怎么办"
    assert question_key("Passport  FEE?") == question_key("passport fee") == "passportfee"
    assert question_key("十五天能办好吗") == question_key("15天能办好吗")
    assert question_key("？！。 ") == ""
    assert question_key("居住证怎么办") != question_key("护照怎么办")


# ---------------------------------------------------------------- the floor


def test_text_module_imports_nothing_else_of_the_project() -> None:
    import assistant.core.text as text

    tree = ast.parse(Path(text.__file__).read_text(encoding="utf-8"))
    project = {"assistant", "intents", "retrieval", "knowledge_base", "eval", "ui", "tests"}
    imported = {
        (node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not imported & project, imported & project
