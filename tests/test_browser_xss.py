"""Script, image and link payloads neither execute nor load in the citizen, staff and operator pages.

Issue 14: a citizen's message and knowledge-base text (an FAQ and the phone
line of an item, published through the workbench) carry an <img onerror>, a <script>, a javascript: link, Markdown
image and link syntax and an address outside the government's domains.  In the
citizen chat, the staff console, the workbench (inbox, editor, preview,
history) and the dashboard: no payload runs (``window.__xss`` stays unset), no
request leaves this server (no image loads), no element is made from the
payload (no <img>, <script> or javascript: link), the payload reads as text,
and only an https address on a government domain becomes a link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser_support import watch

pytestmark = pytest.mark.browser

EVIL = "evil.example.com"
PAYLOAD = (
    f'<img src="https://{EVIL}/i.png" onerror="window.__xss=1">'
    "<script>window.__xss=2</script>"
    '<a href="javascript:window.__xss=3">点我</a>'
    f" [链接](javascript:window.__xss=4) ![图](https://{EVIL}/md.png)"
    f" https://{EVIL}/phish 官网 https://zwdt.sh.gov.cn/govPortals/index.do"
)
FAQ_QUESTION = "营业执照可以在网上申请吗"

CHECK = f"""() => ({{
  xss: window.__xss === undefined ? null : window.__xss,
  imgs: [...document.querySelectorAll('img')].map(i => i.src).filter(s => s.includes('{EVIL}') || s.includes('md.png')),
  scripts: [...document.querySelectorAll('script')].map(s => s.src || 'inline:' + s.textContent.slice(0, 40)).filter(s => !s.startsWith(location.origin + '/ui/')),
  jslinks: [...document.querySelectorAll('a')].map(a => a.getAttribute('href') || '').filter(h => /^\\s*javascript:/i.test(h) || h.includes('{EVIL}')),
}})"""


def _clean(page) -> None:  # type: ignore[no-untyped-def]
    found = page.evaluate(CHECK)
    assert found == {"xss": None, "imgs": [], "scripts": [], "jslinks": []}, found


def test_payloads_in_a_message_and_in_knowledge_base_text_stay_text(chromium, workbench_server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = workbench_server
    problems: list[str] = []
    contexts = [chromium.new_context(locale="zh-CN") for _ in range(4)]
    citizen, agent, operator, dashboard = (c.new_page() for c in contexts)
    for page in (citizen, agent, operator, dashboard):
        page.set_default_timeout(30_000)
        watch(page, problems, server.url)
    try:
        # knowledge-base text: an FAQ carrying the payload, published through the workbench's API
        status, body = server.call("POST", "/api/v1/workbench/items/business-establish/fix", staff="kb_operator", body={
            "kind": "faq", "question": FAQ_QUESTION, "answer": "可以。" + PAYLOAD,
            "question_en": "Can I apply for a business licence online?", "answer_en": "Yes. " + PAYLOAD,
        })
        assert status == 200 and body["problems"] == [], body
        # the phone line closes every answer of the item, word for word: the whole payload is shown
        status, body = server.call("PUT", "/api/v1/workbench/items/business-establish/draft", staff="kb_operator",
                                   body={"fields": {"phone": "12345 " + PAYLOAD}})
        assert status == 200 and body["problems"] == [], body
        status, body = server.call("POST", "/api/v1/workbench/items/business-establish/publish", {}, staff="kb_operator")
        assert status == 200, body

        # the citizen: a message with the payload, then the FAQ's answer
        citizen.goto(server.url + "/")
        citizen.get_by_role("button", name="新对话").click()
        citizen.get_by_label("输入问题").fill(PAYLOAD)
        citizen.get_by_role("button", name="发送").click()
        mine = citizen.locator(".msg.user").last
        expect(mine).to_contain_text('<img src="https://evil.example.com/i.png"')
        expect(mine).to_contain_text("<script>window.__xss=2</script>")
        expect(citizen.locator(".msg.assistant")).to_have_count(1)
        citizen.get_by_label("输入问题").fill(FAQ_QUESTION)
        citizen.get_by_role("button", name="发送").click()
        answer = citizen.locator(".msg.assistant").last
        expect(answer).to_contain_text("<script>window.__xss=2</script>")
        expect(answer).to_contain_text("![图](https://evil.example.com/md.png)")
        links = answer.get_by_role("link")
        expect(links.first).to_have_attribute("href", "https://zwdt.sh.gov.cn/govPortals/index.do")
        for link in links.all():  # only the government address became a link; the phishing one stays text
            assert link.get_attribute("href") == "https://zwdt.sh.gov.cn/govPortals/index.do"
            assert link.get_attribute("rel") == "noopener noreferrer"
        citizen.get_by_role("button", name="转人工").click()
        expect(citizen.locator("#waiting")).to_contain_text("您前面还有")
        citizen.screenshot(path=str(tmp_path / "xss-citizen.png"), full_page=True)
        citizen.reload()  # the history as reloaded from the server, and the typed copy of this tab
        expect(citizen.locator(".msg.user").first).to_contain_text("<script>")
        _clean(citizen)

        # the staff console: the ticket's summary and transcript
        server.sign_in_page(agent, "agent")
        agent.goto(server.url + "/console")
        agent.locator("tr.ticket", has_text="待认领").first.click()
        expect(agent.locator("#transcript")).to_contain_text("<script>window.__xss=2</script>")
        expect(agent.locator("#summary")).to_contain_text("<img")
        agent.screenshot(path=str(tmp_path / "xss-console.png"), full_page=True)
        _clean(agent)

        # the operator: the inbox, the item editor, the preview and the history
        server.sign_in_page(operator, "kb_operator")
        operator.goto(server.url + "/workbench")
        expect(operator.locator("#missed-list")).to_contain_text("<script>window.__xss=2</script>")
        _clean(operator)
        operator.locator("#tab-items").click()
        operator.get_by_label("搜索事项").fill("营业执照")
        operator.get_by_role("button", name="搜索").click()
        operator.get_by_role("button", name=re.compile(r"business-establish")).click()
        expect(operator.get_by_label(re.compile(r"常见问题（faqs）"))).to_have_value(re.compile("window.__xss=2"))
        aliases = operator.get_by_label(re.compile(r"别名（每行一个）"))
        aliases.fill(aliases.input_value() + "\n办执照<img src=x onerror=window.__xss=5>")
        operator.get_by_role("button", name="保存草稿").click()
        expect(operator.locator("#diff")).to_contain_text("<img src=x onerror=window.__xss=5>")
        operator.get_by_label(re.compile("预览问题")).fill(FAQ_QUESTION)
        operator.get_by_role("button", name="预览").click()
        expect(operator.locator("#preview-result")).to_contain_text("<script>window.__xss=2</script>")
        operator.get_by_role("button", name="查看历史").click()
        expect(operator.locator("#history")).to_contain_text("<script>")
        operator.screenshot(path=str(tmp_path / "xss-workbench.png"), full_page=True)
        _clean(operator)
        operator.get_by_role("button", name="放弃草稿").click()

        # the dashboard: the top missed questions
        server.sign_in_page(dashboard, "supervisor")
        dashboard.goto(server.url + "/dashboard")
        expect(dashboard.locator("#missed")).to_contain_text("<script>", timeout=15_000)
        dashboard.screenshot(path=str(tmp_path / "xss-dashboard.png"), full_page=True)
        _clean(dashboard)
    finally:
        for c in contexts:
            c.close()
    assert problems == []
