"""The citizen chat passes an automated accessibility audit and works from the keyboard.

axe-core (from the npm registry, installed by ``make test`` into .cache/npm) is
injected into the real page after a question with a cited answer and a
clarifying question with options, in standard and elder mode, at a desktop and
a phone-sized viewport: no serious or critical violation.  Every control is
reached with Tab and used with Enter or Space; elder mode shows the first part
of a long answer (the rest one click away) and reads new answers aloud through
the browser's speech synthesis.  The staff pages are audited too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import axe_violations, watch

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

#: records what the page asks the speech synthesis to say (headless Chromium has no voices)
SPEECH_STUB = """
window.__spoken = [];
(() => {
  const fake = { speak: (u) => { window.__spoken.push(u.text); setTimeout(() => u.onend && u.onend(), 50); },
                 cancel: () => {}, speaking: false, getVoices: () => [] };
  try { Object.defineProperty(window, "speechSynthesis", { value: fake, configurable: true }); } catch (e) {}
  if (typeof window.SpeechSynthesisUtterance === "undefined") {
    window.SpeechSynthesisUtterance = function (text) { this.text = text; };
  }
})();
"""


def _chat(chromium, server, viewport: str, elder: bool, problems: list[str]):  # type: ignore[no-untyped-def]
    context = chromium.new_context(locale="zh-CN", viewport=VIEWPORTS[viewport])
    context.add_init_script(SPEECH_STUB)
    page = context.new_page()
    page.set_default_timeout(30_000)
    watch(page, problems, server.url)
    page.goto(server.url + "/")
    if elder:
        page.get_by_role("button", name="长者模式").click()
    return context, page


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("mode", ["standard", "elder"])
def test_chat_has_no_serious_or_critical_violation(chromium, workbench_server, tmp_path: Path, viewport: str, mode: str) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    context, page = _chat(chromium, workbench_server, viewport, mode == "elder", problems)
    try:
        page.get_by_label("输入问题").fill("宝宝落户")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.assistant .option").first).to_be_visible()
        page.get_by_label("输入问题").fill("护照怎么办理")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.assistant .citation").first).to_be_visible()
        page.get_by_role("button", name="评价").click()
        expect(page.locator(".rating-box")).to_be_visible()
        page.screenshot(path=str(tmp_path / f"chat-{mode}-{viewport}.png"), full_page=True)
        violations = axe_violations(page)
        assert violations == [], violations
    finally:
        context.close()
    assert problems == []


def test_every_chat_control_is_reachable_and_usable_by_keyboard(chromium, workbench_server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    context, page = _chat(chromium, workbench_server, "desktop", False, problems)
    try:
        page.get_by_label("输入问题").fill("护照怎么办理")
        page.keyboard.press("Enter")
        expect(page.locator(".msg.assistant .citation").first).to_be_visible()
        page.locator("body").focus()
        reached = []
        for _ in range(40):
            page.keyboard.press("Tab")
            reached.append(page.evaluate(
                "() => { const e = document.activeElement; return (e.getAttribute('aria-label') || e.textContent || e.id || e.tagName).trim(); }"))
        for name in ("English", "长者模式", "转人工", "评价", "新对话", "输入问题", "发送", "有帮助", "没帮助", "朗读"):
            assert any(name in r for r in reached), (name, reached)
        # Space on the focused elder-mode button switches it, Enter on a thumbs button sends it
        page.get_by_role("button", name="没帮助").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name=__import__("re").compile("感谢反馈"))).to_be_visible()
        page.get_by_role("button", name="长者模式").focus()
        page.keyboard.press("Space")
        expect(page.get_by_role("button", name="长者模式")).to_have_attribute("aria-pressed", "true")
        page.screenshot(path=str(tmp_path / "keyboard.png"))
    finally:
        context.close()
    assert problems == []


def test_elder_mode_reads_answers_aloud_and_shortens_them(chromium, workbench_server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    context, page = _chat(chromium, workbench_server, "phone", True, problems)
    try:
        expect(page.locator("body")).to_have_class(__import__("re").compile("elder"))
        page.get_by_label("输入问题").fill("护照怎么办理")
        page.keyboard.press("Enter")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".citation").first).to_be_visible()
        spoken = page.evaluate("() => window.__spoken")
        assert spoken and "普通护照申领" in spoken[-1]
        rest = answer.locator(".rest")
        expect(rest).to_be_hidden()
        more = answer.get_by_role("button", name="展开全文")
        expect(more).to_have_attribute("aria-expanded", "false")
        more.click()
        expect(rest).to_be_visible()
        expect(answer.get_by_role("button", name="收起")).to_have_attribute("aria-expanded", "true")
        answer.get_by_role("button", name="朗读").click()
        assert len(page.evaluate("() => window.__spoken")) == len(spoken) + 1
        page.screenshot(path=str(tmp_path / "elder-phone.png"), full_page=True)
    finally:
        context.close()
    assert problems == []


#: what each staff page shows once it has loaded its data
LOADED = {"/workbench": "#missed-count:not(:empty)", "/evaluation": "#bench option", "/dashboard": "#kpis .kpi",
          "/console": "#queue", "/login": "#username"}
#: who opens each staff page (the route table's rule)
ROLE = {"/workbench": "kb_operator", "/evaluation": "kb_operator", "/dashboard": "supervisor", "/console": "agent"}


@pytest.mark.parametrize("path", sorted(LOADED))
def test_staff_pages_have_no_serious_or_critical_violation(chromium, workbench_server, tmp_path: Path, path: str) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    context = chromium.new_context(locale="zh-CN", viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    watch(page, problems, workbench_server.url)
    try:
        if path in ROLE:
            workbench_server.sign_in_page(page, ROLE[path])
        page.goto(workbench_server.url + path)
        expect(page.locator(LOADED[path]).first).to_be_attached(timeout=30_000)
        page.screenshot(path=str(tmp_path / f"staff{path.replace('/', '-')}.png"), full_page=True)
        violations = axe_violations(page)
        assert violations == [], violations
    finally:
        context.close()
    assert problems == []
