"""LLM generator guarantees with fake chat models: grounding, post-check, PII, deadlines, factories."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from assistant.core.errors import BackendUnavailable, ConfigError
from assistant.wiring import make_generator
from assistant.generators.composer import Composer
from assistant.generators.llm import (
    PACKAGED_MODELS,
    LLMGenerator,
    build_prompt,
    packaged_model_path,
    unsupported_facts,
)
from assistant.core.settings import GeneratorSettings
from assistant.core.types import Action, GenerationRequest
from tests.fakes import tiny_items

ITEMS = {i.id: i for i in tiny_items()}


def request(question: str = "居住证多久能拿到", intent: str = "consult.time_limit", item: str = "residence-permit-apply"):
    return GenerationRequest(question=question, intent=intent, lang="zh", items=(ITEMS[item],))


class RecordingChat:
    """A chat model that streams a fixed reply word by word and records the messages it got."""

    def __init__(self, reply: str, *, delay_s: float = 0.0, first_delay_s: float = 0.0, fail: bool = False) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.first_delay_s = first_delay_s
        self.fail = fail
        self.seen: list[list[object]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def stream(self, messages: list[object]) -> Iterator[SimpleNamespace]:
        self.seen.append(messages)
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.fail:
                raise RuntimeError("server error 500")
            time.sleep(self.first_delay_s)
            for piece in self.reply.split("|"):
                time.sleep(self.delay_s)
                yield SimpleNamespace(content=piece)
        finally:
            with self._lock:
                self.active -= 1


def test_grounded_answer_passes_and_keeps_citations_and_channel_line() -> None:
    chat = RecordingChat("办理时限为|自受理之日起15日内。")
    answer = LLMGenerator(chat, label="fake").generate(request())
    assert answer.generator == "llm:fake"
    assert answer.text.startswith("办理时限为自受理之日起15日内。")
    assert "信息更新于2026-11-01" in answer.text
    assert "time_limit" in [c.field for c in answer.citations]  # every planned unit is cited


def test_invented_number_falls_back_to_the_composer() -> None:
    chat = RecordingChat("一般3个工作日就能拿到。")
    answer = LLMGenerator(chat, label="fake").generate(request())
    assert answer.generator.startswith("composer (fallback from llm:fake: post-check")
    assert answer.text == Composer().generate(request()).text


def test_stream_releases_checked_sentences_then_the_composer() -> None:
    chat = RecordingChat("首次申领不收费。|补办大约要交20元。")
    gen = LLMGenerator(chat, label="fake")
    req = request("居住证多少钱", "consult.fee", "residence-permit-apply")
    stream = gen.stream(req)
    assert stream.fallback == ""  # nothing known before the pieces are read
    pieces = list(stream)
    assert pieces[0] == "首次申领不收费。"
    assert all("20元" not in p for p in pieces)
    assert Composer().generate(req).text in pieces[-1]
    # the typed stream says why the composer took over
    assert stream.fallback.startswith("post-check:") and "20" in stream.fallback


def test_a_clean_stream_reports_no_fallback() -> None:
    gen = LLMGenerator(RecordingChat("首次申领不收费。"), label="fake")
    stream = gen.stream(request("居住证多少钱", "consult.fee", "residence-permit-apply"))
    assert "".join(stream).startswith("首次申领不收费。")
    assert stream.fallback == ""
    composer_stream = Composer().stream(request("居住证多少钱", "consult.fee", "residence-permit-apply"))
    assert "".join(composer_stream) and composer_stream.fallback == ""


def test_prompt_holds_only_the_cited_fields_and_the_masked_question() -> None:
    chat = RecordingChat("不收费。")
    req = request("我叫王小明，手机13812345678，身份证310101199001011234，办护照多少钱", "consult.fee", "passport-apply")
    LLMGenerator(chat, label="fake").generate(req)
    system, user = (m.content for m in chat.seen[0])  # type: ignore[attr-defined]
    assert "以出入境管理部门公布标准为准" in user  # the fees field
    assert "普通护照申领" in user
    assert "居民身份证" not in user  # materials are not asked about, so not sent
    assert "13812345678" not in user and "310101199001011234" not in user and "王小明" not in user
    assert "[手机号·尾号5678]" in user and "[身份证号·尾号1234]" in user and "[姓名]" in user
    assert "只依据【资料】" in system


def test_slow_first_token_gives_way_to_the_composer_in_bounded_time() -> None:
    chat = RecordingChat("不收费。", first_delay_s=2.0)
    gen = LLMGenerator(chat, label="slow", timeout_s=0.2)
    started = time.monotonic()
    answer = gen.generate(request())
    assert time.monotonic() - started < 1.5
    assert "no first token" in answer.generator
    assert answer.text == Composer().generate(request()).text


def test_total_deadline_and_model_errors_fall_back() -> None:
    slow = RecordingChat("自受理之日起|15日内|。", delay_s=0.5)
    answer = LLMGenerator(slow, label="slow", timeout_s=2.0, total_timeout_s=0.8).generate(request())
    assert "took too long" in answer.generator
    broken = LLMGenerator(RecordingChat("x", fail=True), label="down").generate(request())
    assert "model failed" in broken.generator and "500" in broken.generator


def test_one_generation_at_a_time() -> None:
    chat = RecordingChat("自受理之日起|15日内。", delay_s=0.05)
    gen = LLMGenerator(chat, label="fake", timeout_s=5.0)
    threads = [threading.Thread(target=gen.generate, args=(request(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert chat.max_active == 1


def test_any_langchain_chat_model_works() -> None:
    fake = GenericFakeChatModel(messages=iter([AIMessage(content="自受理之日起15日内制作发放居住证。")]))
    answer = LLMGenerator(fake, label="generic").generate(request())
    assert answer.generator == "llm:generic"
    assert "15日内" in answer.text


def test_non_consult_answers_are_the_composers() -> None:
    chat = RecordingChat("编造的内容123")
    req = GenerationRequest(question="投诉", intent="complaint", lang="zh", items=(ITEMS["passport-apply"],))
    answer = LLMGenerator(chat, label="fake").generate(req)
    assert chat.seen == [] and "fallback" in answer.generator


@pytest.mark.parametrize(
    "answer,context,bad",
    [
        ("需要15日。", "自受理之日起15日内", []),
        ("需要5日。", "自受理之日起15日内", ["5"]),
        ("1. 带身份证\n2. 带照片", "身份证 照片", []),
        ("工作日 9:00-17:00 办理", "一般为工作日 9:00-17:00", []),
        ("收费50元", "不收费", ["50"]),
        ("三个工作日办结", "15日内", ["三个工作日"]),
        ("地址是人民大道200号", "人民大道200号", []),
        ("请到淮海中路100号办理", "就近办理", ["淮海中路100号", "100"]),
        ("请到淮海中路100号办理", "淮海中路100号", []),
        ("登录 www.example.com 办理", "zwdt.sh.gov.cn", ["www.example.com"]),
        ("拨打12345", "12345（上海市民服务热线）", []),
    ],
)
def test_unsupported_facts(answer: str, context: str, bad: list[str]) -> None:
    found = unsupported_facts(answer, context)
    assert len(found) == len(bad), found
    for expected in bad:  # an address is reported with the words before it
        assert any(expected in f for f in found), (expected, found)


def test_prompt_masks_personal_data_names_and_addresses() -> None:
    question = "我叫李四，电话021-62345678，卡号6222 0212 3456 7890 128，身份证11010519491231002X，邮箱a.b@example.com，住在长寿路100号"
    req = GenerationRequest(question=question, intent="consult.time_limit", lang="zh", items=(ITEMS["residence-permit-apply"],))
    _, user, _ = build_prompt(req, Composer())
    for secret in ("李四", "62345678", "6222 0212", "11010519491231002X", "a.b@example.com", "长寿路100号"):
        assert secret not in user


def test_build_prompt_english_keeps_official_names() -> None:
    req = GenerationRequest(question="how long?", intent="consult.time_limit", lang="en", items=(ITEMS["residence-permit-apply"],))
    system, user, context = build_prompt(req, Composer())
    assert "Shanghai Residence Permit application (上海市居住证申领)" in user
    assert "English" in system


def test_factories_name_the_fix(tmp_path: Path) -> None:
    assert make_generator(GeneratorSettings()).name == "composer"
    with pytest.raises(ConfigError, match="BASE_URL"):
        make_generator(GeneratorSettings(backend="openai"))
    with pytest.raises(BackendUnavailable, match="cannot reach"):
        make_generator(GeneratorSettings(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", timeout_s=1))
    with pytest.raises(ConfigError, match="does not exist"):
        make_generator(GeneratorSettings(backend="llamacpp", model_path=tmp_path / "none.gguf"))
    with pytest.raises(ConfigError, match="unknown packaged model"):
        make_generator(GeneratorSettings(backend="llamacpp", model="gpt-9", model_dir=tmp_path))


def test_packaged_model_with_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    spec = PACKAGED_MODELS["qwen2.5-coder-0.5b"]
    (tmp_path / f"{spec.name}.gguf").write_bytes(b"not the model")
    with pytest.raises(BackendUnavailable, match="sha256"):
        packaged_model_path(spec.name, tmp_path)


def test_packaged_model_parts_missing_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.generators.llm as llm

    fake = llm.PackagedModel("tiny", "no-such-dist-part{n}", "1.0", 2, 4, "0" * 64)
    monkeypatch.setitem(llm.PACKAGED_MODELS, "tiny", fake)
    with pytest.raises(BackendUnavailable, match="pip install no-such-dist-part1==1.0 no-such-dist-part2==1.0"):
        packaged_model_path("tiny", tmp_path)


def test_assembled_parts_are_hash_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import assistant.generators.llm as llm

    parts = [tmp_path / "p1.bin", tmp_path / "p2.bin"]
    parts[0].write_bytes(b"abc")
    parts[1].write_bytes(b"def")
    good = llm.PackagedModel("tiny", "x{n}", "1", 2, 6, hashlib.sha256(b"abcdef").hexdigest())
    monkeypatch.setattr(llm, "_part_paths", lambda spec: parts)
    monkeypatch.setitem(llm.PACKAGED_MODELS, "tiny", good)
    out = packaged_model_path("tiny", tmp_path / "models")
    assert out.read_bytes() == b"abcdef"
    bad = llm.PackagedModel("tiny2", "x{n}", "1", 2, 6, "f" * 64)
    monkeypatch.setitem(llm.PACKAGED_MODELS, "tiny2", bad)
    with pytest.raises(BackendUnavailable, match="not the pinned ones"):
        packaged_model_path("tiny2", tmp_path / "models")
    assert not (tmp_path / "models" / "tiny2.gguf").exists()
