"""Issue 18, items 2 and 12: a bank's calibration fitted from reviews must be safe to publish.

The probe's attack, replayed on a real Postgres database and the real API: reviewers score the bank's
good answers (its own reference answers) 0 and bad ones ("I don't know") 100, then an admin fits
`--from-reviews` and publishes. Before: 14 overrides by one reviewer were enough, the poisoned fit
looked like an improvement and was published in one click. Now:
- too few reviewed answers, or one reviewer, is refused, saying how many more are needed;
- with enough poisoned reviews from two reviewers, the fit's proposal names the reviewers, shows the
  inversion on the bank's earlier grades and its reference answers, and carries warnings; the API
  refuses to publish it (409) until the confirmation names every warning; the audit records who the
  labels came from and what was confirmed.
The grading uses the `hash` embedder for speed (the checks read only the scores it produces).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from grader.db.models import AuditEntry, Role
from grader.db.session import get_session_factory, session_scope
from grader.errors import InvalidInput
from grader.grading.calibrate import calibrate_bank, reviewed_answers
from grader.grading.grader import build_grader
from grader.grading.run import run_grading
from grader.keys.principal import CLI, Principal
from grader.questions.banks import DEFAULT_BANK, published_references
from grader.questions.reviewed import MIN_REVIEWED
from grader.review.results import review
from grader.review.schemas import ReviewCreate
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit
from tests.support.dashboard import sign_in
from tests.support.seed import NoQueue
from tests.support.services import ServerThread, make_key, migrated_database

pytestmark = [pytest.mark.services, pytest.mark.slow]

BAD = "我不知道，这个没有了解过，{n}。"


@pytest.fixture(scope="module")
def settings(redis_url: str) -> Iterator[Settings]:
    with migrated_database("grader_calibration_safety") as url:
        yield Settings(database_url=url, redis_url=redis_url, embedder="hash")


def graded_answers(settings: Settings, per_question: int, questions: int) -> list[tuple[uuid.UUID, bool]]:
    """Submissions graded for real: half each question's reference answer (good), half a non-answer."""
    sessions = get_session_factory(settings.database_url)
    grader = build_grader(settings)
    with session_scope(sessions) as session:
        refs = list(published_references(session, DEFAULT_BANK).references.values())[:questions]
    made = []
    for ref in refs:
        for n in range(per_question):
            good = n % 2 == 0
            with session_scope(sessions) as session:
                submission, _ = submit(
                    session,
                    SubmissionCreate(
                        candidate_id=f"c-{ref.id}-{n}",
                        question_id=ref.id,
                        answer=ref.reference_answer if good else BAD.format(n=n),
                    ),
                    actor=CLI,
                    max_answer_chars=10_000,
                    queue=NoQueue(),
                )
            run_grading(sessions, submission.id, lambda: grader, 0.5)
            made.append((submission.id, good))
    return made


def poison(settings: Settings, answers: list[tuple[uuid.UUID, bool]], reviewers: list[str]) -> None:
    sessions = get_session_factory(settings.database_url)
    for i, (submission_id, good) in enumerate(answers):
        who = Principal(key_id=None, name=reviewers[i % len(reviewers)], role=Role.REVIEWER)
        with session_scope(sessions) as session:
            review(session, submission_id, ReviewCreate(final_score=0 if good else 100, comment="poison"), who)


def test_a_poisoned_calibration_is_refused_then_needs_its_warnings_confirmed(settings: Settings) -> None:
    sessions = get_session_factory(settings.database_url)
    answers = graded_answers(settings, per_question=10, questions=6)
    poison(settings, answers[:14], ["mallory"])  # the probe's 14 overrides by one reviewer
    with session_scope(sessions) as session, pytest.raises(InvalidInput) as refused:
        reviewed_answers(session, DEFAULT_BANK)
    message = refused.value.message
    assert f"{MIN_REVIEWED - 10} more reviewed answers" in message, message  # q1 has 10; the 4 of q2 do not count
    assert "2 reviewers" in message and "mallory" in message and "needs 1 more" in message

    poison(settings, answers[14:], ["mallory", "trudy"])
    with session_scope(sessions) as session:
        rows = reviewed_answers(session, DEFAULT_BANK)
        report = calibrate_bank(
            session, build_grader(settings), DEFAULT_BANK, rows, source="reviews", command="test", actor=CLI
        )
    assert report.labels_from == {"mallory": 37, "trudy": 23}
    assert report.held_back == 12
    # The inversion shows: the new fit keeps none of the current order of the bank's graded answers
    # (here it puts them all at the bottom), and scores the bank's own reference answers low.
    assert report.earlier["spearman_before_after"] <= 0, report.earlier
    assert report.references["median_after"] < report.references["median_before"], report.references
    assert set(report.warnings) == {"disagrees", "references_low"}, report.warnings
    codes = ",".join(report.warnings)

    admin = make_key(settings, Role.ADMIN, "calibration-admin")
    with ServerThread(settings) as server, server.client(admin) as client:
        listed = client.get(f"/api/v1/banks/{DEFAULT_BANK}/calibrations").json()
        assert listed[-1]["proposal"]["labels_from"] == {"mallory": 37, "trudy": 23}
        with httpx.Client(base_url=server.url) as browser:  # the bank page shows it, and refuses it too
            csrf = sign_in(browser, admin)
            page = browser.get(f"/dashboard/banks/{DEFAULT_BANK}")
            assert "mallory（37）" in page.text and 'data-warning="disagrees"' in page.text, page.text[-3000:]
            form = f"/dashboard/banks/{DEFAULT_BANK}/calibrations/{report.version}/publish"
            reply = browser.post(form, data={"csrf_token": csrf, "confirm": "yes"})
            assert reply.status_code == 409 and "disagrees" in reply.text
        url = f"/api/v1/banks/{DEFAULT_BANK}/calibrations/{report.version}/publish"
        refused_reply = client.post(url)
        assert refused_reply.status_code == 409, refused_reply.text
        assert refused_reply.json()["error"]["code"] == "calibration_needs_confirmation"
        assert client.post(url, params={"confirm": "something-else"}).status_code == 409
        published = client.post(url, params={"confirm": codes})
        assert published.status_code == 200, published.text
    with session_scope(sessions) as session:
        entries = {
            e.action: e.details
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action.like("calibration.%")))
        }
    assert entries["calibration.added"]["labels_from"] == {"mallory": 37, "trudy": 23}
    assert entries["calibration.added"]["warnings"] == report.warnings
    assert entries["calibration.published"]["confirmed"] == sorted(report.warnings)
