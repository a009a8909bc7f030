"""The probes of issue 11, each with what a recruiter would expect, on the real default embedder.

Answers here were written for these tests (none comes from the dev set): a complete answer in one
language and its equivalent in another, as speech recognition transcribes it, in Traditional
characters, with the direction of a recommendation turned around, off the subject, as a bare list,
padded by repetition.
"""

from __future__ import annotations

import re

import pytest
from opencc import OpenCC

from grader.grading.grader import Grader
from grader.grading.record import needs_review
from grader.scoring.types import Flag, KeyPoint, KeyPointState, Keyword, Reference, ScoreResult

# A few points on the 0–100 scale: what rewriting the same content may move a grade.
CLOSE = 5.0

Q03_ZH = (
    "只有一个注意力头的话，模型只能从一个视角看序列，只能学到一种词之间的关系。"
    "多头注意力把模型维度 d_model 拆成几个更小的头，"
    "每个头有自己的 Q、K、V 投影矩阵，在各自的子空间里分别算注意力，最后把结果拼接起来。"
    "这样不同的头可以捕捉不同的特征，"
    "比如一个头关注句法，另一个关注语义或者长距离的上下文，让模型的表示更丰富。"
)
Q03_EN = (
    "With just one attention head the model only gets a single view of the sequence, so it can only learn one kind of "
    "relationship between tokens. Multi-head attention splits the model dimension d_model into several smaller heads. "
    "Each head has its own query, key and value projection matrices and runs attention separately in its own subspace; "
    "the results are concatenated. Because of that, different heads can pick up different features: one head might "
    "track syntax, another semantics or long-range context, which gives the model a richer representation."
)
Q06_PLAIN = (
    "温度系数是采样时的超参数，控制输出的随机性和创造性。它作用在最后的 softmax：先把 logits 除以温度 T 再算概率。"
    "T 大于 1 时分布变平，低概率的词被抬高，输出更多样、更有创造力；"
    "T 小于 1 时分布变尖，高概率的词更占优势，输出更保守稳定，甚至会重复。"
)
Q06_CODESWITCH = (
    "Temperature 是 sampling 时的 hyperparameter，控制 output 的 randomness 和 creativity。"
    "它作用在最后的 softmax：先把 "
    "logits 除以 T 再算 probability。T 大于 1 时 distribution 变 flat，low probability 的 token 被抬高，output 更 "
    "diverse、更 creative；T 小于 1 时 distribution 变 sharp，high probability 的 token 更 dominant，output 更 "
    "conservative、stable，甚至会 repeat。"
)
Q10_PLAIN = (
    "如果没有位置编码，模型就不知道每个字的位置，因为注意力本身不感知顺序。比如“我爱你”和“你爱我”，每个字的向量一模一样，"
    "注意力权重也一样，输出也会一样，这样语义理解就会混乱。"
)
# Speech recognition: fillers, pauses for punctuation, 注意力 heard as 主意力.
Q10_TRANSCRIPT = (
    "嗯 如果没有位置编码的话 那个模型就不知道每个字的位置 因为主意力本身呃不感知顺序 "
    "比如我爱你和你爱我 每个字的向量一模一样 "
    "主意力权重也一样 然后呢输出也会一样 这样语义理解就会混乱"
)
Q04_PLAIN = (
    "编码器模型比如 BERT 专注文本理解，输出和输入等长的向量，适合分类这种任务；解码器模型比如 GPT 专注文本生成，"
    "按自回归的方式一个词一个词地输出；编解码模型比如 T5 先用编码器理解输入，再用解码器生成输出，适合翻译和摘要。"
)
# No punctuation and no pauses at all; 编码器/解码器 heard as 编码期/解码期.
Q04_TRANSCRIPT = (
    "呃编码期模型比如BERT专注文本理解输出和输入等长的向量适合分类这种任务然后解码期模型比如GPT专注文本生成"
    "按自回归的方式一个词一个词地输出就是说编解码模型比如T5先用编码期理解输入再用解码期生成输出适合翻译和摘要"
)
Q12_RAISE_ZH = "调高温度系数，增加输出的随机性，减少重复。"
Q12_RAISE_EN = "Raise the temperature coefficient to increase the randomness of the output and reduce repetition."
Q12_LOWER_ZH = "调低温度系数，增加输出的随机性，减少重复。"
Q12_LOWER_EN = "Lower the temperature coefficient to increase the randomness of the output and reduce repetition."
HOTPOT = (
    "周末我喜欢和朋友去吃火锅，麻辣锅底配毛肚和鸭肠特别香。吃完以后我们经常去爬山徒步，呼吸新鲜空气，锻炼身体，"
    "看看山顶的风景，晚上再找个地方喝点东西聊聊天。"
)


def _traditional(text: str) -> str:
    converted: str = OpenCC("s2t").convert(text)
    return converted


def _point(result: ScoreResult, kp_id: str):
    return next(kp for kp in result.key_points if kp.id == kp_id)


def test_a_complete_english_answer_scores_like_its_chinese_equivalent(grader: Grader) -> None:
    chinese = grader.grade("q03", Q03_ZH)
    english = grader.grade("q03", Q03_EN)
    assert chinese.score >= 80 and english.score >= 80
    assert abs(english.score - chinese.score) <= 10
    assert english.flags == []


def test_raise_the_temperature_in_english_earns_what_the_chinese_earns(grader: Grader) -> None:
    chinese = grader.grade("q12", Q12_RAISE_ZH)
    english = grader.grade("q12", Q12_RAISE_EN)
    assert _point(english, "kp2").credit == pytest.approx(_point(chinese, "kp2").credit, abs=0.1)
    assert _point(english, "kp2").credit >= 0.8
    # Never sunk for its language (it was 9.9 below its twin). Above it is the fit, not the credits: the
    # whole-answer signals (cosine, recalls, lengths) differ by language and each refit weighs them anew; the
    # English one scored 5 above before scoring 1.5's refits, 8 above after (61 / 69).
    assert english.score >= chinese.score - CLOSE
    assert english.score - chinese.score <= 2 * CLOSE


@pytest.mark.parametrize("answer", [Q12_LOWER_ZH, Q12_LOWER_EN, "温度系数要降低一点，这样就不容易重复了。"])
def test_lowering_the_temperature_earns_nothing_for_raising_it(grader: Grader, answer: str) -> None:
    result = grader.grade("q12", answer)
    kp2 = _point(result, "kp2")
    # Contradicted (no credit), or disputed in an otherwise strong answer (scored halfway and sent to review).
    raised = grader.grade("q12", Q12_RAISE_ZH).score
    if kp2.contradicted:
        assert kp2.credit == 0 and result.score < raised - 30
    else:
        # Disputed in an otherwise strong answer: shown halfway between its two readings (34.5 against 64 for
        # raising it in today's fit) and routed to review; where it lands beside 64 moves with each refit.
        assert kp2.state is KeyPointState.DISPUTED and result.confidence < 0.5
        assert result.score < raised - 25


def test_an_answer_that_says_both_directions_is_not_a_reversal(grader: Grader) -> None:
    result = grader.grade("q12", "调低温度会让输出更确定、更容易重复，所以要调高温度系数，增加随机性。")
    assert not _point(result, "kp2").contradicted
    assert _point(result, "kp2").credit >= 0.8


@pytest.mark.parametrize(
    ("own", "opposite"),
    [
        ("调高", "调低"),
        ("调低", "调高"),
        ("升高", "降低"),
        ("降低", "升高"),
        ("增大", "减小"),
        ("减小", "增大"),
        ("raise", "lower"),
        ("lower", "raise"),
        ("increase", "decrease"),
        ("decrease", "increase"),
    ],
)
def test_the_opposite_adjustment_contradicts_a_key_point_either_way(grader: Grader, own: str, opposite: str) -> None:
    sep = " " if own.isascii() else ""
    bank = {
        "q90": Reference(
            id="q90",
            question="如何让采样的输出更稳定？",
            reference_answer=f"{own}{sep}温度系数。",
            key_points=[
                KeyPoint(
                    id="kp1",
                    text=f"{own}{sep}温度系数，让输出符合需要",
                    weight=1.0,
                    keywords=[Keyword(term=own), Keyword(term="温度系数", aliases=["温度", "temperature"])],
                )
            ],
        )
    }
    local = Grader(bank, grader.embedder, grader.calibration)
    agrees = local.grade(
        "q90",
        f"把温度系数{own}{sep}一些，让输出符合需要。"
        if sep == ""
        else f"{own} the temperature a bit so the output fits.",
    )
    turned = local.grade(
        "q90",
        f"把温度系数{opposite}一些，让输出符合需要。"
        if sep == ""
        else f"{opposite} the temperature a bit so the output fits.",
    )
    assert not agrees.key_points[0].contradicted
    point = turned.key_points[0]
    assert point.conflict is not None
    if point.contradicted:
        assert point.credit == 0
    else:
        # Strong without the reversal (the bank's one key point otherwise covered): disputed, shown halfway and
        # routed to review with the reversal named; which of the two moves with each refit of the calibration.
        # Halfway is high here (83.5 against 100 in the fit of 2026-12-05): in a one-sentence bank every other
        # signal reads the reversed sentence as the reference's own, so the person decides, not the score.
        assert point.state is KeyPointState.DISPUTED and turned.confidence < 0.5
        assert Flag.CONFLICT in turned.flags and turned.score < agrees.score


def test_an_answer_about_hotpot_and_hiking_is_off_topic_and_scores_near_zero(grader: Grader) -> None:
    result = grader.grade("q10", HOTPOT)
    assert Flag.OFF_TOPIC in result.flags
    assert result.score <= 5


def test_a_space_separated_list_of_terms_is_keyword_stuffing(grader: Grader) -> None:
    result = grader.grade("q09", "预训练 SFT 奖励模型 PPO RLHF")
    assert Flag.KEYWORD_STUFFING in result.flags
    assert result.score <= 20


def test_a_sentence_repeated_526_times_is_flagged_and_gains_nothing(grader: Grader) -> None:
    sentence = "温度系数越高，softmax 之后的分布越平，输出越随机。"
    once = grader.grade("q06", sentence)
    padded = grader.grade("q06", sentence * 526)
    assert Flag.REPETITIVE in padded.flags
    assert padded.score <= once.score + 0.5
    assert needs_review(padded, review_confidence_below=0.5)  # the flag routes it to a person


_SECTION = re.compile(r"(已覆盖要点|部分提及|提到但未解释)：(.*?)。(?=遗漏要点|与要点矛盾|$|已覆盖|部分提及)")


def _claimed(result: ScoreResult) -> list[str]:
    """Key point texts the feedback says the answer made (covered, partly, or named)."""
    return [
        kp.text for kp in result.key_points if any(kp.text in body for _, body in _SECTION.findall(result.feedback))
    ]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("q12", Q12_RAISE_ZH),
        ("q12", Q12_LOWER_ZH),
        ("q10", HOTPOT),
        ("q09", "预训练 SFT 奖励模型 PPO RLHF"),
        ("q06", "温度系数是一个超参数。"),
        ("q03", Q03_EN),
        ("q10", Q10_TRANSCRIPT),
    ],
)
def test_feedback_never_claims_the_answer_said_what_it_did_not(grader: Grader, question: str, answer: str) -> None:
    result = grader.grade(question, answer)
    for text in _claimed(result):
        kp = next(k for k in result.key_points if k.text == text)
        assert kp.evidence is not None and not kp.contradicted
        # The words quoted are the answer's own, as submitted.
        assert answer[kp.evidence.start : kp.evidence.end] == kp.evidence.text
    for quoted in re.findall(r"「(.*?)」", result.feedback):
        assert quoted.rstrip("…") in " ".join(answer.split()), quoted


def test_feedback_does_not_credit_the_reward_model_to_an_answer_about_temperature(grader: Grader) -> None:
    result = grader.grade("q12", Q12_RAISE_ZH)
    reward_point = _point(result, "kp1").text
    assert reward_point not in _claimed(result)
    assert _point(result, "kp2").text in _claimed(result)


def test_feedback_on_a_reversal_quotes_the_answer_not_the_misconception(grader: Grader) -> None:
    result = grader.grade("q12", Q12_LOWER_ZH)
    assert "与要点矛盾" in result.feedback
    assert "调低温度系数" in result.feedback
    assert _point(result, "kp2").text not in _claimed(result)


@pytest.mark.parametrize(("question", "plain"), [("q06", Q06_PLAIN), ("q10", Q10_PLAIN), ("q03", Q03_ZH)])
def test_an_answer_in_traditional_characters_scores_as_in_simplified(grader: Grader, question: str, plain: str) -> None:
    assert grader.grade(question, _traditional(plain)).score == pytest.approx(
        grader.grade(question, plain).score, abs=CLOSE
    )


@pytest.mark.parametrize(
    ("question", "plain", "spoken"), [("q10", Q10_PLAIN, Q10_TRANSCRIPT), ("q04", Q04_PLAIN, Q04_TRANSCRIPT)]
)
def test_a_speech_transcript_scores_close_to_the_same_answer_typed(
    grader: Grader, question: str, plain: str, spoken: str
) -> None:
    assert grader.grade(question, spoken).score == pytest.approx(grader.grade(question, plain).score, abs=CLOSE)


def test_heavy_code_switching_scores_close_to_the_same_answer_in_chinese(grader: Grader) -> None:
    assert grader.grade("q06", Q06_CODESWITCH).score == pytest.approx(grader.grade("q06", Q06_PLAIN).score, abs=CLOSE)


@pytest.mark.parametrize("written", ["Self Attention", "selfattention", "self-attention", "SELF-ATTENTION"])
def test_spaces_and_case_in_an_english_term_do_not_matter(grader: Grader, written: str) -> None:
    from grader.scoring import keywords
    from grader.scoring.text import normalise

    assert keywords.find(normalise(f"用{written}计算"), Keyword(term="自注意力", aliases=["self-attention"]))


def test_no_key_point_is_reversed_by_its_own_statements_in_any_curated_bank(grader: Grader) -> None:
    from grader.scoring import direction, keywords
    from grader.scoring.text import normalise

    for reference in grader.bank.values():
        for kp in reference.key_points:
            for text in (*kp.all_statements(), reference.reference_answer):
                norm = normalise(text)
                assert direction.reversed_in(norm, kp, keywords.find_all(norm, kp.keywords)) is None, (kp.id, text)
