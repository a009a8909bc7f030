"""Keyset pages (`cursor=`, `grader.review.cursors`): following next_cursor visits every match once, in the
order an offset page gives, whatever the sort and however many rows tie on it; on Postgres and on the
embedded SQLite, with results graded by the real grader. A cursor from another query is refused."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import get_args

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.db.migrate import upgrade
from grader.db.models import Role, Status
from grader.db.review_models import ResultRow
from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import Grader
from grader.review.results import ResultFilter, list_results, review_queue
from grader.review.schemas import ResultSort
from grader.settings import Settings
from tests.support.seed import Seeded, seed_graded
from tests.support.services import Server, make_key

SORTS: tuple[ResultSort, ...] = get_args(ResultSort)


def walk(session: Session, f: ResultFilter, sort: ResultSort, limit: int) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = list_results(session, f, sort=sort, limit=limit, cursor=cursor)
        seen += [item.row.submission_id for item in page.items]
        if page.next_cursor is None:
            return seen
        assert len(page.items) == limit  # a cursor is only given when a row follows the page
        cursor = page.next_cursor


def offset_order(session: Session, f: ResultFilter, sort: ResultSort) -> list[uuid.UUID]:
    return [item.row.submission_id for item in list_results(session, f, sort=sort, limit=200, offset=0).items]


def check_cursor_walks(url: str) -> None:
    sessions = get_session_factory(url)
    with session_scope(sessions) as session:
        for f in (ResultFilter(), ResultFilter(question_id="q03"), ResultFilter(score_min=0, score_max=100)):
            for sort in SORTS:
                for limit in (1, 2, 4):
                    assert walk(session, f, sort, limit) == offset_order(session, f, sort), (sort, limit)
        # Every row alike on every sort key: the order, and the pages, rest on the submission id alone.
        session.execute(update(ResultRow).values(confidence=0.5, final_score=50.0, candidate_id="c-same"))
        graded_at = session.scalars(select(ResultRow.graded_at).limit(1)).one()
        session.execute(update(ResultRow).values(graded_at=graded_at))
        for sort in SORTS:
            everything = offset_order(session, ResultFilter(), sort)
            assert len(everything) == len(set(everything)) == 6
            assert walk(session, ResultFilter(), sort, 2) == everything, sort
        session.rollback()


@pytest.mark.services
def test_following_cursors_visits_every_result_once_in_order_on_postgres(clean_db: Settings, seeded: Seeded) -> None:
    check_cursor_walks(clean_db.database_url)


def test_following_cursors_visits_every_result_once_in_order_on_sqlite(tmp_path: Path, grader: Grader) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
    upgrade(settings.database_url)
    seed_graded(settings, grader)
    check_cursor_walks(settings.database_url)


@pytest.mark.services
def test_the_queue_pages_by_cursor_least_confident_first(clean_db: Settings, seeded: Seeded) -> None:
    with session_scope(get_session_factory(clean_db.database_url)) as session:
        whole = review_queue(session, ResultFilter(), limit=50)
        first = review_queue(session, ResultFilter(), limit=1)
        assert first.next_cursor is not None and len(whole.items) >= 2
        second = review_queue(session, ResultFilter(), limit=50, cursor=first.next_cursor)
        ids = [i.row.submission_id for i in first.items + second.items]
        assert ids == [i.row.submission_id for i in whole.items]
        assert {i.row.status for i in second.items} == {Status.NEEDS_REVIEW.value}


@pytest.mark.services
def test_a_cursor_from_another_query_is_refused(api: Server, clean_db: Settings, seeded: Seeded) -> None:
    key = make_key(clean_db, Role.REVIEWER, "审核员王五")

    def get(**params: str) -> httpx.Response:
        with api.client(key) as client:
            return client.get("/api/v1/results", params=params)

    first = get(sort="score", limit="2").json()
    cursor = first["next_cursor"]
    assert cursor and first["offset"] == 0
    second = get(sort="score", limit="2", cursor=cursor)
    assert second.status_code == 200 and len(second.json()["items"]) == 2
    assert {i["submission_id"] for i in first["items"]}.isdisjoint(i["submission_id"] for i in second.json()["items"])
    last = get(sort="score", limit="10", cursor=cursor).json()
    assert len(last["items"]) == 4 and last["next_cursor"] is None

    refusals = {
        "another sort": get(sort="-score", cursor=cursor),
        "other filters": get(sort="score", question_id="q03", cursor=cursor),
        "with an offset": get(sort="score", cursor=cursor, offset="2"),
        "made up": get(sort="score", cursor="not-a-cursor"),
        "tampered": get(sort="score", cursor=cursor[:-4]),
    }
    for why, response in refusals.items():
        assert response.status_code == 422, (why, response.text)
        body = response.json()["error"]
        assert body["code"] == "invalid_input" and "cursor" in body["message"], (why, body)
    assert "sort=score" in refusals["another sort"].json()["error"]["message"]
