"""The whole helpdesk in a real browser (Playwright driving Debian's chromium).

A citizen asks a question, sees the cited answer, asks for a person; an agent
claims the ticket in the console, drafts a reply from the knowledge base and
sends it; the reply appears live in the citizen's chat; the agent resolves;
the citizen rates the service; the dashboard shows the change.

Needs ``apt-get install -y chromium`` and ``pip install playwright``; skipped
with that message when either is missing.  Screenshots go to the test's
temporary directory.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.staff import sign_in_page
from tests.test_helpdesk_crash import LiveServer

CHROMIUM = "/usr/lib/chromium/chromium"  # the real binary; /usr/bin/chromium is a shell wrapper

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium_browser(chromium):  # type: ignore[no-untyped-def]
    """The session's Chromium (tests/conftest.py): one Playwright per process, shared by the modules."""
    return chromium


#: the staff accounts of the walk-through (the console's agent and the dashboard's supervisor).
AGENT, SUPERVISOR, PASSWORD = "王芳", "主管", "browser test password"


@pytest.fixture
def server(tmp_path: Path):
    live = LiveServer(tmp_path / "data", tmp_path / "server.log")
    live.create_account(AGENT, "agent", PASSWORD)
    live.create_account(SUPERVISOR, "supervisor", PASSWORD)
    live.start()
    yield live
    live.stop()


def _watch(page, problems: list[str]) -> None:
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def failed(request) -> None:  # an EventSource closed by navigation is not a failure
        if "/events" in request.url:
            return
        problems.append(f"request failed: {request.url} {request.failure}")

    page.on("requestfailed", failed)
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)


def test_citizen_agent_reply_resolution_rating_and_dashboard(chromium_browser, server, tmp_path: Path) -> None:
    problems: list[str] = []
    contexts = [chromium_browser.new_context(locale="zh-CN") for _ in range(3)]
    try:
        _walk_through(contexts, server, tmp_path, problems)
    finally:
        for context in contexts:  # closes the live streams before the server stops
            context.close()
    assert problems == []


def _walk_through(contexts, server, tmp_path: Path, problems: list[str]) -> None:
    from playwright.sync_api import expect

    citizen, console, dashboard = (c.new_page() for c in contexts)
    for page in (citizen, console, dashboard):
        _watch(page, problems)

    # Staff pages send a visitor without a session to /login, and back after signing in.
    dashboard.goto(server.url + "/dashboard")
    expect(dashboard).to_have_url(re.compile(r"/login\?next=%2Fdashboard$"))
    sign_in_page(dashboard, server.url, SUPERVISOR, PASSWORD)
    expect(dashboard).to_have_url(server.url + "/dashboard")
    expect(dashboard.locator('[data-kpi="human"] .v')).to_have_text("—")
    expect(dashboard.locator('[data-kpi="rating"] .v')).to_have_text("—")
    dashboard.screenshot(path=str(tmp_path / "1-dashboard-before.png"))

    # The citizen: English and elder mode switch the page, then back to Chinese for the question.
    citizen.goto(server.url + "/")
    citizen.get_by_role("button", name="English").click()
    expect(citizen.get_by_label("Your question")).to_be_visible()
    citizen.get_by_role("button", name="中文").click()
    citizen.get_by_role("button", name="长者模式").click()
    expect(citizen.locator("body")).to_have_class(re.compile("elder"))
    citizen.get_by_label("输入问题").fill("社保卡丢了怎么补办")
    citizen.get_by_role("button", name="发送").click()
    answer = citizen.locator(".msg.assistant").last
    expect(answer).to_contain_text("社会保障卡")
    expect(answer.locator(".citation").first).to_contain_text("社会保障卡申领与补换")
    expect(answer.locator(".citation").first).not_to_contain_text("social-security-card")
    answer.get_by_role("button", name="有帮助", exact=True).click()
    expect(answer.get_by_role("button", name=re.compile("感谢反馈"))).to_be_visible()
    citizen.get_by_role("button", name="转人工").click()
    expect(citizen.locator("#waiting")).to_contain_text("您前面还有 0 位")
    citizen.screenshot(path=str(tmp_path / "2-citizen-waiting.png"))

    # The agent claims it in the console and sends a reply drafted from the knowledge base.
    console.goto(server.url + "/console")
    expect(console.get_by_label("用户名")).to_be_visible()
    console.get_by_label("用户名").fill(AGENT)
    console.get_by_label("密码").fill("wrong password")
    console.get_by_role("button", name="登录").click()
    expect(console.locator("#error")).to_have_text("用户名或密码错误。")  # which one, it does not say
    sign_in_page(console, server.url, AGENT, PASSWORD)
    expect(console).to_have_url(server.url + "/console")
    expect(console.get_by_label("客服姓名")).to_have_value(AGENT)  # the signed-in account is the agent
    row = console.locator("tr.ticket").first
    expect(row).to_contain_text("上海市人力资源和社会保障局")
    expect(row.locator(".wait")).to_have_text(re.compile(r"0:\d\d"))
    row.click()
    expect(console.locator("#summary")).to_contain_text("社保卡丢了怎么补办")
    console.get_by_role("button", name="认领").click()
    expect(console.locator("#detail-title")).to_contain_text("已认领")
    console.get_by_role("button", name="生成建议回复").click()
    expect(console.get_by_label("回复内容")).to_have_value(re.compile("社会保障卡"))
    draft = console.get_by_label("回复内容").input_value()
    console.get_by_label("回复内容").fill("您好，我是王芳。" + draft)
    console.get_by_role("button", name="发送回复").click()
    expect(console.locator("#detail-title")).to_contain_text("已回复")
    console.screenshot(path=str(tmp_path / "3-console-replied.png"))

    # The reply arrives live in the citizen's chat, and the waiting banner says who is serving.
    agent_msg = citizen.locator(".msg.agent").last
    expect(agent_msg).to_contain_text("您好，我是王芳。", timeout=10_000)
    expect(citizen.locator("#waiting")).to_contain_text("王芳")

    # The agent resolves; the bot is back and the citizen rates the service.
    console.get_by_label("解决结果").select_option("answered")
    console.get_by_role("button", name="结束工单").click()
    expect(console.locator("#detail-title")).to_contain_text("已解决")
    expect(citizen.locator(".msg.system", has_text="小申继续为您服务")).to_be_visible(timeout=10_000)
    citizen.get_by_role("button", name="5 星").click()
    expect(citizen.locator(".rating-box")).to_contain_text("感谢您的评价")
    citizen.screenshot(path=str(tmp_path / "4-citizen-rated.png"))

    # The dashboard (refreshing itself every 5 s) now shows the resolution and the rating.
    expect(dashboard.locator('[data-kpi="human"] .v')).to_have_text("100.0%", timeout=15_000)
    expect(dashboard.locator('[data-kpi="rating"] .v')).to_have_text("5.00")
    expect(dashboard.locator('[data-kpi="handoff"] .v')).to_have_text("100.0%")
    expect(dashboard.locator('[data-kpi="p50"] .v')).to_have_text(re.compile(r"\d+ 秒"))
    expect(dashboard.locator("#reasons")).to_contain_text("用户要求")
    dashboard.screenshot(path=str(tmp_path / "5-dashboard-after.png"))

    # Not solved after all: the citizen reopens, and the ticket is back in the console's queue.
    citizen.get_by_role("button", name="问题没解决，重新转人工").click()
    expect(citizen.locator("#waiting")).to_contain_text("您前面还有 0 位", timeout=10_000)
    expect(console.locator("tr.ticket").first).to_contain_text("待认领", timeout=10_000)
    expect(console.locator("#events")).to_contain_text("reopened", timeout=10_000)
