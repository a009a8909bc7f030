"""Webhook endpoints, the outbox and one delivery at a time, on the real Postgres with a real receiver on
loopback (the queue, worker and beat around them: test_webhooks_e2e.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from grader.db.models import Role
from grader.db.session import get_session_factory, session_scope
from grader.db.webhook_models import WebhookDelivery, WebhookEvent
from grader.settings import Settings
from grader.webhooks import signing
from grader.webhooks.addresses import RefusedUrl, check_url
from grader.webhooks.delivery import Policy, deliver, dispatch_due
from grader.webhooks.outbox import emit
from tests.support.api import assert_error
from tests.support.receiver import Receiver
from tests.support.services import Server, ServerThread, free_port, make_key

pytestmark = pytest.mark.services


def test_a_signature_verifies_with_its_secret_and_time_only() -> None:
    header = signing.signature("whsec_x", 1_800_000_000, b'{"a":1}')
    assert header.startswith("t=1800000000,v1=")
    assert signing.verify("whsec_x", header, b'{"a":1}', now=1_800_000_010)
    assert not signing.verify("whsec_y", header, b'{"a":1}', now=1_800_000_010)
    assert not signing.verify("whsec_x", header, b'{"a":2}', now=1_800_000_010)
    assert not signing.verify("whsec_x", header, b'{"a":1}', now=1_800_000_000 + 3600)  # an old capture
    assert not signing.verify("whsec_x", "garbage", b"", now=0)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/h",
        "http://localhost/h",
        "http://10.1.2.3/h",
        "http://192.168.0.10/h",
        "http://172.16.5.5/h",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/h",
        "http://[fe80::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://0.0.0.0/h",
    ],
)
def test_loopback_private_and_link_local_receivers_are_refused(url: str) -> None:
    with pytest.raises(RefusedUrl, match="GRADER_WEBHOOK_ALLOW_PRIVATE"):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "http://user:pw@example.com/"])
def test_urls_that_are_not_plain_http_are_refused_even_when_private_is_allowed(url: str) -> None:
    with pytest.raises(RefusedUrl):
        check_url(url, allow_private=True)


@pytest.fixture
def admin(clean_db: Settings) -> str:
    return make_key(clean_db, Role.ADMIN, "admin")


def test_admin_registers_an_endpoint_and_sees_the_secret_once(api: Server, admin: str, clean_db: Settings) -> None:
    with api.client(admin) as client:
        refused = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:1/h", "events": ["batch.completed"]})
        assert_error(refused, 422, "webhook_url_refused")
        created = client.post(
            "/api/v1/webhooks", json={"url": "https://93.184.215.14/hooks", "events": ["interview.completed"]}
        )
        assert created.status_code == 201, created.text
        assert created.json()["secret"].startswith("whsec_")
        listed = client.get("/api/v1/webhooks").json()
        assert [e["url"] for e in listed] == ["https://93.184.215.14/hooks"]
        assert "secret" not in listed[0] and "secret" not in client.get(f"/api/v1/webhooks/{listed[0]['id']}").json()
        bad_event = client.post("/api/v1/webhooks", json={"url": "https://93.184.215.14/", "events": ["nope"]})
        assert bad_event.status_code == 422
    recruiter = make_key(clean_db, Role.RECRUITER, "r")
    with api.client(recruiter) as client:
        assert_error(client.get("/api/v1/webhooks"), 403)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def private_api(pg_settings: Settings) -> Iterator[Server]:
    with ServerThread(pg_settings.model_copy(update={"webhook_allow_private": True})) as server:
        yield server


def test_an_event_with_no_subscriber_writes_nothing(clean_db: Settings) -> None:
    with session_scope(get_session_factory(clean_db.database_url)) as session:
        assert emit(session, "batch.completed", [{"batch_id": "x"}]) == []
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_a_failed_attempt_is_logged_and_retried_later_then_delivered_signed_and_replayable(
    private_api: Server, admin: str, clean_db: Settings, receiver: Receiver
) -> None:
    sessions = get_session_factory(clean_db.database_url)
    policy = Policy(retry_seconds=[0.0, 0.0], timeout_seconds=5, allow_private=True)
    with private_api.client(admin) as client:
        endpoint = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["batch.completed"]}).json()
    with session_scope(sessions) as session:
        (event_id,) = emit(session, "batch.completed", [{"batch_id": "b-1", "answers": 3}])
    with session_scope(sessions) as session:
        (delivery_id,) = dispatch_due(session, policy.lease)
    with session_scope(sessions) as session:
        assert dispatch_due(session, policy.lease) == []  # handed out: not again within its lease

    receiver.status = 503
    assert deliver(sessions, delivery_id, policy) == "retry"
    receiver.status = 200
    assert deliver(sessions, delivery_id, policy) == "delivered"
    assert deliver(sessions, delivery_id, policy) == "skipped"  # a duplicate task sends nothing

    got = receiver.all()
    assert len(got) == 2 and got[0].body == got[1].body
    last = got[1]
    assert last.headers["Grader-Event-Id"] == str(event_id) == last.json["id"]
    assert last.headers["Grader-Event"] == "batch.completed" and last.json["data"]["batch_id"] == "b-1"
    assert signing.verify(endpoint["secret"], last.headers["Grader-Signature"], last.body, now=int(time.time()))

    with private_api.client(admin) as client:
        shown = client.get(f"/api/v1/webhooks/deliveries/{delivery_id}").json()
        assert shown["status"] == "delivered" and shown["attempts"] == 2
        assert [a["status_code"] for a in shown["attempt_log"]] == [503, 200]
        assert "HTTP 503" in shown["attempt_log"][0]["error"]
        replayed = client.post(f"/api/v1/webhooks/deliveries/{delivery_id}/replay")
        assert replayed.status_code == 202 and replayed.json()["replay_of"] == delivery_id
    with session_scope(sessions) as session:
        (again,) = dispatch_due(session, policy.lease)
    assert deliver(sessions, again, policy) == "delivered"
    assert receiver.all()[-1].headers["Grader-Event-Id"] == str(event_id)  # the same event, to dedupe by


def test_a_delivery_is_failed_once_its_retries_are_used_up(private_api: Server, admin: str, clean_db: Settings) -> None:
    sessions = get_session_factory(clean_db.database_url)
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    policy = Policy(retry_seconds=[0.0], timeout_seconds=2, allow_private=True)
    with private_api.client(admin) as client:
        client.post("/api/v1/webhooks", json={"url": dead, "events": ["batch.completed"]}).raise_for_status()
    with session_scope(sessions) as session:
        emit(session, "batch.completed", [{"batch_id": "b-2"}])
        delivery_id = session.scalar(select(WebhookDelivery.id))
    assert delivery_id is not None
    assert deliver(sessions, delivery_id, policy) == "retry"
    assert deliver(sessions, delivery_id, policy) == "failed"
    with sessions() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None and delivery.status == "failed" and delivery.attempts == 2


def test_the_shipped_retries_last_more_than_a_day() -> None:
    assert sum(Settings(database_url="sqlite://").webhook_retry_seconds) > 24 * 3600
