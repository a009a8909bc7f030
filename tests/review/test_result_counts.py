"""A page of results says how many match without counting every match: exactly up to a cap, "at least the
cap" past it (`grader.review.results.count_matching`), on the real Postgres with results graded by the real
grader, and the queue page shows a capped total as such."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from grader.dashboard.pages import templates
from grader.dashboard.views import parse_queue
from grader.db.models import Status
from grader.db.session import get_session_factory, session_scope
from grader.review.results import Matching, ResultFilter, count_matching, list_results, review_queue
from grader.settings import Settings
from tests.support.seed import Seeded


@pytest.mark.services
def test_a_count_is_exact_up_to_its_cap_and_a_lower_bound_past_it(clean_db: Settings, seeded: Seeded) -> None:
    with session_scope(get_session_factory(clean_db.database_url)) as session:
        assert count_matching(session, ResultFilter(), cap=6) == Matching(6, exact=True)
        assert count_matching(session, ResultFilter(), cap=5) == Matching(5, exact=False)
        assert count_matching(session, ResultFilter(), cap=1) == Matching(1, exact=False)
        q03 = ResultFilter(question_id="q03")
        assert count_matching(session, q03, cap=4) == Matching(4, exact=True)
        assert count_matching(session, q03, cap=3) == Matching(3, exact=False)
        assert count_matching(session, ResultFilter(question_id="q99")) == Matching(0, exact=True)


@pytest.mark.services
def test_pages_carry_the_count_of_every_match_not_of_the_page(clean_db: Settings, seeded: Seeded) -> None:
    with session_scope(get_session_factory(clean_db.database_url)) as session:
        page = list_results(session, ResultFilter(), sort="candidate", limit=2, offset=2)
        assert len(page.items) == 2 and page.total == Matching(6, exact=True)
        queue = review_queue(session, ResultFilter(), limit=50, offset=0)
        assert queue.total == count_matching(session, ResultFilter(status=Status.NEEDS_REVIEW))
        assert queue.total.count == len(queue.items) >= 1


def test_the_queue_page_shows_a_capped_total_as_a_lower_bound() -> None:
    query = parse_queue({})
    context = {
        "user": SimpleNamespace(name="王五", role=SimpleNamespace(value="reviewer")),
        "csrf": "token",
        "q": query,
        "rows": [],
        "questions": [],
        "question_texts": {},
        "nav": "queue",
        "here": "/dashboard/queue",
    }
    capped = templates.get_template("queue.html").render(**context, total=Matching(10_000, exact=False), pages=200)
    assert re.search(r'id="total">共 10,000\+ 条<', capped)
    assert "第 1 / 200+ 页" in capped and "下一页" in capped
    exact = templates.get_template("queue.html").render(**context, total=Matching(120, exact=True), pages=3)
    assert re.search(r'id="total">共 120 条<', exact) and "第 1 / 3 页" in exact
