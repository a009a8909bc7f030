"""The question-bank pages over real HTTP: admins import, edit key points, publish (versions and
calibrations); reviewers read every bank page but every form refuses them; anonymous visitors are sent
to sign in; every form needs the session's CSRF token. The browser test drives the same pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from grader.db.models import Role
from grader.db.session import get_session_factory
from grader.keys.principal import CLI
from grader.questions import banks
from grader.questions.calibrations import add_calibration, list_calibrations
from grader.scoring.calibration import load_calibration
from grader.settings import Settings
from tests.dashboard.test_pages import browser, csrf_of, sign_in
from tests.questions.test_documents import ROOT, csv_bytes
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services


def small_bank() -> tuple[str, list[str], bytes]:
    """A fresh bank name and a three-question CSV with ids of its own (ids are global across banks)."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"t{tag}-{n}" for n in (1, 2, 3)]
    rows = [
        ["question_id", "question", "reference_answer"],
        [
            ids[0],
            "什么是仓库盘点？",
            "盘点是定期核对库存数量与账面记录。盘点内容包括数量盘点、重量盘点和账实核对。"
            "盘点方式分为定期盘点和临时盘点，由仓库保管员负责。",
        ],
        [ids[1], "先进先出是什么意思？", "先进先出指先入库的货物先出库，可以减少货物积压和过期损耗。"],
        [ids[2], "RLHF 有哪几步？", "RLHF 先做有监督微调 SFT，再训练奖励模型，最后用 PPO 优化策略。"],
    ]
    return f"t{tag}", ids, csv_bytes(rows)


def import_file(client: httpx.Client, bank: str, data: bytes, name: str, **flags: str) -> httpx.Response:
    token = csrf_of(client.get("/dashboard/banks").text)
    return client.post(
        "/dashboard/banks/import",
        data={"bank": bank, "csrf_token": token, **flags},
        files={"file": (name, data, "application/octet-stream")},
    )


def editor_fields(html: str) -> dict[str, str]:
    """The editor form's fields as the page renders them (what a browser would post back)."""
    inputs = [i for i in re.findall(r"<input[^>]*>", html) if 'type="checkbox"' not in i]
    fields = dict(m for i in inputs for m in re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', i))
    fields.update(
        {
            name: body.strip("\n")
            for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S)
        }
    )
    return {k: v.replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'") for k, v in fields.items()}


@pytest.fixture
def admin(api: Server, clean_db: Settings) -> Iterator[httpx.Client]:
    with browser(api) as client:
        assert sign_in(client, make_key(clean_db, Role.ADMIN, "管理员甲")).status_code == 303
        yield client


def test_an_admin_imports_edits_and_publishes_a_bank(api: Server, admin: httpx.Client, clean_db: Settings) -> None:
    bank, ids, data = small_bank()
    listed = admin.get("/dashboard/banks")
    assert listed.status_code == 200 and 'id="import-form"' in listed.text
    assert 'data-bank="llm"' in listed.text  # the default bank
    assert 'href="/dashboard/banks" aria-current="page"' in listed.text  # the navigation link

    # A dry run reports and writes nothing.
    dry = import_file(admin, bank, data, "bank.csv", dry_run="yes")
    assert dry.status_code == 200 and "试导入结果" in dry.text and ids[2] in dry.text
    assert f'data-bank="{bank}"' not in dry.text
    assert admin.get(f"/dashboard/banks/{bank}").status_code == 404

    done = import_file(admin, bank, data, "bank.csv")
    assert done.status_code == 200, done.text[:2000]
    assert "导入完成" in done.text and "新增 3" in done.text and f'data-bank="{bank}"' in done.text

    page = admin.get(f"/dashboard/banks/{bank}")
    assert page.status_code == 200
    assert all(f'data-question="{q}"' in page.text for q in ids)
    assert "尚未发布" in page.text and 'id="publish-form"' in page.text and "发布第 1 版" in page.text
    assert "新增 3 题" in page.text

    # Publishing needs the confirmation box, and refuses drafts changed since the page was shown.
    token = csrf_of(page.text)
    drafts = re.search(r'name="drafts" value="([^"]+)"', page.text)
    assert drafts
    unconfirmed = admin.post(f"/dashboard/banks/{bank}/publish", data={"csrf_token": token, "drafts": drafts[1]})
    assert unconfirmed.status_code == 422 and "请先勾选确认框" in unconfirmed.text
    stale = admin.post(
        f"/dashboard/banks/{bank}/publish", data={"csrf_token": token, "drafts": "0" * 16, "confirm": "yes"}
    )
    assert stale.status_code == 409 and "草稿又被修改过" in stale.text
    published = admin.post(
        f"/dashboard/banks/{bank}/publish", data={"csrf_token": token, "drafts": drafts[1], "confirm": "yes"}
    )
    assert published.status_code == 303 and published.headers["location"].endswith("?published=1")
    page = admin.get(published.headers["location"])
    assert "已发布为第 1 版" in page.text and 'id="no-changes"' in page.text
    v1 = banks.list_versions(get_session_factory(clean_db.database_url)(), bank)[0]
    assert v1.digest in page.text and "管理员甲" in page.text

    # The editor: a weight changed alone breaks the sum, shown next to the weights; nothing saved.
    editor = admin.get(f"/dashboard/banks/{bank}/questions/{ids[0]}")
    assert editor.status_code == 200 and "与已发布一致" in editor.text
    fields = editor_fields(editor.text)
    assert fields["k0_id"] == "kp1" and fields["k0_kw0_term"]
    old_weight = float(fields["k0_weight"])
    bad = admin.post(editor.url.path, data={**fields, "k0_weight": f"{old_weight / 2:.3f}"})
    assert bad.status_code == 422 and "各要点的权重之和必须为 1.0" in bad.text
    assert f'value="{old_weight / 2:.3f}"' in bad.text  # what was typed stays in the form
    empty = admin.post(editor.url.path, data={**fields, "k0_weight": "abc", "k0_text": ""})
    assert empty.status_code == 422 and "请填写 0 到 1 之间的数字" in empty.text

    # A valid edit: an alias added, a misconception written. Saved through edit_draft.
    edit = {**fields, "k0_kw0_aliases": "stocktaking", "k0_misconceptions": "盘点只核对数量"}
    saved = admin.post(editor.url.path, data=edit)
    assert saved.status_code == 303, saved.text[:3000]
    after = admin.get(saved.headers["location"])
    assert 'id="saved"' in after.text and "草稿有改动" in after.text and "stocktaking" in after.text
    draft = banks.get_draft(get_session_factory(clean_db.database_url)(), bank, ids[0])
    assert draft.key_points[0].curated and "stocktaking" in draft.key_points[0].keywords[0].aliases

    # The bank page shows the change readably and publishes version 2; the audit trail lists it all.
    page = admin.get(f"/dashboard/banks/{bank}")
    assert "修改 1 题" in page.text and "+ 盘点只核对数量" in page.text and "stocktaking" in page.text
    drafts = re.search(r'name="drafts" value="([^"]+)"', page.text)
    assert drafts
    second = admin.post(
        f"/dashboard/banks/{bank}/publish",
        data={"csrf_token": csrf_of(page.text), "drafts": drafts[1], "confirm": "yes"},
    )
    assert second.status_code == 303 and second.headers["location"].endswith("?published=2")
    page = admin.get(second.headers["location"])
    assert 'data-version="2"' in page.text and 'data-version="1"' in page.text
    history = page.text[page.text.index('id="history"') :]
    assert [a in history for a in ("导入", "修改草稿", "发布")] == [True, True, True]


def test_a_refused_file_shows_every_bad_row_and_imports_nothing(admin: httpx.Client) -> None:
    bank, ids, _ = small_bank()
    rows = [
        ["question_id", "question", "reference_answer"],
        [ids[0], "第一题？", "答案一。"],
        [ids[1], "第二题？", ""],
        ["Bad Id!", "第三题？", "答案三。"],
    ]
    refused = import_file(admin, bank, csv_bytes(rows), "bad.csv", publish="yes")
    assert refused.status_code == 422
    assert "没有导入任何题目" in refused.text
    table = refused.text[refused.text.index('id="row-errors"') :]
    assert "第 3 行" in table and "第 4 行" in table and "参考答案" in table and "题号" in table
    assert "第 2 行" not in table
    assert f'value="{bank}"' in refused.text  # the form keeps what was typed
    assert f'data-bank="{bank}"' not in refused.text
    assert admin.get(f"/dashboard/banks/{bank}").status_code == 404
    # Not a usable bank name; no file.
    assert import_file(admin, "Not A Name", csv_bytes(rows[:2]), "a.csv").status_code == 422
    token = csrf_of(admin.get("/dashboard/banks").text)
    missing = admin.post("/dashboard/banks/import", data={"bank": bank, "csrf_token": token})
    assert missing.status_code == 422 and "请选择要导入的文件" in missing.text


def test_the_markdown_bank_imports_and_publishes_at_once(admin: httpx.Client) -> None:
    bank = f"a{uuid.uuid4().hex[:6]}"
    done = import_file(admin, bank, (ROOT / "eval/external/ads/bank.md").read_bytes(), "bank.md", publish="yes")
    assert done.status_code == 200, done.text[:2000]
    assert "新增 15" in done.text and "已发布为第 1 版" in done.text


def test_an_admin_publishes_a_calibration_version(admin: httpx.Client, clean_db: Settings) -> None:
    bank, _, data = small_bank()
    assert import_file(admin, bank, data, "bank.csv").status_code == 200
    with get_session_factory(clean_db.database_url)() as session:
        calibration = load_calibration(ROOT / "reference_answers/calibration.json")
        add_calibration(session, bank, calibration, source="labelled.jsonl", actor=CLI)
        session.commit()
    page = admin.get(f"/dashboard/banks/{bank}")
    assert 'data-calibration="1"' in page.text and "系统自带的校准参数" in page.text
    token = csrf_of(page.text)
    url = f"/dashboard/banks/{bank}/calibrations/1/publish"
    assert admin.post(url, data={"csrf_token": token}).status_code == 422  # not confirmed
    done = admin.post(url, data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303
    assert "校准第 1 版已发布" in admin.get(done.headers["location"]).text
    assert admin.post(url, data={"csrf_token": token, "confirm": "yes"}).status_code == 409  # already
    assert (
        admin.post(
            f"/dashboard/banks/{bank}/calibrations/9/publish", data={"csrf_token": token, "confirm": "yes"}
        ).status_code
        == 404
    )
    with get_session_factory(clean_db.database_url)() as session:
        assert list_calibrations(session, bank)[0].published_at is not None


def test_reviewers_read_banks_but_every_form_refuses_them(api: Server, clean_db: Settings) -> None:
    bank, ids, data = small_bank()
    with get_session_factory(clean_db.database_url)() as session:
        banks.import_bank(session, bank, data, "bank.csv", actor=CLI)
        session.commit()
    with browser(api) as client:
        assert sign_in(client, make_key(clean_db, Role.REVIEWER, "审核员乙")).status_code == 303
        listed = client.get("/dashboard/banks")
        assert listed.status_code == 200 and f'data-bank="{bank}"' in listed.text
        assert 'id="import-form"' not in listed.text
        page = client.get(f"/dashboard/banks/{bank}")
        assert page.status_code == 200 and 'id="publish-form"' not in page.text and ids[0] in page.text
        editor = client.get(f"/dashboard/banks/{bank}/questions/{ids[0]}")
        assert editor.status_code == 200 and '<fieldset class="plain" disabled>' in editor.text
        assert 'id="save"' not in editor.text
        token = csrf_of(page.text)
        fields = editor_fields(editor.text)
        refused = [
            import_file(client, bank, data, "bank.csv"),
            client.post(f"/dashboard/banks/{bank}/publish", data={"csrf_token": token, "confirm": "yes"}),
            client.post(
                f"/dashboard/banks/{bank}/calibrations/1/publish", data={"csrf_token": token, "confirm": "yes"}
            ),
            client.post(f"/dashboard/banks/{bank}/questions/{ids[0]}", data={**fields, "k0_text": "审核员改的"}),
        ]
        assert [r.status_code for r in refused] == [403] * 4
        assert all("只有管理员" in r.text for r in refused)
    with get_session_factory(clean_db.database_url)() as session:
        assert banks.list_versions(session, bank) == []
        assert banks.get_draft(session, bank, ids[0]).key_points[0].text != "审核员改的"


def test_anonymous_visitors_and_forms_without_the_token_are_refused(
    api: Server, admin: httpx.Client, clean_db: Settings
) -> None:
    bank, ids, data = small_bank()
    with get_session_factory(clean_db.database_url)() as session:
        banks.import_bank(session, bank, data, "bank.csv", actor=CLI)
        session.commit()
    gets = ["/dashboard/banks", f"/dashboard/banks/{bank}", f"/dashboard/banks/{bank}/questions/{ids[0]}"]
    posts = [
        "/dashboard/banks/import",
        f"/dashboard/banks/{bank}/publish",
        f"/dashboard/banks/{bank}/calibrations/1/publish",
        f"/dashboard/banks/{bank}/questions/{ids[0]}",
    ]
    with browser(api) as anonymous:
        for path in gets:
            response = anonymous.get(path)
            assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/login?next=")
        for path in posts:
            response = anonymous.post(path, data={"confirm": "yes", "csrf_token": "guess", "bank": bank})
            assert response.status_code == 303 and "/dashboard/login" in response.headers["location"]
    fields = editor_fields(admin.get(gets[2]).text)
    for path in posts:
        no_token = {**fields, "csrf_token": "", "confirm": "yes", "bank": bank, "drafts": "x"}
        assert admin.post(path, data=no_token).status_code == 403, path
        forged = admin.post(path, data={**no_token, "csrf_token": "made-up"})
        assert forged.status_code == 403 and "CSRF" in forged.text
    assert admin.get("/dashboard/banks/no-such-bank").status_code == 404
    assert admin.get(f"/dashboard/banks/{bank}/questions/nope").status_code == 404
    with get_session_factory(clean_db.database_url)() as session:
        assert banks.list_versions(session, bank) == []


def test_the_editor_adds_and_removes_key_points_and_marks_bad_fields(admin: httpx.Client, clean_db: Settings) -> None:
    bank, ids, data = small_bank()
    assert import_file(admin, bank, data, "bank.csv", publish="yes").status_code == 200
    path = f"/dashboard/banks/{bank}/questions/{ids[0]}"
    page = admin.get(path)
    fields = editor_fields(page.text)
    points = sorted({k.split("_")[0] for k in fields if re.fullmatch(r"k\d+_id", k) and fields[k]})
    assert len(points) >= 2, fields
    new = f"k{len(points)}"  # the blank key point after the existing ones
    assert fields[f"{new}_id"] == ""

    # Field by field: a weight over 1, a key point without keywords, text left empty.
    no_keywords = {k: "" for k in fields if k.startswith("k1_kw")}
    bad = admin.post(path, data={**fields, "k0_weight": "1.5", **no_keywords})
    assert bad.status_code == 422
    assert "权重应大于 0、不超过 1" in bad.text and "至少需要一个关键词" in bad.text
    assert bad.text.count('aria-invalid="true"') >= 2
    text = admin.post(path, data={**fields, "k1_text": ""})
    assert text.status_code == 422 and "要点内容不能为空" in text.text
    # Saved by someone else since the page was opened: refused, what was typed kept.
    stale = admin.post(path, data={**fields, "draft": "0" * 16, "k0_text": "我改的内容"})
    assert stale.status_code == 409 and "被修改过" in stale.text and "我改的内容" in stale.text
    orphan = admin.post(path, data={**fields, "k0_kw0_term": "", "k0_kw0_aliases": "孤立别名"})
    assert orphan.status_code == 422 and "填写了别名的行也要填写关键词本身" in orphan.text

    # Remove the second key point and add a new one carrying its weight: saved with a fresh id.
    moved = fields["k1_weight"]
    edit = {
        **fields,
        "k1_remove": "yes",
        f"{new}_text": "盘点结果要与账面记录核对",
        f"{new}_weight": moved,
        f"{new}_kw0_term": "账实核对",
        f"{new}_kw0_aliases": "reconciliation，对账",
        f"{new}_statements": "盘点后核对账实是否相符\n",
    }
    saved = admin.post(path, data=edit)
    assert saved.status_code == 303, saved.text[-3000:]
    draft = banks.get_draft(get_session_factory(clean_db.database_url)(), bank, ids[0])
    assert [kp.id for kp in draft.key_points] == [
        *[fields[f"{p}_id"] for p in points if p != "k1"],
        f"kp{len(points) + 1}",
    ]
    added = draft.key_points[-1]
    assert added.curated and added.keywords[0].aliases == ["reconciliation", "对账"]
    assert added.statements == ["盘点后核对账实是否相符"]
    diff = admin.get(f"/dashboard/banks/{bank}").text
    assert "删除要点" in diff and "新增要点" in diff
