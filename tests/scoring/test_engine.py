"""The engine on real answers with the real default embedder (multilingual USE)."""

from __future__ import annotations

from grader.grading.grader import SCORING_VERSION, Grader
from grader.grading.record import needs_review
from grader.scoring.types import Flag, KeyPointState

GOOD_TEMPERATURE = (
    "温度系数是采样时的超参数，控制输出的随机性和创造性。它作用在最后的 softmax：先把 logits 除以温度 T 再算概率。"
    "T 大于 1 时分布变平，低概率的词被抬高，输出更多样、更有创造力；"
    "T 小于 1 时分布变尖，高概率的词更占优势，输出更保守稳定，甚至会重复。"
)
REVERSED_TEMPERATURE = (
    "温度系数是作用在 softmax 上的超参数。温度越高，分布越尖锐，输出越确定、越保守；"
    "温度越低，分布越平，输出越随机、越有创造力。"
)


def test_a_complete_answer_scores_high_with_every_key_point_credited(grader: Grader) -> None:
    result = grader.grade("q06", GOOD_TEMPERATURE)
    assert result.score >= 80
    assert result.flags == []
    assert all(kp.credit >= 0.5 and not kp.contradicted for kp in result.key_points)


def test_evidence_spans_are_offsets_into_the_answer_as_submitted(grader: Grader) -> None:
    result = grader.grade("q06", GOOD_TEMPERATURE)
    for kp in result.key_points:
        assert kp.evidence is not None
        assert GOOD_TEMPERATURE[kp.evidence.start : kp.evidence.end] == kp.evidence.text


def test_a_reversed_direction_is_caught_as_a_contradiction_and_loses_credit(grader: Grader) -> None:
    good = grader.grade("q06", GOOD_TEMPERATURE)
    reversed_ = grader.grade("q06", REVERSED_TEMPERATURE)
    conflicts = {
        kp.id for kp in reversed_.key_points if kp.state in (KeyPointState.CONTRADICTED, KeyPointState.DISPUTED)
    }
    assert conflicts, "swapping the direction of temperature must contradict a key point"
    assert all(kp.credit == 0 for kp in reversed_.key_points if kp.contradicted)
    if Flag.CONFLICT in reversed_.flags:  # an otherwise strong answer: disputed, sent to a person
        assert reversed_.confidence < 0.5
    assert reversed_.score < good.score - 30
    assert "矛盾" in reversed_.feedback


def test_negating_a_key_term_contradicts_the_key_point(grader: Grader) -> None:
    mechanism = "RoPE 用复数旋转的方式作用在 Q 和 K 上，"
    correct = grader.grade("q07", mechanism + "它是相对位置编码，比正余弦绝对位置编码更适合长上下文。")
    negated = grader.grade("q07", mechanism + "它不是相对位置编码，而是绝对位置编码，不适合长上下文。")
    assert not any(kp.contradicted for kp in correct.key_points)
    assert any(kp.state in (KeyPointState.CONTRADICTED, KeyPointState.DISPUTED) for kp in negated.key_points)
    assert negated.score < correct.score


def test_an_english_answer_is_graded_against_the_chinese_reference(grader: Grader) -> None:
    result = grader.grade(
        "q06",
        "Temperature is a sampling hyperparameter: the logits are divided by T before the softmax. "
        "With T above 1 the distribution flattens, low-probability tokens get picked more, so the output is more "
        "random and creative; with T below 1 it sharpens, the top tokens dominate and the output is conservative, "
        "stable and can repeat itself.",
    )
    assert result.score >= 65
    assert not result.flags


def test_dont_know_is_a_non_answer_worth_nothing(grader: Grader) -> None:
    for answer in ("不知道", "这个我没了解过，不太清楚。", "Sorry, no idea.", "   "):
        result = grader.grade("q03", answer)
        assert Flag.NON_ANSWER in result.flags, answer
        assert result.score == 0
        assert all(kp.credit == 0 for kp in result.key_points)


def test_an_answer_to_another_question_is_off_topic(grader: Grader) -> None:
    result = grader.grade(
        "q06", "ChatGPT 训练分四步：先预训练，再用人工标注的数据做指令微调，然后训练奖励模型，最后用 PPO 做强化学习。"
    )
    assert Flag.OFF_TOPIC in result.flags
    assert result.score <= 5


def test_a_bare_keyword_list_is_stuffing_scored_low_and_sent_to_review(grader: Grader) -> None:
    # keyword_stuffing no longer caps the score (wrong on 25-100% of the answers it fired on in ADS or LE):
    # the score is low on its merits and the flag routes the answer to a person.
    result = grader.grade("q05", "RLHF、PPO、奖励模型、SFT、人类反馈、策略梯度、InstructGPT、排序。")
    assert Flag.KEYWORD_STUFFING in result.flags
    assert result.score <= 25  # dev keyword_dump answers: human mean 1.9/10
    assert "cap" not in result.signals and needs_review(result, review_confidence_below=0.5)


def test_the_same_terms_repeated_over_and_over_are_stuffing(grader: Grader) -> None:
    result = grader.grade("q06", "温度 softmax 温度 softmax 温度 softmax 温度 softmax 温度 softmax 随机 随机 随机")
    assert Flag.KEYWORD_STUFFING in result.flags


def test_a_very_short_answer_goes_to_review_unless_it_is_a_piece_of_the_reference(grader: Grader) -> None:
    # too_short no longer caps: on ADS/LE it fired on correct formulas and lists ("2^(n-1)", "定期、临时").
    assert Flag.TOO_SHORT in grader.grade("q06", "这个很有用").flags
    terse = grader.grade("q06", "控制随机性")  # in the reference: not flagged, and graded low on its merits
    assert Flag.TOO_SHORT not in terse.flags
    assert terse.score <= 40


def test_a_copy_of_the_reference_goes_to_a_human(grader: Grader) -> None:
    result = grader.grade("q07", grader.reference("q07").reference_answer)
    assert Flag.COPY_OF_REFERENCE in result.flags  # any flag sends the answer to review (grading.record.needs_review)


def test_same_input_gives_the_same_output(grader: Grader) -> None:
    assert grader.grade("q06", GOOD_TEMPERATURE) == grader.grade("q06", GOOD_TEMPERATURE)


def test_batch_and_single_grading_agree(grader: Grader) -> None:
    batch = grader.grade_many([("q06", GOOD_TEMPERATURE), ("q06", REVERSED_TEMPERATURE)])
    assert batch[0] == grader.grade("q06", GOOD_TEMPERATURE)
    assert batch[1] == grader.grade("q06", REVERSED_TEMPERATURE)


def test_the_result_names_what_produced_it(grader: Grader) -> None:
    result = grader.grade("q06", GOOD_TEMPERATURE)
    assert result.provenance.scoring_version == SCORING_VERSION
    assert result.provenance.embedder == grader.embedder.name
    assert result.provenance.reference_hash == grader.reference("q06").content_hash
    assert result.provenance.calibration == grader.calibration.version


def test_feedback_names_the_missed_key_points_in_chinese(grader: Grader) -> None:
    result = grader.grade("q06", "温度系数是一个超参数，影响输出的随机性。")
    missed = [kp for kp in result.key_points if kp.credit < 0.25]
    assert missed
    assert "遗漏要点" in result.feedback
    assert missed[0].text in result.feedback


def test_a_flagged_answer_goes_to_review_whatever_its_confidence_a_clear_one_does_not(grader: Grader) -> None:
    # The service routes on `confidence < 0.5 or any flag`; confidence alone is the big-error risk.
    clear = grader.grade("q06", GOOD_TEMPERATURE)
    stuffed = grader.grade("q05", "RLHF、PPO、奖励模型、SFT、人类反馈、策略梯度、InstructGPT、排序。")
    assert stuffed.flags and 0 <= stuffed.confidence <= 1
    assert not clear.flags and 0.5 <= clear.confidence <= 1


def test_unicode_edge_cases_grade_without_error(grader: Grader) -> None:
    edge_cases = (
        "🤖" * 50,
        "温度\u200b系数\u200d是超参数",
        "ＳＯＦＴＭＡＸ　温度系数（Ｔ）",
        "中文 English 日本語 한국어",
        "温度系数大于1更随机。" * 900,
    )
    for answer in edge_cases:
        result = grader.grade("q06", answer)
        assert 0 <= result.score <= 100


def test_swapping_which_model_does_what_contradicts_both_key_points(grader: Grader) -> None:
    swapped = grader.grade(
        "q04", "编码器模型专注文本生成，按自回归方式逐词输出；解码器模型专注文本理解，输出和输入等长的向量。"
    )
    contradicted = {kp.id for kp in swapped.key_points if kp.contradicted}
    assert {"kp1", "kp2"} <= contradicted
    assert swapped.score <= 20


def test_parallel_clauses_are_two_claims_not_one_misconception(grader: Grader) -> None:
    # Issue 17: "温度越大输出越随机，温度越小输出越保守" was read as the misconception "温度越低输出越随机" across its
    # comma (2/100 at confidence 0.96). Each clause states its own claim; the reversed answer still contradicts.
    correct = grader.grade("q06", "温度系数作用在 softmax 上。温度越大输出越随机，温度越小输出越保守、越稳定。")
    reversed_ = grader.grade("q06", "温度系数作用在 softmax 上。温度越小输出越随机，温度越大输出越保守、越稳定。")
    assert not any(kp.contradicted for kp in correct.key_points)
    assert [kp.id for kp in reversed_.key_points if kp.contradicted] == ["kp4"]
    assert reversed_.score <= 10 < correct.score - 20


def test_the_readme_example_scores_as_the_half_answer_it_is(grader: Grader) -> None:
    # Issue 17: where the temperature acts and one direction, no mechanism, no other direction: about half of
    # q06's rubric. It scored 11, then 21, while "越大"/"越平" were not among the direction points' terms.
    result = grader.grade("q06", "温度系数作用在 softmax 上，T 越大输出越随机")
    assert 30 <= result.score <= 70
    assert not any(kp.contradicted for kp in result.key_points)


def test_saying_larger_and_smaller_temperature_credits_both_direction_points(grader: Grader) -> None:
    # A dev-set answer marked 8/10 scored 49: "T 越大分布越平 … T 越小越尖" named neither direction in the
    # rubric's words (大于 1 / 越高, 更平 / 尖锐), so the mechanism point read as missed.
    result = grader.grade("q06", "softmax 前 logits 除以 T；T 越大分布越平、越随机，T 越小越尖、越确定。")
    credit = {kp.id: kp.credit for kp in result.key_points}
    assert credit["kp3"] >= 0.5 and credit["kp4"] >= 0.5
    assert result.score >= 60


def test_a_clause_that_echoes_a_misconception_contradicts_without_the_key_points_terms(grader: Grader) -> None:
    # "温度越小输出越随机" names none of kp4's keywords and is not close to its statements, yet it is its
    # misconception almost word for word.
    result = grader.grade("q06", "温度越小输出越随机，温度越大输出越保守。")
    assert any(kp.id == "kp4" and kp.contradicted for kp in result.key_points)


def test_a_negation_inside_a_condition_is_not_a_contradiction(grader: Grader) -> None:
    correct = grader.grade(
        "q10", "如果没有位置编码，模型就无法区分词的位置，“我爱你”和“你爱我”的注意力权重会一模一样。"
    )
    denied = grader.grade("q10", "Transformer 不需要位置编码，因为注意力本身就能区分词的顺序。")
    assert not any(kp.contradicted for kp in correct.key_points)
    assert any(kp.contradicted for kp in denied.key_points)
    assert denied.score < correct.score - 30


def test_negating_the_effect_of_a_concept_contradicts_it(grader: Grader) -> None:
    result = grader.grade("q06", "温度系数不影响输出的随机性，它只影响生成的速度。")
    assert any(kp.contradicted for kp in result.key_points)
    assert result.score <= 20


def test_a_term_in_an_empty_sentence_earns_less_than_the_same_term_explained(grader: Grader) -> None:
    empty = grader.grade("q05", "RLHF 很重要。PPO 也很重要。奖励模型非常重要。")
    explained = grader.grade(
        "q05", "RLHF 用人类对回答的排序训练奖励模型，再用 PPO 按奖励模型的打分优化模型输出，让它对齐人类偏好。"
    )
    assert empty.score < explained.score - 15
