"""Real answers graded by the real grader into the test database: what the review tests look at."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from grader.db.session import get_session_factory, session_scope
from grader.grading.grader import Grader
from grader.grading.run import run_chunk, run_grading
from grader.keys.principal import CLI
from grader.settings import Settings
from grader.submissions.schemas import SubmissionCreate
from grader.submissions.submit import submit

# (candidate, question, answer). q03: why Transformers use multi-head attention; q01: ChatGPT's strengths
# and weaknesses.
ANSWERS = [
    (
        "c-001",
        "q03",
        "单个注意力头视角单一，只能学到一种关注模式。多头注意力把 d_model 拆成几份，"
        "每个头有自己的 Q、K、V 投影矩阵，在不同子空间里并行计算注意力，最后拼接起来，"
        "这样模型能同时捕捉语义、句法、位置等不同特征。",
    ),
    ("c-002", "q03", "多头注意力就是多算几次注意力，效果会好一点。"),
    (
        "c-003",
        "q03",
        "多头注意力并不会在不同子空间里学习，每个头的 Q、K、V 都是共享同一套参数的，"
        "拼接之后和单头完全一样，所以它只是为了让计算更快，并不能捕捉不同特征。",
    ),
    ("c-004", "q01", "这个……我平时主要是用它，没从技术角度了解过它的优缺点。"),
    (
        "c-005",
        "q01",
        "嗯，我理解的优点主要是对话能力强，因为它是在海量数据上做了大规模预训练，"
        "然后又用了 RLHF 去对齐人类偏好，所以回答比较自然，也比较懂你的意图。"
        "还有就是它开放了 API，很多公司可以直接接到自己的业务里做二次开发，甚至 fine-tune。"
        "缺点的话，一个是成本特别高，训练要大量 GPU 和数据；"
        "另一个是它本质就是概率预测下一个词，会有幻觉，而且不可解释，你不知道它为啥这么答。",
    ),
    ("c-006", "q03", "多头、注意力、Q、K、V、子空间、拼接、并行、d_model、投影、特征"),
]


@dataclass(frozen=True)
class Seeded:
    ids: list[uuid.UUID]
    by_candidate: dict[str, uuid.UUID]


class NoQueue:
    """A queue that takes nothing: the tests that use it grade the answers themselves (`run_grading`)."""

    def enqueue(self, submission_id: uuid.UUID) -> None:
        pass

    def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
        pass


def seed_graded(settings: Settings, grader: Grader, review_confidence_below: float = 0.5) -> Seeded:
    sessions = get_session_factory(settings.database_url)
    ids: dict[str, uuid.UUID] = {}
    for candidate, question, answer in ANSWERS:
        with session_scope(sessions) as session:
            submission, _ = submit(
                session,
                SubmissionCreate(
                    candidate_id=candidate, candidate_name=f"候选人{candidate[-1]}", question_id=question, answer=answer
                ),
                actor=CLI,
                max_answer_chars=10_000,
                queue=NoQueue(),
            )
            ids[candidate] = submission.id
        run_grading(sessions, ids[candidate], lambda: grader, review_confidence_below)
    return Seeded(list(ids.values()), ids)


def seed_batch(settings: Settings, grader: Grader, review_confidence_below: float = 0.5) -> uuid.UUID:
    """A small answer sheet (three candidates, two questions) uploaded and graded to the end."""
    import csv
    import io

    from grader.batches import uploads as batches
    from grader.batches.parsing import parse_sheet

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["候选人编号", "姓名", "题号", "答案"])
    for number, picks in enumerate([(0, 4), (1, 3), (2, 4)], start=1):  # one q03 and one q01 answer each
        for pick in picks:
            _candidate, question, answer = ANSWERS[pick]
            writer.writerow([f"b-{number:03d}", f"批次考生{number}", question, answer])
    data = out.getvalue().encode("utf-8")
    sessions = get_session_factory(settings.database_url)
    questions = {qid: ref.question for qid, ref in grader.bank.items()}
    sheet = parse_sheet(data, questions, filename="春招第一批.csv")
    assert not sheet.errors, sheet.errors

    class _Collect:
        def __init__(self) -> None:
            self.ids: list[uuid.UUID] = []

        def enqueue_chunk(self, batch_id: uuid.UUID, submission_ids: Sequence[uuid.UUID]) -> None:
            self.ids.extend(submission_ids)

        def enqueue(self, submission_id: uuid.UUID) -> None:
            raise AssertionError("a batch queues chunks, never single submissions")

    collected = _Collect()
    with session_scope(sessions) as session:
        batch = batches.create_batch(session, sheet, filename="春招第一批.csv", actor=CLI, queue=collected)
        batch_id = batch.id
    run_chunk(sessions, collected.ids, lambda: grader, review_confidence_below)
    return batch_id
