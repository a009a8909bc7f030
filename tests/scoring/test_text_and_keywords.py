"""Segmentation keeps offsets; keywords match the ways candidates write them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.scoring import homophones
from grader.scoring.flags import _char_grams
from grader.scoring.keywords import find
from grader.scoring.lexical import (
    _shared,
    bigram_overlap,
    novel_overlap,
    opposite_swaps,
    other_script_share,
    reading_length,
)
from grader.scoring.text import normalise, spans
from grader.scoring.types import Keyword


def test_normalising_keeps_the_length_so_offsets_stay_valid() -> None:
    text = "ＲＬＨＦ（人类反馈）\u200b强化学习 Ｔ＞１"
    assert len(normalise(text)) == len(text)
    assert normalise("ＲＬＨＦ") == "rlhf"


def test_normalising_folds_every_full_width_and_zero_width_character_in_text_of_common_characters() -> None:
    # Chinese text with every character the fast path folds (full-width ASCII, the ideographic space, zero
    # widths) between the characters it keeps: the same copy as a translation through the whole table.
    table = {**dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), ord(" ")), 0x3000: ord(" ")}
    table |= {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
    text = "温度" + "".join(chr(cp) + "越高" for cp in table) + "ABC、。"
    assert normalise(text) == text.translate(table).lower()


def test_spans_cover_clauses_windows_and_sentences_with_exact_offsets() -> None:
    text = "温度越高，分布越平，输出越随机。温度越低，输出越保守"
    cut = spans(text)
    assert all(text[s.start : s.end] == s.text for s in cut)
    texts = {s.text for s in cut}
    assert {"温度越高", "温度越高，分布越平", "温度越高，分布越平，输出越随机", "温度越低，输出越保守"} <= texts


def test_english_sentences_split_on_full_stops_but_not_inside_numbers() -> None:
    texts = {s.text for s in spans("T is 0.7 by default. Higher T is more random.")}
    assert "T is 0.7 by default" in texts
    assert "Higher T is more random" in texts


def test_a_latin_keyword_matches_only_as_a_whole_word() -> None:
    rl = Keyword(term="RL")
    assert find(normalise("用 RL 训练"), rl)
    assert not find(normalise("用 RLHF 训练"), rl)
    assert find(normalise("ppo策略"), Keyword(term="PPO"))


def test_aliases_match_across_languages_and_spellings() -> None:
    mha = Keyword(term="多头注意力", aliases=["multi-head attention", "MHA"])
    for answer in ("多头注意力机制", "Multi Head Attention", "multihead attention", "用 mha"):
        assert find(normalise(answer), mha), answer
    assert [h.keyword for h in find(normalise("MHA"), mha)] == ["多头注意力"]


def test_a_quality_named_with_xing_is_found_where_the_answer_uses_its_adjective() -> None:
    # "温度越大输出越随机" says the temperature governs 随机性; a keyword of two characters keeps its 性.
    assert find(normalise("温度越大输出越随机"), Keyword(term="随机性"))
    assert find(normalise("保证了数据的一致"), Keyword(term="一致性"))
    assert find(normalise("随机性很强"), Keyword(term="随机性"))
    assert not find(normalise("线的长度"), Keyword(term="线性"))


def test_the_share_of_an_answer_in_the_other_script_is_measured_against_the_reference_s_script() -> None:
    chinese_reference = "随机森林用 bagging 并行训练多棵树，XGBoost 用 boosting 串行拟合残差。"
    assert other_script_share("Random forest trains its trees in parallel, 用 bagging。", chinese_reference) == 8 / 9
    assert other_script_share("随机森林并行训练，XGBoost 串行。", chinese_reference) == 1 / 11
    assert other_script_share("随机森林并行训练", "Random forest trains trees in parallel.") == 1.0
    assert other_script_share("2024 年", chinese_reference) == 0.0  # numbers are neither script


def test_echoing_the_question_is_no_overlap_with_what_the_reference_answers() -> None:
    question = "信息的特征有哪些？"
    reference = "信息的特征：客观性、传递性、时效性、价值性、不对称性、共享性。"
    echo = "信息的特征有很多。"
    right = "客观性、传递性和时效性。"
    # Plain bigram overlap credits the echo of the question...
    assert bigram_overlap(echo, reference)[0] >= 0.5
    # ... overlap beyond the question's own bigrams does not, and credits the answer.
    assert novel_overlap(echo, reference, question) == (0.0, 0.0)
    precision, recall = novel_overlap(right, reference, question)
    assert precision > 0.7 and 0.3 < recall < 0.7


def test_turning_the_references_wording_into_its_opposite_is_counted_restating_it_is_not() -> None:
    reference = "管道运输的优缺点：优点——运费低、可靠性高和持续性长。缺点——产品单一。"
    assert opposite_swaps("管道运输优点是持续性短。", reference) == 1
    assert opposite_swaps("优点是运费高，可靠性低。", reference) >= 2  # word pairs on either side of each
    assert opposite_swaps("优点是运费低、可靠性高、持续性长。", reference) == 0
    # Paired operations are not opposite claims: "后进先出" beside a reference that says "先进先出".
    assert opposite_swaps("栈是后进先出，队列是先进先出。", "队列的特点是先进先出。") == 0


def test_keyword_matching_does_not_depend_on_the_process_hash_seed() -> None:
    # Equal-length forms were ordered as a set iterates, which changes with PYTHONHASHSEED: two worker processes
    # matched q06's overlapping forms differently and measured different signals for the same answer.
    program = (
        "from grader.scoring.keywords import canonicaliser, forms_pattern\n"
        "from grader.scoring.types import Keyword\n"
        "forms = ('越大', '调大', '越高', '升高', '增大', 'T>1', '大于1', '越平', '变平', '平坦', '更平')\n"
        "kws = [Keyword(term='大于 1', aliases=list(forms))]\n"
        "print(forms_pattern(forms).pattern, canonicaliser(kws).pattern)\n"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(seen) == 1


def test_a_latin_word_is_as_long_as_a_chinese_word_and_a_number_as_a_character() -> None:
    assert reading_length("滑动平均") == 4
    assert reading_length("running mean") == 3  # two words, 1.7 units each
    assert reading_length("batch size 为 32") == 5  # 3.4 + 为 + the number
    # A term comes out about as long in either script; counted a unit a word, "random forest" read half as long.
    assert (reading_length("random forest"), reading_length("随机森林")) == (3, 4)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(-2, 4)),
    st.dictionaries(st.sampled_from("abcdef"), st.integers(-2, 4)),
)
def test_the_shared_bigram_count_is_the_size_of_the_counters_intersection(
    mine: dict[str, int], theirs: dict[str, int]
) -> None:
    assert _shared(Counter(mine), Counter(theirs)) == sum((Counter(mine) & Counter(theirs)).values())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("温度越高ab1，。 ")), max_size=12))
def test_an_answers_character_grams_are_its_compact_texts_five_character_slices(text: str) -> None:
    compact = "".join(filter(str.isalnum, normalise(text)))
    assert _char_grams(text) == {compact[i : i + 5] for i in range(len(compact) - 4)}


# Characters that sound alike (编码器/编码期, 注意力/主意力, 位置/未知) and some that do not.
_HEARD = list("编码器期解注意力主位置未知重复虫福温度稳渡是的 ，a")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(_HEARD), max_size=16),
    st.lists(st.text(alphabet=st.sampled_from(_HEARD[:-3]), min_size=2, max_size=4), min_size=1, max_size=3),
)
def test_a_form_skipped_before_its_readings_are_tried_has_no_sound_alike_match(text: str, forms: list[str]) -> None:
    """`sound_alike_any` skips a form the answer lacks a character or a sound of: it finds what trying every form
    finds."""
    chosen = [f for f in forms if 2 <= len(f) <= 8 and all("\u4e00" <= ch <= "\u9fff" for ch in f)]
    assert homophones.sound_alike_any(text, tuple(forms)) == [
        hit for form in chosen for hit in homophones.sound_alike(text, form)
    ]
    assert homophones.sound_alike_any("位置编码期", ("编码器",)) == [(2, 5)]
