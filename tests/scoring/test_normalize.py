"""Reading answers as a careful marker would, with every span still pointing into the answer as sent."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.grading.grader import Grader
from grader.scoring.normalize import _FILLER, _FILLER_STARTS, fold_characters, normalise_answer
from grader.scoring.text import spans


def test_traditional_characters_read_as_simplified_one_for_one() -> None:
    answer = "多頭注意力讓每個頭學習不同的關係，溫度係數越高輸出越隨機"
    read = normalise_answer(answer)
    assert read.text == "多头注意力让每个头学习不同的关系，温度系数越高输出越随机"
    assert len(read.text) == len(answer)


def test_simplified_text_is_left_alone() -> None:
    plain = "温度系数作用在 softmax 上，T 越大输出越随机。干什么都要先预训练，只有一个头。"
    assert fold_characters(plain) == plain


def test_full_width_letters_and_digits_fold_but_chinese_punctuation_stays() -> None:
    assert fold_characters("ＳＯＦＴＭＡＸ　温度（Ｔ＝１），") == "SOFTMAX 温度（T=1），"


def test_fillers_are_dropped_where_they_stand_alone() -> None:
    read = normalise_answer("嗯，那个，我觉得呃多头注意力就是说，每个头学到的东西不一样，um 就这样")
    # A filler between two Chinese words is a pause: it ends the clause.
    assert read.text == "我觉得，多头注意力，每个头学到的东西不一样，就这样"
    assert normalise_answer("能看到前后文然后呢所以理解能力强").text == "能看到前后文，所以理解能力强"


def test_words_that_look_like_fillers_but_carry_meaning_stay() -> None:
    for text in ("这个头关注语法，那个头关注语义", "额外的计算量不大", "温度就是一个超参数"):
        assert normalise_answer(text).text == text


def test_a_long_transcript_without_punctuation_is_cut_into_clauses() -> None:
    transcript = "注意力本身不感知顺序所以需要位置编码比如我爱你和你爱我 这两句话的字是一样的 但是意思完全不一样"
    read = normalise_answer(transcript)
    assert read.text == (
        "注意力本身不感知顺序，所以需要位置编码，比如我爱你和你爱我，这两句话的字是一样的，但是意思完全不一样"
    )


def test_a_clause_said_again_word_for_word_is_read_once_and_counted() -> None:
    read = normalise_answer("调高温度系数可以增加随机性。" * 5)
    assert read.text == "调高温度系数可以增加随机性。"
    assert read.repeated_clauses == 4


def _maps_back(answer: str) -> None:
    read = normalise_answer(answer)
    for start in range(len(read.text)):
        for end in range(start + 1, len(read.text) + 1):
            s, e = read.original_span(start, end)
            assert 0 <= s <= e <= len(answer)
            # Every character read comes from inside the original range it maps to.
            assert fold_characters(answer[s:e]).count(read.text[start]) >= 1 or read.text[start] == "，"


def test_every_span_of_the_copy_maps_into_the_original() -> None:
    _maps_back("嗯，多頭注意力讓ＱＫＶ不同 然後呢 每個頭學到不同的關係所以表達能力更強")


def _evidence_is_original(grader: Grader, question: str, answer: str) -> None:
    result = grader.grade(question, answer)
    assert any(kp.evidence is not None for kp in result.key_points)
    for kp in result.key_points:
        if kp.evidence is not None:
            assert answer[kp.evidence.start : kp.evidence.end] == kp.evidence.text
            assert kp.evidence.text.strip()


def test_evidence_of_a_traditional_answer_is_its_own_traditional_text(grader: Grader) -> None:
    answer = "溫度係數作用在 softmax 上：T 大於 1 時分佈變平，輸出更隨機；T 小於 1 時分佈變尖，輸出更保守。"
    _evidence_is_original(grader, "q06", answer)
    result = grader.grade("q06", answer)
    assert any(
        "溫度係數" in (kp.evidence.text if kp.evidence else "") or "分佈" in (kp.evidence.text if kp.evidence else "")
        for kp in result.key_points
    )


def test_evidence_of_a_full_width_answer_points_at_the_full_width_text(grader: Grader) -> None:
    answer = "温度系数Ｔ作用在ＳＯＦＴＭＡＸ上，Ｔ大于１时分布变平，输出更随机；Ｔ小于１时输出更保守。"
    _evidence_is_original(grader, "q06", answer)


def test_evidence_of_a_filler_laden_transcript_covers_the_words_spoken(grader: Grader) -> None:
    answer = "嗯 那个 温度系数就是说作用在softmax上 呃 温度越高分布越平输出越随机 然后呢温度越低输出越保守越容易重复"
    _evidence_is_original(grader, "q06", answer)
    result = grader.grade("q06", answer)
    spans = [kp.evidence.text for kp in result.key_points if kp.evidence]
    # A clause the transcript never punctuated is still found as a clause of its own.
    assert any(text.startswith("温度越高") or text.startswith("温度系数") for text in spans)


_PIECES = [
    "嗯",
    "呃",
    "那个",
    "就是说",
    "然后呢",
    "um",
    " ",
    "，",
    "。",
    "溫度",
    "係數",
    "ＱＫＶ",
    "Ｔ",
    "attention",
    "所以",
    "因为",
    "注意力本身不感知顺序",
    "调高温度系数可以增加随机性。",
    "The key idea is",
    "它",
    "头",
]


@given(st.lists(st.sampled_from(_PIECES), max_size=40))
@settings(max_examples=200, deadline=None)
def test_every_span_the_grader_reads_maps_to_a_range_of_the_answer_holding_its_characters(parts: list[str]) -> None:
    answer = "".join(parts)
    read = normalise_answer(answer)
    assert len(read.starts) == len(read.ends) == len(read.text)
    for span in spans(read.text):
        s, e = read.original_span(span.start, span.end)
        assert 0 <= s <= e <= len(answer)
        # Every content character read comes, folded, from inside that range.
        source = fold_characters(answer[s:e])
        assert all(ch in source for ch in span.text if ch.isalnum())


def test_a_transcript_that_names_its_topic_again_starts_a_new_sentence() -> None:
    transcript = "温度是控制输出随机性的超参数温度调高分布更平输出更随机温度调低分布更尖输出更确定"
    assert normalise_answer(transcript).text == (
        "温度是控制输出随机性的超参数。温度调高分布更平输出更随机。温度调低分布更尖输出更确定"
    )


def test_a_pause_between_chinese_words_ends_a_clause_in_a_short_answer_too() -> None:
    assert normalise_answer("把温度系数调高 增加随机性 减少重复").text == "把温度系数调高，增加随机性，减少重复"
    assert normalise_answer("用 attention 算权重").text == "用 attention 算权重"  # spaces around English stay


# Fillers' characters, others beside them, pauses, and English hesitations in either case.
_SPOKEN = [*"嗯呃唔呣额啊哈呀就是说然后呢怎么我想让你知道吧那个这对反正也度 ，。、\n…", "um", "Hmm", "uh", "erm", "EMM"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*_SPOKEN, "a", "x"]), max_size=20))
def test_the_first_character_check_before_the_fillers_finds_every_filler_the_alternatives_find(
    pieces: list[str],
) -> None:
    text = "".join(pieces)
    unguarded = re.compile(_FILLER.pattern.removeprefix(f"(?=[{_FILLER_STARTS}])"), re.IGNORECASE)
    assert unguarded.pattern != _FILLER.pattern
    assert [m.span() for m in _FILLER.finditer(text)] == [m.span() for m in unguarded.finditer(text)]
