"""Hole 4 of issue 13: signing out did not end the session (a copied cookie still worked, and a review
posted with it was saved), and sign-out was not audited.

Now a session is a row the cookie names: signing out or revoking the key ends it server-side. The test
copies the cookie as an attacker would, signs out, and replays it against the real server."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text

from grader.db.models import AuditEntry, DashboardSession, Role
from grader.db.review_models import ResultRow
from grader.db.session import get_engine, get_session_factory, session_scope
from grader.settings import Settings
from tests.support.dashboard import sign_in
from tests.support.seed import Seeded
from tests.support.services import Server, make_key

pytestmark = [pytest.mark.services]


def review(client: httpx.Client, submission: object, csrf: str) -> httpx.Response:
    return client.post(
        f"/dashboard/results/{submission}/review",
        data={"csrf_token": csrf, "final_score": "12", "comment": "posted with a copied cookie"},
    )


def test_a_copied_cookie_is_refused_after_sign_out_and_its_review_is_not_saved(
    open_api: Server, seeded: Seeded, pg_settings: Settings
) -> None:
    reviewer = make_key(pg_settings, Role.REVIEWER, "revocation-reviewer")
    submission = seeded.ids[0]
    with httpx.Client(base_url=open_api.url, timeout=30) as browser:
        csrf = sign_in(browser, reviewer)
        stolen = dict(browser.cookies)
        # The copy works while the session is open (the attack is real) ...
        with httpx.Client(base_url=open_api.url, cookies=stolen, timeout=30) as attacker:
            assert attacker.get("/dashboard/queue").status_code == 200
        assert browser.post("/dashboard/logout", data={"csrf_token": csrf}).status_code == 303
    # ... and not once it is signed out.
    with httpx.Client(base_url=open_api.url, cookies=stolen, timeout=30) as attacker:
        page = attacker.get("/dashboard/queue")
        assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
        posted = review(attacker, submission, csrf)
        assert posted.status_code == 303 and posted.headers["location"].startswith("/dashboard/login")
    with session_scope(get_session_factory(pg_settings.database_url)) as db:
        row = db.get(ResultRow, submission)
        assert row is not None and not row.reviewed
        actions = db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "revocation-reviewer")).all()
        assert "dashboard.signed_in" in actions and "dashboard.signed_out" in actions
        assert "result.reviewed" not in actions and not any("review" in a for a in actions)


def test_revoking_the_key_ends_its_sessions(open_api: Server, clean_db: Settings) -> None:
    admin = make_key(clean_db, Role.ADMIN, "revocation-admin")
    reviewer = make_key(clean_db, Role.REVIEWER, "revoked-reviewer")
    with httpx.Client(base_url=open_api.url, timeout=30) as browser, open_api.client(admin) as api:
        sign_in(browser, reviewer)
        key_id = next(k["id"] for k in api.get("/api/v1/keys").json() if k["name"] == "revoked-reviewer")
        assert api.delete(f"/api/v1/keys/{key_id}").status_code == 200
        page = browser.get("/dashboard/queue")
        assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
    with session_scope(get_session_factory(clean_db.database_url)) as db:
        rows = db.scalars(select(DashboardSession).where(DashboardSession.key_id == key_id)).all()
        assert rows and all(r.revoked_at is not None for r in rows)
        revoked = db.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.revoked")).one()
        assert revoked.details["sessions_ended"] == 1
    with get_engine(clean_db.database_url).connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM dashboard_sessions WHERE revoked_at IS NULL")) == 0
