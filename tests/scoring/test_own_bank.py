"""A bank of our own making (tests/scoring/data/db: five database questions, key points generated as on import,
shipped calibration, real embedder): the cases a new user met in issue 17's trial, graded as an interviewer
would."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.eval_bank import build_bank_from_file
from grader.grading.grader import Grader
from grader.scoring.types import Flag, KeyPointState, Keyword, Reference

BANK = Path(__file__).parent / "data" / "db" / "questions.jsonl"

ISOLATION_RIGHT = (
    "四种隔离级别：读未提交、读已提交、可重复读、串行化。读未提交会有脏读；读已提交解决脏读，但有不可重复读和幻读；"
    "可重复读解决不可重复读，MySQL 用 MVCC 加间隙锁基本解决幻读；串行化全部解决但性能最差。级别越高越安全、并发越差，"
    "MySQL 默认可重复读。"
)
ISOLATION_WRONG = "隔离级别越低越安全。读未提交可以防止脏读，串行化会导致幻读，所以一般用读未提交性能最好也最安全。"
BTREE_RIGHT = (
    "因为 B+ 树是多路平衡树，一个节点就是一个 16KB 的页，能放很多键，树高一般三四层，查一次只要三四次磁盘 IO。"
    "非叶子节点只存键不存数据，扇出大；数据都在叶子节点，叶子之间用链表串起来，范围查询顺着链表扫就行。"
    "比 B 树查询稳定，比哈希支持范围查询和排序，比红黑树矮得多。"
)
REDIS_ANSWER = (
    "Redis 是内存数据库，数据都放在内存里，支持 string、hash、list、set、zset 五种数据结构，单线程模型加 IO 多路复用，"
    "所以很快，持久化有 RDB 和 AOF 两种方式。"
)
LEFTMOST_RIGHT = (
    "联合索引是按列的顺序建的，比如 (a,b,c)，先按 a 排，再按 b，再按 c。查询必须从最左边的 a 开始用，中间不能跳过，"
    "才能走这个索引。比如 a=1 and b=2 能用，b=2 就用不了；遇到范围查询后面的列就用不上了。where 里条件写的顺序无所谓，"
    "优化器会调整。"
)
LEFTMOST_WRONG = (
    "联合索引的列顺序无所谓，查询条件可以跳过中间的列，照样能用上联合索引，比如 (a,b,c) 上 where b=2 也能走索引。"
)


def _bank() -> dict[str, Reference]:
    return dict(build_bank_from_file(BANK.resolve(), "db"))


@pytest.fixture(scope="module")
def db(grader: Grader) -> Grader:
    return Grader(_bank(), grader.embedder, grader.calibration)


@pytest.mark.parametrize(("question", "answer"), [("db02", BTREE_RIGHT), ("db03", LEFTMOST_RIGHT)])
def test_a_good_answer_scores_high_and_is_graded(db: Grader, question: str, answer: str) -> None:
    result = db.grade(question, answer)
    assert result.score >= 70 and result.confidence >= 0.5
    assert not any(kp.contradicted for kp in result.key_points)


def test_an_answer_about_another_subject_scores_low_with_nothing_covered(db: Grader) -> None:
    # Redis to the B+ tree question: every key point 0.00 and "遗漏", yet 71, in the trial.
    result = db.grade("db02", REDIS_ANSWER)
    assert result.score <= 30
    assert all(kp.state is KeyPointState.MISSED and kp.credit == 0 for kp in result.key_points)


def test_the_wrong_isolation_answer_scores_far_below_the_right_one(db: Grader) -> None:
    # "隔离级别越低越安全。读未提交可以防止脏读……": 77 and graded in the trial.
    wrong, right = db.grade("db01", ISOLATION_WRONG), db.grade("db01", ISOLATION_RIGHT)
    assert wrong.score <= 40
    assert wrong.score < right.score - 20


def _edited(bank: dict[str, Reference]) -> dict[str, Reference]:
    """db03's second key point as an admin edits it in the dashboard: keywords added, a misconception written."""
    reference = bank["db03"]
    point = reference.key_points[1]
    edited = point.model_copy(
        update={
            "keywords": [*point.keywords, Keyword(term="最左"), Keyword(term="跳过")],
            "misconceptions": ["查询条件可以跳过中间的列，照样能用上联合索引"],
            "curated": True,
        }
    )
    points = list(reference.key_points)
    points[1] = edited
    return {**bank, "db03": reference.model_copy(update={"key_points": points})}


def test_editing_a_generated_key_point_does_not_turn_a_correct_answer_into_a_contradiction(
    db: Grader, grader: Grader
) -> None:
    # "中间不能跳过，才能走这个索引" negates 跳过 as the reference does: 89 -> 29 in the trial after such an edit.
    edited = Grader(_edited(_bank()), grader.embedder, grader.calibration)
    before, after = db.grade("db03", LEFTMOST_RIGHT), edited.grade("db03", LEFTMOST_RIGHT)
    assert not any(kp.contradicted for kp in after.key_points)
    assert abs(after.score - before.score) <= 5


def test_an_answer_stating_the_admins_misconception_is_caught_and_sent_to_review(grader: Grader) -> None:
    edited = Grader(_edited(_bank()), grader.embedder, grader.calibration)
    result = edited.grade("db03", LEFTMOST_WRONG)
    point = result.key_points[1]
    assert point.state in (KeyPointState.CONTRADICTED, KeyPointState.DISPUTED) and point.conflict is not None
    if point.state is KeyPointState.DISPUTED:  # strong elsewhere: a person decides, the conflict named
        assert Flag.CONFLICT in result.flags and result.confidence < 0.5
    assert result.score < edited.grade("db03", LEFTMOST_RIGHT).score - 20
