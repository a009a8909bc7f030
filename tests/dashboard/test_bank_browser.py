"""The question-bank pages in headless Chromium against the same `grader serve` subprocess as
test_browser.py (its fixtures): an admin imports a public bank, publishes it, edits a key point (a
weight and an alias), sees the diff, publishes version 2, and has a bad table refused row by row.
Screenshots go to artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.dashboard.test_browser import browser, data, page, server, shot  # noqa: F401  (fixtures)
from tests.questions.test_documents import ROOT, csv_bytes
from tests.support.services import make_key

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_an_admin_imports_edits_and_publishes_a_bank(page: Any, pg_settings: Settings, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    bank = f"ads-{uuid.uuid4().hex[:4]}"
    page.goto("/dashboard/login?next=/dashboard/queue")
    page.get_by_label("API 密钥").fill(make_key(pg_settings, Role.ADMIN, "管理员王五"))
    page.get_by_role("button", name="登录").click()

    # The navigation leads to the banks; the default bank is listed.
    page.get_by_role("link", name="题库", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^题库"))).to_be_visible()
    expect(page.locator('#banks tr[data-bank="llm"]')).to_be_visible()

    # Import the public 15-question bank as a new bank: the report lists every question.
    page.locator("#file").set_input_files(str(ROOT / "eval/external/ads/bank.md"))
    page.fill("#bank", bank)
    page.fill("#title", "数据结构面试题")
    shot(page, "20-banks")
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#import-report")).to_contain_text("导入完成")
    expect(page.locator("#report-questions tbody tr")).to_have_count(15)
    expect(page.locator(f'#banks tr[data-bank="{bank}"]')).to_contain_text("尚未发布")
    shot(page, "21-bank-imported")

    # The bank page: its questions, the drafts' diff against nothing yet, publish version 1.
    page.locator("#import-report").get_by_role("link", name=bank).click()
    expect(page.locator("#questions tbody tr")).to_have_count(15)
    expect(page.locator("#diff")).to_contain_text("新增 15 题")
    page.locator("#publish-form input[name=confirm]").check()
    page.get_by_role("button", name="发布第 1 版").click()
    expect(page.locator("#notice")).to_have_text("已发布为第 1 版。")
    expect(page.locator("#no-changes")).to_be_visible()
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("管理员王五")
    shot(page, "22-bank-v1")

    # Open a question with at least two key points (weights move between two of them).
    rows = page.locator("#questions tbody tr")
    target = next(i for i in range(15) if int(rows.nth(i).locator("td").nth(3).inner_text()) >= 2)
    question_id = rows.nth(target).get_attribute("data-question")
    points = int(rows.nth(target).locator("td").nth(3).inner_text())
    rows.nth(target).get_by_role("link").click()
    expect(page.locator("#draft-state")).to_have_text("与已发布一致")
    weights = [float(page.input_value(f"#k{i}_weight")) for i in range(points)]
    other = max(range(1, points), key=lambda i: weights[i])  # the heaviest other point gives 0.05
    w1, w2 = weights[0], weights[other]
    moved = float(f"{w1 + 0.05:.3f}")
    term = page.input_value("input[name=k0_kw0_term]")
    aliases = [a.strip() for a in page.input_value("input[name=k0_kw0_aliases]").split(",") if a.strip()]

    # One weight changed alone: refused, the problem shown by the weights, nothing saved.
    page.fill("#k0_weight", f"{moved:g}")
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#weights-error")).to_contain_text("权重之和必须为 1.0")
    expect(page.locator("#k0_weight")).to_have_attribute("aria-invalid", "true")
    shot(page, "23-editor-refused")

    # Balanced by the second key point, with an alias added to the first keyword: saved.
    page.fill(f"#k{other}_weight", f"{w2 - 0.05:.3f}")
    page.fill("input[name=k0_kw0_aliases]", ", ".join([*aliases, "别名测试"]))
    page.get_by_role("button", name="保存草稿").click()
    expect(page.locator("#saved")).to_be_visible()
    expect(page.locator("#draft-state")).to_have_text("草稿有改动")
    expect(page.locator("input[name=k0_kw0_aliases]")).to_have_value(", ".join([*aliases, "别名测试"]))
    shot(page, "24-editor-saved")

    # The diff names the question, the two weights and the alias; publish version 2.
    page.get_by_role("link", name="查看待发布的改动并发布").click()
    change = page.locator(f'#diff .diff-question[data-question="{question_id}"]')
    expect(change).to_contain_text("修改")
    expect(change).to_contain_text(f"权重：{w1:g} → {moved:g}")
    expect(change).to_contain_text(f"+ {term}（{'、'.join([*aliases, '别名测试'])}）")
    expect(page.locator("#diff .diff-question")).to_have_count(1)
    shot(page, "25-bank-diff")
    page.locator("#publish-form input[name=confirm]").check()
    page.get_by_role("button", name="发布第 2 版").click()
    expect(page.locator("#notice")).to_have_text("已发布为第 2 版。")
    v2 = page.locator('#versions tr[data-version="2"]')
    expect(v2).to_contain_text("最新")
    expect(v2.locator("code.digest")).to_have_text(re.compile(r"^[0-9a-f]{16}$"))
    assert v2.locator("code.digest").inner_text() != page.locator('#versions tr[data-version="1"] code').inner_text()
    expect(page.locator("#history li")).to_have_count(4)  # imported, published, edited, published
    shot(page, "26-bank-v2")

    # A table with bad rows is refused whole, every bad row named by its number.
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        csv_bytes(
            [
                ["question_id", "question", "reference_answer"],
                [f"{bank}-1", "好的一行？", "好的答案。"],
                [f"{bank}-2", "没有答案的一行？", ""],
                ["Not An Id", "题号不对的一行？", "答案。"],
            ]
        )
    )
    page.get_by_role("link", name="题库", exact=True).click()
    page.locator("#file").set_input_files(str(bad))
    page.fill("#bank", f"{bank}-bad")
    page.get_by_role("button", name="导入", exact=True).click()
    expect(page.locator("#import-errors")).to_contain_text("没有导入任何题目")
    errors = page.locator("#row-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("第 3 行")
    expect(errors.nth(0)).to_contain_text("参考答案")
    expect(errors.nth(1)).to_contain_text("第 4 行")
    expect(errors.nth(1)).to_contain_text("题号")
    expect(page.locator(f'#banks tr[data-bank="{bank}-bad"]')).to_have_count(0)
    shot(page, "27-import-refused")
    # No sideways scrolling at 1280 px on the bank pages.
    page.set_viewport_size({"width": 1280, "height": 800})
    for path in (f"/dashboard/banks/{bank}", f"/dashboard/banks/{bank}/questions/{question_id}", "/dashboard/banks"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 1280px"

    # The two refusals the test asked for (422 pages) are the only complaints in the console.
    assert [p for p in page.problems if "status of 422" not in p] == []
    assert len(page.problems) == 2


def test_a_reviewer_reads_the_default_bank(page: Any, pg_settings: Settings) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.goto("/dashboard/login?next=/dashboard/banks/llm")
    page.get_by_label("API 密钥").fill(make_key(pg_settings, Role.REVIEWER, "审核员赵六"))
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#questions tbody tr")).to_have_count(12)
    # The seed's bank is version 1; migration 0013 published version 2 (q06's direction words) over it.
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions tbody tr").first).to_contain_text("第 2 版")
    expect(page.locator("#versions tbody tr").first).to_contain_text("migration 0013")
    expect(page.locator("#publish-form")).to_have_count(0)
    page.locator('#questions tr[data-question="q06"] a').click()
    expect(page.locator("#k0_text")).to_be_disabled()
    expect(page.locator("#save")).to_have_count(0)
    expect(page.get_by_text("只读：只有管理员可以修改要点。")).to_be_visible()
    shot(page, "28-reviewer-question")
    page.get_by_role("link", name="题库", exact=True).click()
    expect(page.locator("#import-form")).to_have_count(0)
    assert page.problems == []
