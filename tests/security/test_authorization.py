"""Authorization matrix: every endpoint of the live OpenAPI schema × every caller (no key, unknown key,
revoked key, the recruiter who owns the object, another recruiter, reviewer, admin) × own / other's object.

An endpoint that appears in the schema without a row in POLICY fails the test: a new endpoint has to
say who may call it before it ships.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from grader.db.models import Role
from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import build_grader
from grader.grading.run import run_grading
from grader.keys.principal import Principal
from grader.questions.banks import edit_draft
from grader.questions.calibrations import add_calibration
from grader.questions.drafts import DraftEdit
from grader.scoring.calibration import load_calibration
from grader.settings import Settings
from tests.support.services import Keys, Server, make_key
from tests.support.sheets import csv_bytes

pytestmark = [pytest.mark.services]

EVERYONE = frozenset({"recruiter", "reviewer", "admin"})
SUBMITTERS = frozenset({"recruiter", "admin"})
REVIEWERS = frozenset({"reviewer", "admin"})
ADMINS = frozenset({"admin"})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    owned: bool = False  # a recruiter sees only their own: another recruiter's object is a 404


POLICY: dict[tuple[str, str], Rule] = {
    ("POST", "/api/v1/submissions"): Rule(SUBMITTERS),
    ("GET", "/api/v1/submissions"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/submissions/{submission_id}"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/questions"): Rule(EVERYONE),
    ("GET", "/api/v1/questions/{question_id}"): Rule(EVERYONE),
    ("GET", "/api/v1/keys"): Rule(ADMINS),
    ("POST", "/api/v1/keys"): Rule(ADMINS),
    ("DELETE", "/api/v1/keys/{key_id}"): Rule(ADMINS),
    ("POST", "/api/v1/batches"): Rule(SUBMITTERS),
    ("GET", "/api/v1/batches/{batch_id}"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/batches/{batch_id}/results"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/results"): Rule(REVIEWERS),
    ("GET", "/api/v1/results/queue"): Rule(REVIEWERS),
    ("GET", "/api/v1/results/{submission_id}"): Rule(REVIEWERS),
    ("POST", "/api/v1/results/{submission_id}/review"): Rule(REVIEWERS),
    ("GET", "/api/v1/results/{submission_id}/history"): Rule(REVIEWERS),
    ("GET", "/api/v1/stats"): Rule(REVIEWERS),
    ("GET", "/api/v1/banks"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}/questions"): Rule(ADMINS),
    ("POST", "/api/v1/banks/{bank}/import"): Rule(ADMINS),
    ("POST", "/api/v1/banks/{bank}/publish"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}/questions/{question_id}/draft"): Rule(ADMINS),
    ("PUT", "/api/v1/banks/{bank}/questions/{question_id}/draft"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}/diff"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}/export"): Rule(ADMINS),
    ("GET", "/api/v1/banks/{bank}/calibrations"): Rule(ADMINS),
    ("POST", "/api/v1/banks/{bank}/calibrations/{version}/publish"): Rule(ADMINS),
    ("POST", "/api/v1/banks/{bank}/regrade"): Rule(ADMINS),
    ("POST", "/api/v1/interviews"): Rule(SUBMITTERS),
    ("GET", "/api/v1/interviews/{interview_id}"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/candidates"): Rule(EVERYONE, owned=True),
    ("GET", "/api/v1/candidates/{candidate_id}"): Rule(EVERYONE, owned=True),
    ("POST", "/api/v1/webhooks"): Rule(ADMINS),
    ("GET", "/api/v1/webhooks"): Rule(ADMINS),
    ("GET", "/api/v1/webhooks/{endpoint_id}"): Rule(ADMINS),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"): Rule(ADMINS),
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): Rule(ADMINS),
    ("GET", "/api/v1/webhooks/deliveries/{delivery_id}"): Rule(ADMINS),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/replay"): Rule(ADMINS),
}
# A small bank of the matrix's own (question ids az-01, az-02), imported and published in `world`.
AUTHZ_BANK = "authz"
AUTHZ_FILE = "\n".join(
    json.dumps({"question_id": qid, "question": question, "reference_answer": answer}, ensure_ascii=False)
    for qid, question, answer in [
        ("az-01", "什么是位置编码？", "自注意力与顺序无关，位置编码把每个词的位置信息加到输入上，模型才能区分词序。"),
        ("az-02", "温度系数有什么作用？", "温度系数作用在 softmax 上，温度越高输出越随机，温度越低越确定。"),
    ]
).encode()
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


@dataclass
class World:
    keys: Keys
    revoked: str
    submission_id: str
    batch_id: str
    interview_id: str
    endpoint_id: str
    delivery_id: str


PUBLIC_RECEIVER = "https://93.184.215.14/hooks"  # a public address: registration needs no setting


def _endpoint(client: httpx.Client, admin_key: str) -> str:
    created = client.post(
        "/api/v1/webhooks",
        headers={"X-API-Key": admin_key},
        json={"url": PUBLIC_RECEIVER, "events": ["batch.completed"]},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def world(open_api: Server, keys: Keys, pg_settings: Settings) -> World:
    revoked = make_key(pg_settings, Role.RECRUITER, "sec-revoked")
    with httpx.Client(base_url=open_api.url, timeout=30) as client:
        admin = {"X-API-Key": keys.admin}
        listed = client.get("/api/v1/keys", headers=admin).json()
        revoked_id = next(k["id"] for k in listed if k["name"] == "sec-revoked")
        assert client.delete(f"/api/v1/keys/{revoked_id}", headers=admin).status_code == 200
        own = {"X-API-Key": keys.recruiter}
        submission = client.post(
            "/api/v1/submissions",
            headers=own,
            json={"candidate_id": "authz-1", "question_id": "q10", "answer": "自注意力与顺序无关，需要位置编码。"},
        ).json()
        sheet = csv_bytes([("candidate_id", "question_id", "answer"), ("authz-2", "q01", "RLHF 基于人类反馈")])
        batch = client.post("/api/v1/batches", headers=own, files={"file": (f"{uuid.uuid4()}.csv", sheet)}).json()
        imported = client.post(
            f"/api/v1/banks/{AUTHZ_BANK}/import",
            headers=admin,
            params={"publish": True},
            files={"file": ("authz.jsonl", AUTHZ_FILE)},
        )
        assert imported.status_code in (201, 409), imported.text  # 409: published by an earlier module
        interview = client.post(
            "/api/v1/interviews",
            headers=own,
            json={"candidate_id": "authz-3", "answers": [{"question_id": "q02", "answer": "编码器解码器"}]},
        ).json()
        endpoint_id = _endpoint(client, keys.admin)
    from grader.webhooks.outbox import emit

    with session_scope(get_session_factory(pg_settings.database_url)) as session:
        emit(session, "batch.completed", [{"batch_id": "authz"}], endpoints=[int(endpoint_id)])
        from sqlalchemy import func, select

        from grader.db.webhook_models import WebhookDelivery

        delivery_id = str(session.scalar(select(func.max(WebhookDelivery.id))))
    # Graded in-process (no worker in these tests), so the reviewers' endpoints have a result to show.
    grader = build_grader(Settings(embedder="hash"))
    run_grading(get_session_factory(pg_settings.database_url), uuid.UUID(submission["id"]), lambda: grader, 0.5)
    return World(keys, revoked, submission["id"], batch["id"], interview["id"], endpoint_id, delivery_id)


def _request(method: str, path: str, world: World, pg_settings: Settings) -> dict[str, Any]:
    params = {
        "submission_id": world.submission_id,
        "batch_id": world.batch_id,
        "question_id": "az-01" if "/banks/" in path else "q01",
        "bank": AUTHZ_BANK,
        "interview_id": world.interview_id,
        "candidate_id": "authz-3",
        "endpoint_id": world.endpoint_id,
        "delivery_id": world.delivery_id,
    }
    if (method, path) == ("DELETE", "/api/v1/webhooks/{endpoint_id}"):  # a fresh one each time
        from grader.webhooks.endpoints import register
        from grader.webhooks.schemas import EndpointCreate

        with session_scope(get_session_factory(pg_settings.database_url)) as session:
            created = register(
                session,
                EndpointCreate(url=PUBLIC_RECEIVER, events=["batch.completed"]),
                Principal(None, "authz-matrix", Role.ADMIN),
                allow_private=False,
            )
            params["endpoint_id"] = str(created.id)
    actor = Principal(None, "authz-matrix", Role.ADMIN)
    if path.endswith("/publish") and "/calibrations/" not in path:  # something to publish for each caller
        with session_scope(get_session_factory(pg_settings.database_url)) as session:
            edit = DraftEdit(question=f"什么是位置编码？({uuid.uuid4().hex[:6]})")
            edit_draft(session, AUTHZ_BANK, "az-01", edit, actor=actor)
    if "{version}" in path:  # a fresh unpublished calibration version for each caller
        with session_scope(get_session_factory(pg_settings.database_url)) as session:
            calibration = load_calibration(pg_settings.calibration_file)
            params["version"] = str(
                add_calibration(session, AUTHZ_BANK, calibration, source="matrix", actor=actor).version
            )
    if "{key_id}" in path:  # a fresh key each time: revoking it must not disturb the callers
        key = make_key(pg_settings, Role.RECRUITER, f"sec-victim-{uuid.uuid4().hex[:6]}")
        from grader.db.models import ApiKey
        from grader.keys.api_keys import hash_key

        with get_session_factory(pg_settings.database_url)() as session:
            params["key_id"] = str(session.query(ApiKey.id).filter(ApiKey.key_hash == hash_key(key)).scalar())
    url = path.format(**params)
    body: dict[str, Any] = {}
    if (method, path) == ("POST", "/api/v1/submissions"):
        body["json"] = {"candidate_id": f"authz-{uuid.uuid4().hex[:6]}", "question_id": "q01", "answer": "RLHF"}
    elif (method, path) == ("POST", "/api/v1/interviews"):
        body["json"] = {
            "candidate_id": f"authz-{uuid.uuid4().hex[:6]}",
            "answers": [{"question_id": "q01", "answer": "RLHF"}],
        }
    elif (method, path) == ("POST", "/api/v1/webhooks"):
        body["json"] = {"url": PUBLIC_RECEIVER, "events": ["interview.completed"]}
    elif (method, path) == ("POST", "/api/v1/keys"):
        body["json"] = {"name": f"sec-new-{uuid.uuid4().hex[:6]}", "role": "recruiter"}
    elif (method, path) == ("POST", "/api/v1/batches"):
        sheet = csv_bytes([("candidate_id", "question_id", "answer"), (uuid.uuid4().hex[:8], "q01", "RLHF")])
        body["files"] = {"file": ("a.csv", sheet)}
    elif path.endswith("/import"):
        body["files"] = {"file": ("authz.jsonl", AUTHZ_FILE)}
        body["params"] = {"dry_run": True}
    elif method == "PUT" and path.endswith("/draft"):
        body["json"] = {}
    elif path.endswith("/review"):
        body["json"] = {"final_score": 55, "comment": "authorization matrix"}
    return {"method": method, "url": url, **body}


def callers(world: World) -> dict[str, str | None]:
    k = world.keys
    return {
        "no key": None,
        "unknown key": "grd_" + "x" * 43,
        "revoked key": world.revoked,
        "recruiter (owner)": k.recruiter,
        "recruiter (other)": k.other_recruiter,
        "reviewer": k.reviewer,
        "admin": k.admin,
    }


def expected(rule: Rule, caller: str) -> set[int] | str:
    if caller in ("no key", "unknown key", "revoked key"):
        return {401}
    role = caller.split(" ")[0]
    if role not in rule.roles:
        return {403}
    if rule.owned and caller == "recruiter (other)":
        return "hidden"  # 404 for one object; a list without the owner's rows
    return {200, 201, 202}


def test_every_endpoint_has_a_policy(open_api: Server) -> None:
    schema = httpx.get(f"{open_api.url}/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert operations - PUBLIC - set(POLICY) == set(), "add these endpoints to POLICY"
    assert set(POLICY) - operations == set(), "POLICY names endpoints that no longer exist"


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
def test_authorization_matrix(method: str, path: str, open_api: Server, world: World, pg_settings: Settings) -> None:
    rule = POLICY[(method, path)]
    seen = {}
    with httpx.Client(base_url=open_api.url, timeout=30) as client:
        for caller, key in callers(world).items():
            request = _request(method, path, world, pg_settings)
            headers = {"X-API-Key": key} if key else {}
            response = client.request(request.pop("method"), request.pop("url"), headers=headers, **request)
            seen[caller] = response.status_code
            want = expected(rule, caller)
            if want == "hidden":
                if "{" in path:
                    assert response.status_code == 404, (caller, response.text)
                else:
                    items = response.json()["items"]
                    # Submissions by id; candidates by the owner's candidate id.
                    assert response.status_code == 200
                    assert all(i.get("id") != world.submission_id for i in items)
                    assert all(i.get("candidate_id") not in ("authz-1", "authz-3") for i in items)
                continue
            assert response.status_code in want, (method, path, caller, response.status_code, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}
    print(method, path, seen)


def test_an_owners_list_shows_their_submission(open_api: Server, world: World) -> None:
    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": world.keys.recruiter}) as client:
        items = client.get("/api/v1/submissions", params={"candidate_id": "authz-1"}).json()["items"]
    assert [i["id"] for i in items] == [world.submission_id]


# --- the reviewer dashboard (cookie sessions, not in the OpenAPI schema) -----------------------------------

DASHBOARD_POLICY: dict[tuple[str, str], str] = {
    # "public": anyone; "reviewer": a signed-in reviewer or admin (recruiters cannot sign in);
    # "form": a reviewer's POST, which also needs the session's CSRF token;
    # "admin form": the same, refused to a signed-in reviewer (403) even with the token.
    ("GET", "/dashboard/login"): "public",
    ("POST", "/dashboard/login"): "public",
    ("POST", "/dashboard/logout"): "form",
    ("GET", "/dashboard"): "public",  # a redirect to the queue
    ("GET", "/dashboard/"): "public",
    ("GET", "/dashboard/queue"): "reviewer",
    ("GET", "/dashboard/results/{submission_id}"): "reviewer",
    ("POST", "/dashboard/results/{submission_id}/review"): "form",
    ("GET", "/dashboard/overview"): "reviewer",
    ("GET", "/dashboard/batches"): "reviewer",
    ("GET", "/dashboard/batches/{batch_id}"): "reviewer",
    ("GET", "/dashboard/batches/{batch_id}/download"): "reviewer",
    ("GET", "/dashboard/vendor/plotly-{version}.min.js"): "public",  # the charting library, no data
    # Question banks: reviewers read them (they judge answers against these key points); admins change them.
    ("GET", "/dashboard/banks"): "reviewer",
    ("POST", "/dashboard/banks/import"): "admin form",
    ("GET", "/dashboard/banks/{bank}"): "reviewer",
    ("POST", "/dashboard/banks/{bank}/publish"): "admin form",
    ("POST", "/dashboard/banks/{bank}/calibrations/{version}/publish"): "admin form",
    ("POST", "/dashboard/banks/{bank}/calibrations/fit"): "admin form",
    ("GET", "/dashboard/banks/{bank}/questions/{question_id}"): "reviewer",
    ("POST", "/dashboard/banks/{bank}/questions/{question_id}"): "admin form",
}


def dashboard_routes(server: Server) -> set[tuple[str, str]]:
    from fastapi.routing import APIRoute

    from grader.web.app import create_app

    app = create_app(server.settings)
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/dashboard")
        for method in route.methods or ()
        if method != "HEAD"
    }


def sign_in(server: Server, key: str) -> tuple[httpx.Client, int]:
    import re

    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)  # closed by the caller
    page = client.get("/dashboard/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    response = client.post(
        "/dashboard/login", data={"api_key": key, "csrf_token": match.group(1), "next": "/dashboard/queue"}
    )
    return client, response.status_code


def test_every_dashboard_route_has_a_policy(open_api: Server) -> None:
    routes = dashboard_routes(open_api)
    assert routes - set(DASHBOARD_POLICY) == set(), "add these dashboard routes to DASHBOARD_POLICY"


def test_dashboard_matrix(open_api: Server, world: World) -> None:
    opened: list[httpx.Client] = []
    try:
        params = {
            "submission_id": world.submission_id,
            "batch_id": world.batch_id,
            "bank": "llm",  # the default bank every migrated database holds
            "question_id": "q01",
            "version": "1",
        }
        protected = [
            (m, p)
            for (m, p), rule in DASHBOARD_POLICY.items()
            if rule != "public" and (m, p) in dashboard_routes(open_api)
        ]
        anonymous = httpx.Client(base_url=open_api.url, timeout=30, follow_redirects=False)
        opened.append(anonymous)
        for method, path in protected:  # no session: sent to sign in (GET) or refused (POST), never served
            response = anonymous.request(method, path.format(**params), data={"final_score": 1, "comment": "x"})
            assert response.status_code in (303, 401, 403), (method, path, response.status_code)
            if method == "GET":
                assert response.headers["location"].startswith("/dashboard/login")

        client, status = sign_in(open_api, world.keys.recruiter)  # recruiters cannot sign in
        opened.append(client)
        assert status == 403 and client.get("/dashboard/queue").status_code == 303
        client, status = sign_in(open_api, world.revoked)
        opened.append(client)
        assert status == 401
        for caller in (world.keys.reviewer, world.keys.admin):
            client, status = sign_in(open_api, caller)
            opened.append(client)
            assert status == 303
            for method, path in protected:
                if method != "GET":
                    continue  # POSTs are covered by the CSRF check below
                response = client.get(path.format(**params))
                assert response.status_code == 200, (path, response.status_code, response.text[:300])
            forged = client.post(
                f"/dashboard/results/{world.submission_id}/review", data={"final_score": 1, "comment": "no csrf token"}
            )
            assert forged.status_code == 403  # a cross-site form without the session's token
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/banks").text)
            assert token
            for method, path in protected:
                if DASHBOARD_POLICY[(method, path)] != "admin form":
                    continue
                refused = client.post(path.format(**params), data={"csrf_token": token[1]})
                # A reviewer with a valid token is refused; an admin's empty form changes nothing.
                if caller == world.keys.reviewer:
                    assert refused.status_code == 403, (path, refused.status_code)
                else:
                    assert refused.status_code in (303, 409, 422), (path, refused.status_code, refused.text[:300])

    finally:
        for client in opened:
            client.close()
