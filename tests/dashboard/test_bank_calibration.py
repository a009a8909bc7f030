"""Issue 17, "a bank's first days", on the bank page over real HTTP and a real Postgres database.

A new bank grades with the shipped calibration and its page says how many reviewed answers it has
against the minimums of a fit of its own; once two reviewers reviewed enough answers, the page says so
and offers an admin "拟合本题库的校准" — the same fit as `grader calibrate --bank NAME --from-reviews`,
which adds an unpublished version with its before/after figures; the bank keeps grading with the shipped
calibration until an admin publishes that version. Reviewers see the notice, not the button, and their
POST is refused. Answers are graded for real with the `hash` embedder, for speed (the page reads counts
and the fit's figures, not their values).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from grader.db.models import Grade, Role
from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import Grader, build_grader
from grader.grading.run import run_grading
from grader.keys.principal import CLI, Principal
from grader.questions import banks
from grader.questions.calibrations import bank_calibration, list_calibrations
from grader.questions.reviewed import MIN_REVIEWED, MIN_REVIEWERS, calibration_readiness
from grader.review.results import review
from grader.review.schemas import ReviewCreate
from grader.scoring.calibration import load_calibration
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit
from tests.dashboard.test_bank_pages import small_bank
from tests.support.dashboard import csrf_of, sign_in
from tests.support.seed import NoQueue
from tests.support.services import Server, ServerThread, make_key, migrated_database

pytestmark = [pytest.mark.services, pytest.mark.slow]

BAD = "我不知道，这个没有了解过（{n}）。"


@pytest.fixture(scope="module")
def settings(redis_url: str, queue_name: str) -> Iterator[Settings]:
    with migrated_database("grader_bank_first_days") as url:
        yield Settings(database_url=url, redis_url=redis_url, celery_queue=queue_name, embedder="hash")


@pytest.fixture(scope="module")
def grader(settings: Settings) -> Grader:
    return build_grader(settings)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[Server]:
    with ServerThread(settings) as running:
        yield running


@dataclass
class Bank:
    name: str
    ids: list[str]


def new_bank(settings: Settings) -> Bank:
    name, ids, data = small_bank()
    with session_scope(get_session_factory(settings.database_url)) as session:
        banks.import_bank(session, name, data, "bank.csv", actor=CLI, publish=True)
    return Bank(name, ids)


def grade(settings: Settings, grader: Grader, question_id: str, answer: str) -> uuid.UUID:
    sessions = get_session_factory(settings.database_url)
    with session_scope(sessions) as session:
        submission, _ = submit(
            session,
            SubmissionCreate(candidate_id=f"c-{uuid.uuid4().hex[:8]}", question_id=question_id, answer=answer),
            actor=CLI,
            max_answer_chars=10_000,
            queue=NoQueue(),
        )
    run_grading(sessions, submission.id, lambda: grader, 0.5)
    return submission.id


def review_answers(
    settings: Settings, grader: Grader, bank: Bank, per_question: dict[str, int], reviewers: list[str]
) -> None:
    """Grade and review `per_question[id]` answers of each question: half its reference answer (scored
    high by the reviewer), half a non-answer (scored low); reviewers take turns."""
    sessions = get_session_factory(settings.database_url)
    with session_scope(sessions) as session:
        references = banks.published_references(session, bank.name).references
    turn = 0
    for question_id, count in per_question.items():
        for n in range(count):
            good = n % 2 == 0
            answer = references[question_id].reference_answer if good else BAD.format(n=n)
            submission_id = grade(settings, grader, question_id, answer)
            who = Principal(key_id=None, name=reviewers[turn % len(reviewers)], role=Role.REVIEWER)
            turn += 1
            with session_scope(sessions) as session:
                score = 85 - n % 3 if good else 10 + n % 3
                review(session, submission_id, ReviewCreate(final_score=score, comment="复核"), who)


def calibration_of(settings: Settings, submission_id: uuid.UUID) -> str:
    with session_scope(get_session_factory(settings.database_url)) as session:
        found = session.scalar(select(Grade.calibration).where(Grade.submission_id == submission_id))
    assert found is not None
    return found


@contextmanager
def signed_in(server: Server, settings: Settings, role: Role, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        sign_in(client, make_key(settings, role, name))
        yield client


def readiness_of(html: str) -> str:
    found = re.search(r'<div id="calibration-readiness".*?</div>', html, re.S)
    assert found, "the bank page has no calibration notice"
    return found.group(0)


@pytest.fixture(scope="module")
def ready_bank(settings: Settings, grader: Grader) -> Bank:
    """A bank whose answers two reviewers reviewed, just over the minimum between them."""
    bank = new_bank(settings)
    per_question = -(-MIN_REVIEWED // len(bank.ids))  # the minimum, spread over its questions
    review_answers(settings, grader, bank, dict.fromkeys(bank.ids, per_question), ["复核人甲", "复核人乙"])
    return bank


def test_a_new_bank_says_what_grades_it_and_how_many_reviews_it_lacks(
    settings: Settings, grader: Grader, server: Server
) -> None:
    bank = new_bank(settings)
    # One reviewer; the third question has too few reviewed answers for them to count.
    review_answers(settings, grader, bank, {bank.ids[0]: 6, bank.ids[1]: 6, bank.ids[2]: 2}, ["复核人甲"])
    shipped = load_calibration(settings.calibration_file)
    with signed_in(server, settings, Role.ADMIN, "管理员") as admin:
        page = admin.get(f"/dashboard/banks/{bank.name}")
        notice = readiness_of(page.text)
        assert 'data-ready="no"' in notice
        minimums = f"需 ≥ {MIN_REVIEWED} 条，来自 ≥ {MIN_REVIEWERS} 位复核人"
        assert f"本题库尚无自己的校准：已复核 12 条（{minimums}）" in notice
        assert "系统自带的校准参数" in notice and shipped.version in notice
        assert f"大错风险 ≥ {shipped.review_risk:.2f}" in notice  # the threshold for generated key points
        assert f"还差 {MIN_REVIEWED - 12} 条可计入的复核答案" in notice and f"{bank.ids[2]} 还差 3 条" in notice
        assert "还需要至少 2 位复核人的复核（现在：复核人甲）" in notice
        assert 'id="fit-calibration-form"' not in page.text

        # Posted anyway (an old page, a second tab): refused, saying what is missing; nothing is added.
        refused = admin.post(f"/dashboard/banks/{bank.name}/calibrations/fit", data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 422
        assert "没有拟合：还差" in refused.text and "位复核人" in refused.text
    with session_scope(get_session_factory(settings.database_url)) as session:
        assert list_calibrations(session, bank.name) == []
        readiness = calibration_readiness(session, bank.name)
    assert (readiness.reviewed, readiness.usable, readiness.reviewers) == (14, 12, ["复核人甲"])
    assert not readiness.enough and readiness.own_version is None


def test_once_two_reviewers_reviewed_enough_the_page_offers_the_fit_to_admins_only(
    settings: Settings, server: Server, ready_bank: Bank
) -> None:
    url = f"/dashboard/banks/{ready_bank.name}"
    with session_scope(get_session_factory(settings.database_url)) as session:
        before = len(list_calibrations(session, ready_bank.name))
    with signed_in(server, settings, Role.ADMIN, "管理员") as admin:
        notice = readiness_of(admin.get(url).text)
        assert 'data-ready="yes"' in notice and "复核已足够拟合本题库自己的校准" in notice
        assert "复核人甲" in notice and "复核人乙" in notice
        assert 'id="fit-calibration-form"' in notice and "拟合本题库的校准" in notice
    with signed_in(server, settings, Role.REVIEWER, "复核人丙") as reviewer:
        page = reviewer.get(url)
        notice = readiness_of(page.text)
        assert 'data-ready="yes"' in notice and "管理员可以据此拟合本题库的校准" in notice
        assert 'id="fit-calibration-form"' not in page.text
        refused = reviewer.post(f"{url}/calibrations/fit", data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 403 and "只有管理员" in refused.text
        assert reviewer.post(f"{url}/calibrations/fit", data={"csrf_token": "made-up"}).status_code == 403
    with session_scope(get_session_factory(settings.database_url)) as session:
        assert len(list_calibrations(session, ready_bank.name)) == before


def test_an_admins_fit_adds_an_unpublished_version_and_the_bank_keeps_the_shipped_calibration_until_published(
    settings: Settings, grader: Grader, server: Server, ready_bank: Bank
) -> None:
    url = f"/dashboard/banks/{ready_bank.name}"
    shipped = load_calibration(settings.calibration_file)
    with signed_in(server, settings, Role.ADMIN, "管理员") as admin:
        fitted = admin.post(f"{url}/calibrations/fit", data={"csrf_token": csrf_of(admin.get(url).text)})
        assert fitted.status_code == 303, fitted.text
        with session_scope(get_session_factory(settings.database_url)) as session:
            version = list_calibrations(session, ready_bank.name)[-1]
            assert version.published_at is None and bank_calibration(session, ready_bank.name) is None
        assert fitted.headers["location"].endswith(f"?fitted={version.version}")
        assert version.source == f"reviews of bank {ready_bank.name}"
        assert version.calibration.fit_command == f"grader calibrate --bank {ready_bank.name} --from-reviews"
        assert set(version.proposal["labels_from"]) == {"复核人甲", "复核人乙"}
        # What review would catch under each calibration, on the same held-back answers.
        assert {"spearman", "review_share", "big_not_routed", "correct_sunk"} <= set(version.proposal["before"]) & set(
            version.proposal["after"]
        )

        page = admin.get(fitted.headers["location"]).text
        assert f"已拟合校准第 {version.version} 版（未发布）" in page
        row = re.search(rf'<tr data-calibration="{version.version}">.*?</tr>', page, re.S)
        assert row is not None
        assert "留出" in row.group(0) and "Spearman：现行" in row.group(0) and "复核人甲（" in row.group(0)
        assert "偏差 ≥ 3 分而未送复核" in row.group(0) and "好答案（≥ 7 分）被压低" in row.group(0)
        assert f"/calibrations/{version.version}/publish" in row.group(0)  # publishing: its own form
        assert "本题库尚无自己的校准" in readiness_of(page)

        # Not published: the bank's next answer is graded by the shipped calibration.
        answer = "盘点就是核对库存数量和账面记录是否一致。"
        assert calibration_of(settings, grade(settings, grader, ready_bank.ids[0], answer)) == shipped.version

        published = admin.post(
            f"{url}/calibrations/{version.version}/publish",
            data={
                "csrf_token": csrf_of(page),
                "confirm": "yes",
                "confirm_warnings": ",".join(version.proposal.get("warnings") or {}),
            },
        )
        assert published.status_code == 303, published.text
        assert f"本题库按自己的校准第 {version.version} 版评分" in readiness_of(admin.get(url).text)
    own = calibration_of(settings, grade(settings, grader, ready_bank.ids[0], answer))
    assert own == version.calibration.version and own != shipped.version
