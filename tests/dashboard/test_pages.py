"""The dashboard's sign-in, session and CSRF rules over real HTTP (the browser tests drive the pages)."""

from __future__ import annotations

import re

import httpx
import pytest

from grader.db.models import Role
from grader.settings import Settings
from tests.support.seed import Seeded
from tests.support.services import Server, make_key

pytestmark = pytest.mark.services

PAGES = ["/dashboard/queue", "/dashboard/overview", "/dashboard/batches"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def browser(api: Server) -> httpx.Client:
    return httpx.Client(base_url=api.url, follow_redirects=False, timeout=30)


def sign_in(client: httpx.Client, key: str) -> httpx.Response:
    token = csrf_of(client.get("/dashboard/login").text)
    return client.post("/dashboard/login", data={"api_key": key, "csrf_token": token, "next": "/dashboard/queue"})


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ADMIN])
def test_reviewers_and_admins_sign_in_and_see_every_page(
    api: Server, clean_db: Settings, role: Role, seeded: Seeded
) -> None:
    with browser(api) as client:
        signed_in = sign_in(client, make_key(clean_db, role, f"dash-{role.value}"))
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dashboard/queue"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
        for path in [*PAGES, f"/dashboard/results/{seeded.ids[0]}"]:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[:500])
            assert "text/html" in page.headers["content-type"]
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert f"dash-{role.value}" in page.text


def test_anonymous_visitors_are_sent_to_sign_in(api: Server, seeded: Seeded) -> None:
    with browser(api) as client:
        for path in [*PAGES, f"/dashboard/results/{seeded.ids[0]}"]:
            response = client.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/dashboard/login?next=")
        review = client.post(
            f"/dashboard/results/{seeded.ids[0]}/review",
            data={"final_score": "90", "comment": "x", "csrf_token": "guess"},
        )
        assert review.status_code == 303 and "/dashboard/login" in review.headers["location"]


def test_recruiters_and_bad_keys_are_refused_at_sign_in(api: Server, clean_db: Settings) -> None:
    with browser(api) as client:
        refused = sign_in(client, make_key(clean_db, Role.RECRUITER, "招聘甲"))
        assert refused.status_code == 403
        assert "仅限审核员和管理员" in refused.text
        assert client.get("/dashboard/queue").status_code == 303  # still not signed in
        unknown = sign_in(client, "grd_not-a-real-key")
        assert unknown.status_code == 401 and "无效" in unknown.text


def test_forms_without_the_csrf_token_are_refused(api: Server, clean_db: Settings, seeded: Seeded) -> None:
    target = seeded.by_candidate["c-002"]
    with browser(api) as client:
        key = make_key(clean_db, Role.REVIEWER)
        # The sign-in form itself: no token, or a made-up one.
        assert client.post("/dashboard/login", data={"api_key": key}).status_code == 403
        client.get("/dashboard/login")
        assert client.post("/dashboard/login", data={"api_key": key, "csrf_token": "made-up"}).status_code == 403
        assert sign_in(client, key).status_code == 303
        page = client.get(f"/dashboard/results/{target}")
        token = csrf_of(page.text)
        form = {"final_score": "55", "comment": "理由", "expected_review_count": "0"}
        missing = client.post(f"/dashboard/results/{target}/review", data=form)
        assert missing.status_code == 403 and "CSRF" in missing.text
        wrong = client.post(f"/dashboard/results/{target}/review", data={**form, "csrf_token": token[:-2] + "xx"})
        assert wrong.status_code == 403
        assert client.post("/dashboard/logout", data={}).status_code == 403
        # Nothing was reviewed by the refused forms; with the token it goes through.
        assert "审核记录" in client.get(f"/dashboard/results/{target}").text
        ok = client.post(f"/dashboard/results/{target}/review", data={**form, "csrf_token": token})
        assert ok.status_code == 303 and "saved=1" in ok.headers["location"]


def test_the_session_cookie_cannot_be_forged_and_logout_ends_it(api: Server, clean_db: Settings) -> None:
    with browser(api) as client:
        assert sign_in(client, make_key(clean_db, Role.REVIEWER)).status_code == 303
        cookie = client.cookies.get("grader_dashboard")
        assert cookie
        with browser(api) as forger:
            forger.cookies.set("grader_dashboard", cookie[:-4] + "AAAA", path="/dashboard")
            assert forger.get("/dashboard/queue").status_code == 303
        token = csrf_of(client.get("/dashboard/queue").text)
        out = client.post("/dashboard/logout", data={"csrf_token": token})
        assert out.status_code == 303
        assert client.get("/dashboard/queue").status_code == 303


def test_a_revoked_key_ends_its_sessions(api: Server, clean_db: Settings) -> None:
    admin = make_key(clean_db, Role.ADMIN, "admin")
    with browser(api) as client, api.client(admin) as admin_api:
        reviewer = admin_api.post("/api/v1/keys", json={"name": "temp", "role": "reviewer"}).json()
        assert sign_in(client, reviewer["key"]).status_code == 303
        assert client.get("/dashboard/queue").status_code == 200
        admin_api.delete(f"/api/v1/keys/{reviewer['id']}")
        assert client.get("/dashboard/queue").status_code == 303


def test_review_form_errors_are_shown_in_chinese(api: Server, clean_db: Settings, seeded: Seeded) -> None:
    target = seeded.by_candidate["c-002"]
    with browser(api) as client:
        sign_in(client, make_key(clean_db, Role.REVIEWER))
        token = csrf_of(client.get(f"/dashboard/results/{target}").text)
        bad = client.post(
            f"/dashboard/results/{target}/review",
            data={"final_score": "150", "comment": "", "kp_kp1": "3", "csrf_token": token},
        )
        assert bad.status_code == 422
        assert "最终分应为 0 到 100" in bad.text and "kp1 的得分应为 0 到 1" in bad.text


def test_queue_filters_live_in_the_url(api: Server, clean_db: Settings, seeded: Seeded) -> None:
    with browser(api) as client:
        sign_in(client, make_key(clean_db, Role.REVIEWER))
        page = client.get("/dashboard/queue", params={"view": "all", "question": "q01", "sort": "-score"})
        assert page.status_code == 200
        assert "c-004" in page.text and "c-005" in page.text and "c-001" not in page.text
        # Each question carries a short label of its text beside the id (an imported bank's ids are hashes).
        assert 'class="muted qlabel" title="说一下 chatgpt 的优缺点">说一下 chatgpt 的优缺点</span>' in page.text
        lenient = client.get("/dashboard/queue", params={"view": "all", "score_min": "abc", "batch": "nope"})
        assert lenient.status_code == 200 and "已忽略“abc”" in lenient.text


def test_plotly_is_served_from_the_installed_package(api: Server) -> None:
    from grader.dashboard.pages import plotly_js

    path, version = plotly_js()
    with browser(api) as client:
        asset = client.get(f"/dashboard/vendor/plotly-{version}.min.js")
        assert asset.status_code == 200 and asset.content == path.read_bytes()
        assert "immutable" in asset.headers["cache-control"]
        assert client.get("/dashboard/static/charts.js").status_code == 200


def test_a_result_page_says_how_likely_a_person_marks_it_30_points_away(
    api: Server, clean_db: Settings, seeded: Seeded
) -> None:
    """Why the score is where it is: the label model's risk (what the confidence reads) and the ranking score."""
    with browser(api) as client:
        sign_in(client, make_key(clean_db, Role.REVIEWER))
        page = client.get(f"/dashboard/results/{seeded.ids[0]}").text
    risk = re.search(r'id="big-error-risk">(\d+)%<span class="muted"> · 排序分 ([\d.]+)', page)
    assert risk, page[:3000]
    assert 0 <= int(risk.group(1)) <= 100 and 0 <= float(risk.group(2)) <= 100
