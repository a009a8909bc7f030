"""The dashboard in headless Chromium (Playwright driving the system's /usr/bin/chromium) against a real
`grader serve` subprocess on the test Postgres, with results graded by the real grader.

One reviewer's session, step by step: sign in, filter the queue, open a result, see the highlighted
evidence, override with a comment, see the audit entry, see the charts, open the batch and download its
results, sign out. A screenshot of every page goes to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from grader.db.models import Role
from grader.db.session import get_engine
from grader.grading.grader import Grader
from grader.settings import Settings
from tests.support.processes import Process, grader_env
from tests.support.seed import Seeded, seed_batch, seed_graded
from tests.support.services import free_port, make_key

pytestmark = [pytest.mark.services, pytest.mark.slow]

CHROMIUM = os.environ.get("GRADER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAPTOP = {"width": 1366, "height": 800}


@pytest.fixture(scope="module")
def data(pg_settings: Settings, grader: Grader) -> tuple[Seeded, Any]:
    with get_engine(pg_settings.database_url).begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE grades, submissions, audit_log, api_keys, batches, result_day_stats, result_score_counts "
            "RESTART IDENTITY CASCADE"
        )
    return seed_graded(pg_settings, grader), seed_batch(pg_settings, grader)


@pytest.fixture(scope="module")
def server(pg_settings: Settings, data: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    tmp = tmp_path_factory.mktemp("dashboard-server")
    env = grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=pg_settings.celery_queue,
        secret_key=os.environ["GRADER_SECRET_KEY"],
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need the system Chromium "
            "(`apt-get install -y chromium`, as .ci/run does)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport=LAPTOP, base_url=server, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    # Nothing may be fetched from outside this server (the charts library included).
    page.on(
        "request",
        lambda r: (
            problems.append(f"external request {r.url}")
            if not r.url.startswith(server) and not r.url.startswith("data:")
            else None
        ),
    )
    # Expected refusals (a 4xx page the test asks for) are checked by the test, not here.
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    page.problems = problems
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_reviewer_works_through_the_dashboard(
    page: Any, data: tuple[Seeded, Any], pg_settings: Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    seeded, batch_id = data
    key = make_key(pg_settings, Role.REVIEWER, "审核员李四")

    # Sign in: an anonymous visit to the queue lands on the sign-in page, then comes back.
    page.goto("/dashboard/queue?view=all")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    expect(page.get_by_role("heading", name="审核员登录")).to_be_visible()
    shot(page, "01-login")
    page.get_by_label("API 密钥").fill(key)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="评分结果")).to_be_visible()
    assert "/dashboard/queue?view=all" in page.url
    expect(page.locator("#results tbody tr")).to_have_count(12)  # 6 single answers + 6 from the batch
    shot(page, "02-queue-all")

    # The review queue proper: needs_review only, least confident first.
    page.goto("/dashboard/queue")
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    confidences = [float(t) for t in page.locator("#results tbody td .meter + .num").all_inner_texts()]
    assert confidences == sorted(confidences) and confidences
    shot(page, "03-queue")

    # Filter: all results of q03, best first; the filters end up in the URL.
    page.select_option("select[name=view]", "all")
    page.select_option("select[name=question]", "q03")
    page.select_option("select[name=sort]", "-score")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"question=q03.*sort=-score"))
    question_cells = page.locator("#results tbody tr td:nth-child(2)").all_inner_texts()
    # Each cell: the id, then a short label of the question's text.
    assert question_cells and {c.split()[0] for c in question_cells} == {"q03"}
    assert all("为什么基于 Transformer" in c for c in question_cells)
    shot(page, "04-queue-filtered")
    shared = page.url
    page.goto(shared)  # a shared link shows the same view
    expect(page.locator("select[name=question]")).to_have_value("q03")

    # Open the well-covered answer: its evidence is highlighted as covered.
    page.get_by_role("link", name="c-001", exact=True).click()
    expect(page.locator("#answer mark.ev-covered").first).to_be_visible()
    marked = page.locator("#answer mark.ev").all_inner_texts()
    answer = page.locator("#answer").inner_text()
    assert marked and all(text in answer for text in marked)
    shot(page, "05-result")

    # The contradicting answer shows contradicted evidence, and missed key points are marked.
    page.goto(f"/dashboard/results/{seeded.by_candidate['c-003']}")
    expect(page.locator("#key-points tr.kp-contradicted, #key-points tr.kp-missed").first).to_be_visible()
    shot(page, "06-result-contradicted")

    # Override with a comment: saved, the final score changes, the audit entry appears.
    page.goto(f"/dashboard/results/{seeded.by_candidate['c-002']}")
    page.fill("#final_score", "35")
    page.locator("details summary").click()
    page.fill("input[name=kp_kp1]", "0.5")
    page.fill("#comment", "只说了“多算几次”，没讲子空间；酌情给部分分")
    page.get_by_role("button", name="保存审核").click()
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#final-score")).to_have_text("35.0")
    entry = page.locator("#history li.action-result-reviewed").first
    expect(entry).to_contain_text("审核员李四")
    expect(entry).to_contain_text("只说了“多算几次”，没讲子空间；酌情给部分分")
    expect(entry).to_contain_text("→ 35.0")
    expect(entry).to_contain_text("kp1=0.50")
    # The feedback now tells the final score beside the grader's, and every time carries its zone.
    expect(page.locator("p.feedback")).to_contain_text(re.compile(r"^复核后得分 35/100（评分器 \d+/100）。"))
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \(UTC\+8\)", entry.inner_text())
    shot(page, "07-result-reviewed")

    # Overview: the charts render (plotly draws SVG), including the reviewed point in the scatter.
    page.goto("/dashboard/overview")
    expect(page.locator("body[data-charts-ready=true]")).to_have_count(1)
    expect(page.locator("#histograms .histogram")).to_have_count(2)
    expect(page.locator("#histograms .main-svg").first).to_be_visible()
    expect(page.locator("#agreement .scatterlayer .point")).not_to_have_count(0)
    expect(page.locator("#deltas .bars .point")).not_to_have_count(0)
    # Counts are whole numbers: no 0.5 ticks on a histogram's axis.
    counts = page.locator("#histograms .ytick text").all_text_contents()
    assert counts and all(re.fullmatch(r"\d+", c) for c in counts), counts
    shot(page, "08-overview")
    page.locator("#histograms").screenshot(path=str(SCREENSHOTS / "08b-histograms.png"))

    # Batch view: progress, per-candidate summary, and the download.
    page.goto("/dashboard/batches")
    page.get_by_role("link", name="春招第一批.csv").click()
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#candidates tbody tr")).to_have_count(3)
    expect(page.get_by_text("已完成").first).to_be_visible()
    shot(page, "09-batch")
    with page.expect_download() as download:
        page.locator("#download-xlsx").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".xlsx" and saved.stat().st_size > 1000
    assert str(batch_id) in saved.name

    # Sign out: the queue is closed again.
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="审核员登录")).to_be_visible()
    page.goto("/dashboard/queue")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    assert page.problems == []


def test_pages_fit_a_laptop_screen(page: Any, pg_settings: Settings, data: tuple[Seeded, Any]) -> None:
    """No sideways scrolling at 1280 px on the widest pages."""
    seeded, _ = data
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/dashboard/login")
    page.get_by_label("API 密钥").fill(make_key(pg_settings, Role.ADMIN, "管理员"))
    page.get_by_role("button", name="登录").click()
    for path in (
        "/dashboard/queue?view=all",
        f"/dashboard/results/{seeded.by_candidate['c-005']}",
        "/dashboard/overview",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 1280px"


def test_dates_are_typed_yyyy_mm_dd_whatever_the_browser_locale(
    browser: Any, server: str, pg_settings: Settings, data: tuple[Seeded, Any]
) -> None:
    """A US-English browser still shows and takes YYYY-MM-DD, and times say their zone."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=LAPTOP, base_url=server, locale="en-US", timezone_id="America/New_York")
    page = context.new_page()
    try:
        page.goto("/dashboard/login")
        page.get_by_label("API 密钥").fill(make_key(pg_settings, Role.REVIEWER, "审核员赵六"))
        page.get_by_role("button", name="登录").click()
        page.goto("/dashboard/queue?view=all")
        start = page.locator("input[name=graded_from]")
        expect(start).to_have_attribute("type", "text")
        expect(start).to_have_attribute("placeholder", "YYYY-MM-DD")

        today = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).date().isoformat()
        start.fill(today)
        page.locator("input[name=graded_to]").fill(today)
        page.get_by_role("button", name="筛选").click()
        expect(page).to_have_url(re.compile(f"graded_from={today}&graded_to={today}"))
        expect(page.locator("input[name=graded_from]")).to_have_value(today)
        expect(page.locator("#results tbody tr")).to_have_count(12)  # everything was graded today
        times = page.locator("#results tbody td.nowrap").all_inner_texts()
        assert times and all(re.fullmatch(rf"{today} \d{{2}}:\d{{2}} \(UTC\+8\)", t) for t in times), times
        shot(page, "10-queue-dates")

        # The browser refuses a US-style date (pattern); typed into the URL, the server says what it wants.
        page.locator("input[name=graded_from]").fill("11/29/2026")
        page.get_by_role("button", name="筛选").click()
        assert page.evaluate("document.querySelector('input[name=graded_from]').validity.patternMismatch")
        page.goto("/dashboard/queue?view=all&graded_from=11/29/2026")
        expect(page.locator("p.alert")).to_have_text(
            "开始日期应为 YYYY-MM-DD 格式的日期（如 2026-11-29），已忽略“11/29/2026”"
        )
        shot(page, "11-queue-bad-date")
    finally:
        context.close()
