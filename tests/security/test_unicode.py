"""Answers with emoji, zero-width characters, full-width punctuation, mixed scripts, combining marks,
right-to-left text and 10,000 characters grade without error: through the engine with the real default
embedder, and through the API into Postgres and back."""

from __future__ import annotations

import uuid

import httpx
import pytest

from grader.db.session import get_session_factory
from grader.grading.grader import build_grader
from grader.grading.run import run_grading
from grader.settings import Settings
from tests.support.services import Keys, Server

BASE = "RLHF 是基于人类反馈的强化学习，先训练奖励模型，再用 PPO 优化策略。"
EDGE_CASES = {
    "emoji": "🤖 RLHF 👍🏽 基于人类反馈 🧑‍💻 的强化学习 🚀🔥 " * 3,
    "zero_width": "R\u200bL\u200cH\u200dF\ufeff 是基于\u2060人类反馈的\u200b强化学习",
    "full_width": "ＲＬＨＦ：基于人类反馈的强化学习！（奖励模型）；ＰＰＯ优化…… “对齐” 【步骤】",
    "mixed_scripts": "RLHF means reinforcement learning from human feedback; 人类反馈 강화학습 強化学習 обучение "
    "с подкреплением التعلم المعزز",
    "combining_and_rtl": "e\u0301\u0302 RLHF \u202eevil\u202c 基于人类反馈 \u05e9\u05dc\u05d5\u05dd",
    "only_symbols": "？？？！！！……—— ～～～",
    "ten_thousand": (BASE * 400)[:10_000],
    "ten_thousand_emoji": "👍" * 10_000,
    "control_whitespace": "RLHF\t基于\r\n人类反馈\x0b的\x0c强化学习\u2028\u2029\u3000",
}


@pytest.fixture(scope="module")
def engine():
    return build_grader(Settings())  # the default embedder: the real model


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_the_engine_grades_unicode_edge_cases(engine, name: str) -> None:
    result = engine.grade("q05", EDGE_CASES[name])
    assert 0 <= result.score <= 100 and 0 <= result.confidence <= 1
    assert isinstance(result.feedback, str)


@pytest.mark.services
def test_the_api_stores_and_grades_unicode_edge_cases(
    open_api: Server, keys: Keys, pg_settings: Settings, engine
) -> None:
    ids = {}
    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": keys.recruiter}, timeout=60) as client:
        for name, answer in EDGE_CASES.items():
            response = client.post(
                "/api/v1/submissions",
                json={
                    "candidate_id": f"uni-{name}",
                    "candidate_name": "名字👩‍🔬\u200b",
                    "question_id": "q05",
                    "answer": answer,
                },
            )
            assert response.status_code == 202, (name, response.text)
            ids[name] = response.json()["id"]
        # Graded by the same service path a worker runs (the engine is the real one).
        factory = get_session_factory(pg_settings.database_url)
        for name, sid in ids.items():
            status = run_grading(factory, uuid.UUID(sid), lambda: engine, 0.5)
            assert status is not None and status.value in ("graded", "needs_review"), name
            body = client.get(f"/api/v1/submissions/{sid}").json()
            assert body["answer"] == EDGE_CASES[name].strip(), name  # stored exactly (outer whitespace stripped)
            assert body["grade"] is not None and 0 <= body["grade"]["score"] <= 100


@pytest.mark.services
def test_over_ten_thousand_characters_is_a_422_naming_the_limit(open_api: Server, keys: Keys) -> None:
    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": keys.recruiter}, timeout=60) as client:
        response = client.post(
            "/api/v1/submissions", json={"candidate_id": "uni-long", "question_id": "q05", "answer": "👍" * 10_001}
        )
        assert response.status_code == 422 and "10,000" in response.json()["error"]["message"]
        for escaped in ("a\\u0000b", "a\\ud800b"):  # JSON can say it; no text column can store it
            raw = '{"candidate_id": "uni-bad", "question_id": "q05", "answer": "' + escaped + '"}'
            response = client.post(
                "/api/v1/submissions", content=raw.encode(), headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 422, (escaped, response.text)
