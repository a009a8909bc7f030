"""The lexical side of contradiction: reversals, sign folding and negation cues."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.scoring.contradiction import (
    containment,
    fold_signs,
    gram_units,
    grams,
    least_shared,
    may_hold,
    most_held,
    negated_terms,
    required_units,
    reversals,
    units_of,
)


def test_swapping_one_direction_falsifies_and_swapping_all_keeps_a_two_sided_claim_true() -> None:
    false_variants, true_variants = reversals("温度系数大于1时，低概率的词概率变大")
    assert "温度系数小于1时，低概率的词概率变大" in false_variants
    assert "温度系数大于1时，低概率的词概率变小" in false_variants
    assert true_variants == ["温度系数小于1时，低概率的词概率变小"]


def test_a_contrast_between_two_things_has_no_true_reversal() -> None:
    false_variants, true_variants = reversals("相比绝对位置编码，RoPE 是相对位置编码")
    assert "相比绝对位置编码，RoPE 是绝对位置编码" in false_variants
    assert true_variants == []


def test_directional_synonyms_fold_to_the_same_sign() -> None:
    assert fold_signs("温度调高") == fold_signs("温度升高") == fold_signs("温度越高")
    assert fold_signs("温度调高") != fold_signs("温度调低")


def test_containment_follows_what_is_said_of_what_across_commas_and_word_order() -> None:
    claim = "温度越高输出越确定"
    said = containment("温度越高，分布越尖锐，输出越确定", claim)
    assert said > containment("温度越低，分布越尖锐，输出越确定", claim)
    assert containment("编码器模型比如 GPT", "GPT 是编码器模型") > 0.5


def test_a_negation_right_before_a_term_negates_it_but_not_across_a_clause() -> None:
    text = "decoder 不需要 mask，也没有问题，attention 很重要"
    positions = [(text.index("mask"), text.index("mask") + 4), (text.index("attention"), text.index("attention") + 9)]
    assert negated_terms(text, positions) == [positions[0]]


_TEXT = st.text(alphabet=st.sampled_from(list("温度越高低输出随机的是，。；、 ab1.2Tx（）:不")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(_TEXT, max_size=3))
def test_the_units_bound_never_rules_out_a_share_the_grams_hold(text: str, claims: list[str]) -> None:
    """The conflict check skips a span whose units cannot make a misconception's distinctive grams: that must
    never skip one whose grams do hold them."""
    held = grams(text)
    assert all(gram_units(g) <= units_of(text) for g in held)
    for claim in claims:
        wanted = sorted(grams(claim))
        share = len(held & set(wanted)) / len(wanted) if wanted else 0.0
        if share >= 0.7:
            assert may_hold(units_of(text), [gram_units(g) for g in wanted], 0.7)
            assert required_units([gram_units(g) for g in wanted], 0.7) <= units_of(text)


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(_TEXT, max_size=3))
def test_a_span_sharing_fewer_units_than_the_least_never_holds_the_share(text: str, claims: list[str]) -> None:
    """The conflict check skips a span that shares fewer than `least_shared` of the units a misconception's
    distinctive grams use: `may_hold` is False for every such span."""
    units = units_of(text)
    # The bound it rests on: a text holds at most `most_held(k)` distinct grams made of k units.
    assert len(grams(text)) <= most_held(len(units))
    for claim in claims:
        for cut in range(3):  # the claim's grams, and subsets of them as a misconception's distinctive grams are
            needed = [gram_units(g) for g in sorted(grams(claim))[cut :: 3 if cut else 1]]
            used = frozenset().union(*needed)
            if may_hold(units, needed, 0.7):
                assert len(units & used) >= least_shared(needed, 0.7)


def test_the_least_shared_units_is_the_fewest_that_could_hold_the_share() -> None:
    assert least_shared([], 0.7) == 0
    assert [most_held(k) for k in range(4)] == [0, 3, 9, 18]
    one_pair = [frozenset({"a", "b"})]
    assert least_shared(one_pair, 0.7) == 1  # bound only: one unit cannot hold "a b", the bound allows it
    many = [frozenset({str(i), str(i + 1)}) for i in range(100)]
    assert least_shared(many, 0.7) == 7  # most_held(6) = 63 < 70 <= most_held(7) = 84
