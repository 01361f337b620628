"""The workbench journeys of issue 15 in a real browser (Playwright driving Debian's Chromium).

One real server (``xiaoshen serve``: real embedder, intent model and composer)
on a small file knowledge base serves every journey of this module:

1. a citizen's question fails (no good answer, thumbs-down); the operator finds it
   grouped in the inbox, adds it as an alias, previews, passes the gate and
   publishes; the same question asked again gets the right answer, from the same
   server process, and requests sent during the publish and the switch to the new
   index artefact version all succeed;
2. a publish that breaks an item's benchmark case is refused, with the case shown;
3. a bad rating becomes a review task, is closed with a fix and a note the citizen
   sees, and the dashboard counts it as fixed within 5 working days;
4. an evaluator uploads a benchmark file, runs it twice and compares the runs;

Screenshots go to the test's temporary directory.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from tests.browser_support import WorkbenchServer, watch
from tests.workbench_kb import CASES

pytestmark = pytest.mark.browser


@pytest.fixture
def server(workbench_server: WorkbenchServer) -> WorkbenchServer:
    return workbench_server


@pytest.fixture
def browser(chromium):  # type: ignore[no-untyped-def]
    return chromium


def pages(browser, server: WorkbenchServer, problems: list[str], n: int):  # type: ignore[no-untyped-def]
    contexts = [browser.new_context(locale="zh-CN") for _ in range(n)]
    out = []
    for c in contexts:
        page = c.new_page()
        page.set_default_timeout(30_000)
        watch(page, problems, server.url)
        out.append(page)
    return contexts, out


def ask(page, text: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    before = page.locator(".msg.assistant").count()
    page.get_by_label("输入问题").fill(text)
    page.get_by_role("button", name="发送").click()
    expect(page.locator(".msg.assistant")).to_have_count(before + 1)
    return page.locator(".msg.assistant").last


def test_missed_question_to_alias_to_live_answer_without_restart(browser, server: WorkbenchServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    contexts, (citizen, operator) = pages(browser, server, problems, 2)
    pid = server.process.pid
    question = "出国旅游的本本怎么弄"
    try:
        citizen.goto(server.url + "/")
        answer = ask(citizen, question)
        expect(answer).to_contain_text("没有找到")
        expect(answer).not_to_contain_text("事项：“普通护照申领”")
        answer.get_by_role("button", name="没帮助").click()
        expect(answer.get_by_role("button", name=re.compile("感谢反馈"))).to_be_visible()
        citizen.screenshot(path=str(tmp_path / "1-citizen-missed.png"))

        server.sign_in_page(operator, "kb_operator")
        operator.goto(server.url + "/workbench")
        group = operator.locator("li.group", has_text=question).first
        expect(group).to_be_visible()
        expect(group).to_contain_text("没帮助")
        expect(group.locator(".count")).to_contain_text("次")
        group.get_by_label(re.compile("选择事项")).select_option("passport-apply")
        operator.screenshot(path=str(tmp_path / "2-inbox.png"))
        group.get_by_role("button", name="加为别名").click()

        expect(operator.locator("#editor-title")).to_contain_text("passport-apply")
        expect(operator.locator("#diff")).to_contain_text("+ " + question)
        expect(operator.locator("#problems")).to_contain_text("没有问题")
        expect(operator.get_by_label(re.compile("预览问题"))).to_have_value(re.compile("^" + question + "\n护照怎么办理"))
        operator.get_by_role("button", name="预览").click()
        row = operator.locator("#preview-result tr.changed").first
        expect(row.locator(".side-draft")).to_contain_text("普通护照申领")
        operator.get_by_role("button", name="运行发布检查").click()
        expect(operator.locator("#gate .gate-ok")).to_contain_text("发布检查通过", timeout=60_000)
        expect(operator.locator("#gate tr.gate-newly_passing")).to_contain_text(question)
        operator.screenshot(path=str(tmp_path / "3-preview-and-gate.png"), full_page=True)

        # citizens keep asking while the operator publishes: every request succeeds
        statuses: list[int] = []
        stop = threading.Event()

        def keep_asking() -> None:
            cid, token = server.conversation()
            while not stop.is_set():
                status, _ = server.call("POST", f"/api/v1/conversations/{cid}/messages", {"text": "护照怎么办理"}, headers=token)
                statuses.append(status)

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            operator.get_by_role("button", name="发布", exact=True).click()
            expect(operator.locator("#notice")).to_contain_text("已发布 passport-apply", timeout=60_000)
            # the publish also wrote a new version of the index artefact, which the server's
            # watcher loads and switches to (as every worker would): keep asking until it does
            current = (server.data_dir / "artefacts" / "CURRENT").read_text().strip()
            deadline = time.monotonic() + 60
            while server.call("GET", "/readyz")[1].get("artefact") != current:
                assert time.monotonic() < deadline, "the server did not switch to the published artefact"
                time.sleep(0.2)
            time.sleep(1)
        finally:
            stop.set()
            asker.join(timeout=60)
        assert statuses and set(statuses) == {200}, statuses

        answer = ask(citizen, question)
        expect(answer).to_contain_text("事项：“普通护照申领”")
        expect(answer.locator(".citation").first).to_contain_text("普通护照申领")
        citizen.screenshot(path=str(tmp_path / "4-citizen-answered.png"))
        assert server.process.pid == pid and server.process.poll() is None  # no restart

        operator.get_by_role("button", name="查看历史").click()
        latest = operator.locator("li.version").first
        expect(latest).to_contain_text("当前")
        expect(latest.locator("tr[data-field=aliases]")).to_contain_text("+ " + question)
        operator.locator("#tab-missed").click()
        expect(operator.locator("li.group", has_text=question)).to_have_count(0)
        operator.screenshot(path=str(tmp_path / "5-history.png"), full_page=True)
    finally:
        for c in contexts:
            c.close()
    assert problems == []


def test_publish_that_breaks_a_benchmark_case_is_refused_with_the_case(browser, server: WorkbenchServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    contexts, (operator, citizen) = pages(browser, server, problems, 2)
    try:
        server.sign_in_page(operator, "kb_operator")
        operator.goto(server.url + "/workbench")
        operator.locator("#tab-items").click()
        operator.get_by_label("搜索事项").fill("护照")
        operator.get_by_role("button", name="搜索").click()
        operator.get_by_role("button", name=re.compile(r"普通护照申领（passport-apply）")).click()
        aliases = operator.get_by_label(re.compile(r"别名（每行一个）"))
        aliases.fill(aliases.input_value() + "\n社保卡丢了怎么补办")
        operator.get_by_role("button", name="保存草稿").click()
        expect(operator.locator("#notice")).to_contain_text("草稿已保存")
        operator.get_by_role("button", name="运行发布检查").click()
        expect(operator.locator("#gate .gate-fail")).to_be_visible(timeout=60_000)
        failing = operator.locator("#gate tr.gate-newly_failing")
        expect(failing.first).to_contain_text("card-1")
        expect(failing.first).to_contain_text("社保卡丢了怎么补办")
        operator.get_by_role("button", name="发布", exact=True).click()
        expect(operator.locator("#error")).to_contain_text("card-1")
        expect(operator.locator("#gate tr.gate-newly_failing").first).to_contain_text("新失败")
        operator.screenshot(path=str(tmp_path / "gate-refused.png"), full_page=True)
        # nothing was published: the citizen still gets the social security card
        citizen.goto(server.url + "/")
        expect(ask(citizen, "社保卡丢了怎么补办")).to_contain_text("社会保障卡")
        operator.get_by_role("button", name="放弃草稿").click()
        expect(operator.locator("#notice")).to_contain_text("草稿已放弃")
    finally:
        for c in contexts:
            c.close()
    assert problems == []


def test_bad_rating_becomes_a_review_task_closed_with_a_note_and_counted(browser, server: WorkbenchServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    contexts, (citizen, operator, dashboard) = pages(browser, server, problems, 3)
    note = "已核实并补充了补办地点说明，感谢您的反馈。"
    try:
        citizen.goto(server.url + "/")
        citizen.get_by_role("button", name="新对话").click()
        ask(citizen, "补社保卡去哪里")
        citizen.get_by_role("button", name="转人工").click()
        expect(citizen.locator("#waiting")).to_contain_text("您前面还有")
        citizen.get_by_role("button", name="评价").click()
        citizen.get_by_role("button", name="1 星").click()
        expect(citizen.locator(".rating-box")).to_contain_text("感谢您的评价")

        server.sign_in_page(operator, "kb_operator")
        operator.goto(server.url + "/workbench")
        operator.locator("#tab-reviews").click()
        task = operator.locator("li.review.open").first
        expect(task).to_contain_text("1 星")
        expect(task).to_contain_text("待复核")
        task.get_by_label("复核结论").select_option("knowledge_missing")
        task.get_by_label(re.compile("关联的修正")).fill("social-security-card 补办地点")
        task.get_by_label("给市民的留言").fill(note)
        operator.screenshot(path=str(tmp_path / "review-open.png"), full_page=True)
        task.get_by_role("button", name="关闭复核").click()
        expect(operator.locator("#notice")).to_contain_text("复核已关闭")
        expect(operator.locator("li.review.closed").first).to_contain_text("知识缺失")
        expect(operator.locator('[data-kpi="ontime"] .v')).to_have_text("1")

        # the citizen's ticket is closed with the note, which arrives live in the chat
        expect(citizen.locator(".msg.system", has_text=note)).to_be_visible(timeout=15_000)
        expect(citizen.locator("#waiting")).to_be_hidden()

        server.sign_in_page(dashboard, "supervisor")
        dashboard.goto(server.url + "/dashboard")
        expect(dashboard.locator('[data-kpi="reviews-ontime"] .v')).to_have_text("1", timeout=15_000)
        expect(dashboard.locator('[data-kpi="reviews-rate"] .v')).to_have_text("100.0%")
        expect(dashboard.locator("#intents svg")).to_be_visible()
        expect(dashboard.locator("#missed li").first).to_be_visible()
        dashboard.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    finally:
        for c in contexts:
            c.close()
    assert problems == []


def test_evaluator_runs_a_benchmark_file_and_compares_two_runs(browser, server: WorkbenchServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []
    contexts, (evaluator,) = pages(browser, server, problems, 1)
    bench = tmp_path / "mini-bench.jsonl"
    bench.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES) + "not json\n", encoding="utf-8")
    try:
        server.sign_in_page(evaluator, "kb_operator")
        evaluator.goto(server.url + "/evaluation")
        evaluator.get_by_label("上传评测集或语料").set_input_files(str(bench))
        evaluator.get_by_role("button", name="上传", exact=True).click()
        expect(evaluator.locator("#notice")).to_contain_text(f"已上传 mini-bench：{len(CASES)} 条")
        expect(evaluator.locator("#upload-problems")).to_contain_text("line 6")
        expect(evaluator.get_by_label("评测集", exact=True)).to_have_value("mini-bench")

        for label in ("第一次", "第二次"):
            evaluator.get_by_label("备注", exact=True).fill(label)
            if label == "第二次":
                evaluator.get_by_label(re.compile("只跑前")).fill("3")
            evaluator.get_by_role("button", name="开始评测").click()
            row = evaluator.locator("tr.run", has_text=label)
            expect(row.locator("progress")).to_be_visible()
            expect(row.locator(".status")).to_have_text("完成", timeout=180_000)
        evaluator.screenshot(path=str(tmp_path / "runs.png"), full_page=True)

        evaluator.locator("tr.run", has_text="第一次").get_by_role("button").click()
        expect(evaluator.locator("#report-metrics")).to_contain_text("命中@1")
        expect(evaluator.locator("#report-meta")).to_contain_text("知识库版本")
        expect(evaluator.locator("#report-plots img")).to_have_count(4)
        for img in evaluator.locator("#report-plots img").all():
            assert img.evaluate("i => i.decode().then(() => i.naturalWidth)") > 0  # the plot loaded and decoded
        metrics_link = evaluator.get_by_role("link", name="下载 metrics.json")
        response = evaluator.request.get(server.url + metrics_link.get_attribute("href"))
        assert response.status == 200 and json.loads(response.text())["cases"] == len(CASES)
        failures_link = evaluator.get_by_role("link", name="下载 failures.jsonl")
        assert evaluator.request.get(server.url + failures_link.get_attribute("href")).status == 200
        evaluator.screenshot(path=str(tmp_path / "report.png"), full_page=True)

        for label in ("第一次", "第二次"):
            evaluator.locator("tr.run", has_text=label).get_by_role("checkbox").check()
        evaluator.get_by_role("button", name="比较所选两次").click()
        expect(evaluator.locator("#comparison-metrics")).to_contain_text("retrieval.hit@1")
        expect(evaluator.locator("#comparison-title")).to_contain_text("基准")
        expect(evaluator.locator("#newly-failing li").first).to_be_visible()
        evaluator.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    finally:
        for c in contexts:
            c.close()
    assert problems == []
