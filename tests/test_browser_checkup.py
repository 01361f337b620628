"""A citizen's policy check-up (政策体检) in a real browser, to the three lists.

The citizen presses the chat's 政策体检 button, answers each question with its
buttons (the checklist by ticking rows and pressing 确定), and reads the three
lists.  The server runs the app on the tiny fake knowledge base plus the items
that carry eligibility data.  Needs ``apt-get install -y chromium`` and ``pip
install playwright`` (skipped with that message otherwise); screenshots go to
the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser_helpdesk import CHROMIUM, _watch
from tests.test_helpdesk_crash import ROOT, _free_port

pytestmark = pytest.mark.browser

#: the persona: 70, Shanghai hukou, retired with Shanghai insurance, a 低保 household, a
#: disability certificate, no home of her own, renting.
ANSWERS = {
    "户籍和居住情况": "上海户籍",
    "多大年纪": "65岁及以上",
    "工作状况": "已退休",
    "职工社会保险": "1年及以上",
}
TICKS = ["家庭享受低保，或人均收入低于本市低保标准", "本人持有残疾人证", "本人及配偶在上海没有自有住房", "在上海租房住"]
#: read from the items' conditions (see tests/test_checkup_profiles.py, row "70, 低保, disabled, renting, no home")
ELIGIBLE = ["老年综合津贴", "老年人免费健康体检", "长期护理保险需求评估申请", "困难残疾人生活补贴和重度残疾人护理补贴"]
POSSIBLE = ["养老服务补贴申请", "最低生活保障申请", "廉租住房租金配租申请", "共有产权保障住房申请"]
NOT_ELIGIBLE = ["失业保险金申领", "上海市居住证积分申请"]


def serve(data_dir: str, port: int) -> None:
    """The server process: the app on the tiny items plus every item with eligibility data."""
    import uvicorn

    from assistant.api.app import create_app
    from assistant.core.settings import PathsSettings, load_settings
    from assistant.wiring import build_services
    from knowledge_base.loader import load_items
    from tests.fakes import KeywordEmbedder, tiny_items

    kb = ROOT / "knowledge_base" / "items"
    items = {i.id: i for i in (*tiny_items(), *(i for i in load_items(kb) if i.eligibility is not None))}
    settings = load_settings(paths=PathsSettings(data_dir=Path(data_dir)))
    services = build_services(settings, items=list(items.values()), embedder=KeywordEmbedder())
    uvicorn.run(create_app(settings, services=services), host="127.0.0.1", port=port, log_level="warning",
                timeout_graceful_shutdown=2)


@pytest.fixture(scope="module")
def chromium_browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (see Makefile)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium ({CHROMIUM}) is missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"],
        )
        yield b
        b.close()


@pytest.fixture
def server_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    port = _free_port()
    code = f"from tests.test_browser_checkup import serve; serve({str(tmp_path / 'data')!r}, {port})"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XS_LIMITS__ENABLED": "false"}
    with (tmp_path / "server.log").open("ab") as log:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see {tmp_path / 'server.log'}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready; see {tmp_path / 'server.log'}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def test_a_citizen_walks_through_a_check_up_to_the_three_lists(chromium_browser, server_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    context = chromium_browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        _watch(page, problems)
        page.goto(server_url + "/")
        # the start button follows the chat's language
        start = page.locator("#checkup")
        expect(start).to_have_text("政策体检")
        page.get_by_role("button", name="English").click()
        expect(start).to_have_text("Benefits check-up")
        page.get_by_role("button", name="中文").click()
        expect(start).to_have_text("政策体检")

        start.click()
        asked = 0
        for _ in range(8):
            last = page.locator(".msg.assistant").last
            expect(last).to_contain_text(re.compile(rf"第{asked + 1}个问题|政策体检结果"))
            text = last.locator(".text").inner_text()
            if "政策体检结果" in text:
                break
            asked += 1
            if last.locator(".checklist").count():
                for label in TICKS:
                    last.get_by_role("button", name=label, exact=True).click()
                    expect(last.get_by_role("button", name=label, exact=True)).to_have_attribute("aria-pressed", "true")
                page.screenshot(path=str(tmp_path / f"checkup-{asked}-checklist.png"))
                last.get_by_role("button", name="确定").click()
            else:
                (answer,) = [a for cue, a in ANSWERS.items() if cue in text]
                expect(last.get_by_role("button", name="不想说")).to_be_visible()
                last.get_by_role("button", name=answer, exact=True).click()
            expect(page.locator(".msg.assistant")).to_have_count(asked + 1)
        result = page.locator(".msg.assistant").last.locator(".text")
        expect(result).to_contain_text("政策体检结果")
        page.screenshot(path=str(tmp_path / "checkup-result.png"), full_page=True)
        assert 1 <= asked <= 5
        text = result.inner_text()
        eligible, rest = text.split("🔍 可能可以享受")
        possible, not_eligible = rest.split("✖ 暂不符合")
        for name in ELIGIBLE:
            assert f"· {name}：符合" in eligible, name
        for name in POSSIBLE:
            assert f"· {name}：" in possible, name
        for name in NOT_ELIGIBLE:
            assert f"· {name}：不符合" in not_eligible, name
        assert "“年满65周岁”" in eligible  # the verdict quotes the item's condition
        # the citations name the items of the first two lists
        cites = page.locator(".msg.assistant").last.locator(".citation")
        # (a citation names the item in words; its catalog id is the element's data-item)
        expect(page.locator('.msg.assistant >> nth=-1').locator('.citation[data-item="elderly-allowance"]')).to_have_count(1)
        expect(cites).to_have_count(len(ELIGIBLE) + len(POSSIBLE))
        # the user's checklist answer shows as the rows ticked
        expect(page.locator(".msg.user", has_text="本人持有残疾人证、本人及配偶在上海没有自有住房")).to_have_count(1)
    finally:
        context.close()
    assert problems == []
