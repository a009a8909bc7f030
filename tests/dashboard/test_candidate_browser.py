"""The candidates pages in headless Chromium against a real `grader serve` on the test Postgres, with
interviews graded by the real grader: the ranking, a candidate's scorecard with its chart, the printable
page and the downloads. Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import csv
import io
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from grader.candidates.interviews import submit_interview
from grader.candidates.schemas import InterviewCreate
from grader.db.models import Role
from grader.db.session import get_engine, get_session_factory, session_scope
from grader.grading.grader import Grader
from grader.grading.run import run_chunk
from grader.keys.principal import CLI
from grader.settings import Settings
from tests.support.processes import Process, grader_env
from tests.support.seed import ANSWERS, NoQueue
from tests.support.services import free_port, make_key

pytestmark = [pytest.mark.services, pytest.mark.slow]

CHROMIUM = os.environ.get("GRADER_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
NASTY = '=HYPERLINK("http://x")'  # a name a spreadsheet would run as a formula


def _interview(settings: Settings, candidate: str, name: str, answers: list[tuple[str, str]]) -> list[uuid.UUID]:
    with session_scope(get_session_factory(settings.database_url)) as session:
        accepted = submit_interview(
            session,
            InterviewCreate.model_validate(
                {
                    "candidate_id": candidate,
                    "candidate_name": name,
                    "answers": [{"question_id": q, "answer": a} for q, a in answers],
                }
            ),
            actor=CLI,
            max_answer_chars=10_000,
            queue=NoQueue(),
        )
        return [s.id for s in accepted.submissions]


@pytest.fixture(scope="module")
def data(pg_settings: Settings, grader: Grader) -> None:
    with get_engine(pg_settings.database_url).begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE grades, submissions, audit_log, api_keys, batches, interviews, result_day_stats, "
            "result_score_counts RESTART IDENTITY CASCADE"
        )
    good = [
        ("q03", ANSWERS[0][2]),
        ("q01", ANSWERS[4][2]),
        ("q06", "温度系数作用在 softmax 上，T 越大输出越随机，越小越确定"),
    ]
    weak = [("q03", ANSWERS[1][2]), ("q01", ANSWERS[3][2]), ("q06", "温度就是模型的温度")]
    ids = _interview(pg_settings, "c-good", "王小明", good)
    ids += _interview(pg_settings, "c-weak", NASTY, weak)
    _interview(pg_settings, "c-waiting", "还在评分", good)  # never graded here: shown as grading
    run_chunk(get_session_factory(pg_settings.database_url), ids, lambda: grader, 0.0)


@pytest.fixture(scope="module")
def server(pg_settings: Settings, data: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    tmp = tmp_path_factory.mktemp("candidates-server")
    env = grader_env(
        database_url=pg_settings.database_url, redis_url=pg_settings.redis_url, celery_queue=pg_settings.celery_queue
    )
    process = Process(["serve", "--port", str(port), "--log-level", "warning"], env, tmp / "server.log", tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"grader serve did not come up:\n{process.output()[-4000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.stop()


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(
            viewport={"width": 1366, "height": 800}, base_url=server, locale="zh-CN", accept_downloads=True
        )
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
        page.problems = problems  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_reviewer_ranks_candidates_opens_a_scorecard_prints_and_downloads_it(
    page: Any, pg_settings: Settings
) -> None:
    from playwright.sync_api import expect

    key = make_key(pg_settings, Role.REVIEWER, "审核员")
    page.goto("/dashboard/login?next=/dashboard/candidates")
    page.get_by_label("API 密钥").fill(key)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name=re.compile("考生排名"))).to_be_visible()
    rows = page.locator("#candidates tbody tr")
    expect(rows).to_have_count(3)
    assert rows.nth(0).get_attribute("data-candidate") == "c-good"
    assert rows.nth(1).get_attribute("data-candidate") == "c-weak"
    waiting = page.locator('tr[data-candidate="c-waiting"]')
    expect(waiting).to_contain_text("评分中")
    expect(waiting.locator("td").nth(3)).to_have_text("—")  # no score, not 0
    shot(page, "20-candidates")

    page.select_option("select[name=status]", "grading")
    page.get_by_role("button", name="筛选").click()
    expect(rows).to_have_count(1)
    assert "status=grading" in page.url
    page.goto("/dashboard/candidates")

    with page.expect_download() as download:
        page.locator("#export-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:3] == ["rank", "candidate_id", "candidate_name"]
    assert table[1][:2] == ["1", "c-good"] and table[2][2] == "'" + NASTY  # escaped: text, not a formula

    page.get_by_role("link", name="c-good").click()
    expect(page.get_by_role("heading", name=re.compile("考生成绩单"))).to_be_visible()
    expect(page.locator("body[data-charts-ready=true]")).to_have_count(1, timeout=30_000)  # a loaded machine
    expect(page.locator("#questions tbody tr")).to_have_count(3)
    expect(page.locator("#rank")).to_have_text("1 / 2")
    assert page.locator("#scores .bars .point").count() == 3  # one bar per question
    shot(page, "21-candidate")
    page.locator("#scores").screenshot(path=str(SCREENSHOTS / "21b-candidate-chart.png"))

    # Each answer one click away.
    page.locator('#questions tr[data-question="q03"] a').click()
    expect(page).to_have_url(re.compile(r"/dashboard/results/"))
    page.go_back()

    with page.expect_download() as download:
        page.locator("#export-xlsx").click()
    sheet = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][0] == "candidate_id" and len(cells) == 5  # header, 3 questions, overall

    page.locator("#print").click()
    expect(page.get_by_role("heading", name="面试成绩单")).to_be_visible()
    expect(page.locator("header.top")).to_have_count(0)
    page.emulate_media(media="print")
    shot(page, "22-candidate-print")
    assert not page.problems, page.problems
