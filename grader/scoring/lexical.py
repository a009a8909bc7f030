"""Lexical overlap between an answer and its reference, the same measure in any bank.

Character bigrams need no segmenter and carry Chinese well (a word is mostly two characters);
reference tokens come from jieba once per reference and are looked up in the answer as substrings,
so the answer itself is never segmented on the hot path.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from grader.scoring.text import content_length, normalise

UNIT = re.compile(r"[a-z0-9]+|[^\W\d_a-z]", re.UNICODE)  # a Latin word or number, or one CJK character
# Function words that say nothing about content ("的", "是", "the").
_STOP = frozenset(
    """的 了 是 在 和 与 就 也 都 而 及 或 被 把 这 那 个 一 种 时 会 能 要 有 为 以 对 中 上 下 等 其 之 所 即
    可以 进行 一个 这个 那个 就是 如果 因为 所以 但是 以及 或者 通过 由于 其中 然后 需要 可能 使得 没有 不是
    the a an of to is are and or in on for with by as be it this that""".split()  # noqa: SIM905
)


# Words too general to show that a point is understood: not a keyword of a drafted key point, not an item of a
# reference's enumeration.
GENERAL_WORDS = frozenset(
    """模型 数据 输出 输入 进行 通过 基于 一个 这个 那个 可以 能够 需要 就是 还是 比如 然后 接着 首先
    最后 过程 问题 结果 方法 本来 以及 变为 加入 引入 得到 使得 实际上 原本 直接 虽然 但是 所以 因为
    应为 应该 作为 采用 关注 一步 一次 两次 再次 仍然 最终 接下来 部分 传统 板块 模块
    and the of to is are in for with""".split()  # noqa: SIM905 (a word list reads better as text)
)

# An enumeration's items ("程序计数器、虚拟机栈和本地方法栈是线程私有的"): the words that open its first item
# and close its last one are not part of them.
_ITEM_BREAK = re.compile(r"、|以及|和|与|及|或")
# ... nor the number of a numbered list ("3. 防抖、节流、memoize"), nor the quotation marks around the items
# ("防止“分配内存、初始化、赋值引用”被重排序").
_ITEM_LEAD_IN = re.compile(
    r"^.*(?:其中|包括|包含|分为|分成|分别是|出现|导致|存放|支持|提供|有|如|比如|例如|像|即|是|为|：|:|[“「『])"
    r"|^\s*(?:\d{1,2}[.、)）](?!\d)|[（(]\d{1,2}[)）]|[①-⑳])"
)
_ITEM_TAIL = re.compile(r"(?:是|的|等|都|会|这|在|共|均|[”」』]|[一二三四五六七八九十两几]+(?:个|种|部分|块|类|大)).*$")
MAX_ITEM_UNITS = 8  # CJK characters and Latin words: 程序计数器 5, MessageChannel 1


def enumeration_items(text: str) -> list[str]:
    """The items of the enumerations ("A、B 和 C": three or more, one 、 at least) in a text, each a word or a
    short term: a drafted key point's keywords, and the siblings a claim can be swapped for (`claims`)."""
    items: list[str] = []
    for clause in re.split(r"[，,。；;（）()\n]", text):
        if "、" not in clause:
            continue
        parts = [p.strip() for p in _ITEM_BREAK.split(clause)]
        if len(parts) < 3:
            continue
        parts[0] = _ITEM_LEAD_IN.sub("", parts[0]).strip()
        parts[-1] = _ITEM_TAIL.sub("", parts[-1]).strip()
        items += [
            p for p in parts if len(p) >= 2 and len(units(p)) <= MAX_ITEM_UNITS and p.lower() not in GENERAL_WORDS
        ]
    return list(dict.fromkeys(items))


def units(text: str) -> list[str]:
    """CJK characters one by one, Latin words and numbers whole, punctuation dropped."""
    return UNIT.findall(normalise(text))


@lru_cache(maxsize=16)
def _normalised(answer: str) -> str:
    """`normalise(answer)`, read once for the measures of one answer (its units, token and term recall, formulas,
    swaps) rather than by each."""
    return normalise(answer)


@lru_cache(maxsize=16)
def answer_units(answer: str) -> tuple[str, ...]:
    """An answer's `units`, shared by the measures read on it (its length, its script, its bigrams). Read-only."""
    return tuple(UNIT.findall(_normalised(answer)))


def _latin_share(found: Sequence[str]) -> float:
    words = [u for u in found if not u.isdigit()]
    return sum(u[0].isascii() for u in words) / len(words) if words else 0.0


def other_script_share(answer: str, reference: str) -> float:
    """Share of the answer's words written in the script its reference mostly does not use: English words in
    an answer to a Chinese reference, Chinese characters in one to an English reference (numbers count as
    neither). The lexical overlaps undercount such an answer, whatever it says; the fit can weigh them less."""
    latin = _latin_share(answer_units(answer))
    return latin if _reference_latin_share(reference) < 0.5 else 1.0 - latin


@lru_cache(maxsize=256)
def _reference_latin_share(reference: str) -> float:
    """A reference's share of Latin words, read once: every answer to it compares with it."""
    return _latin_share(units(reference))


# A Latin word is a whole word where a CJK character is part of one: Chinese words run 1.7 characters (jieba's
# words in every reference and answer of the labelled sets: 1.76 and 1.71, `bench/word_length.py`). Counted as
# one, an answer naming its terms in English ("running mean", "batch size") read shorter than the same content
# in Chinese, and the fitted models, which weigh length, placed english_mixed answers below their Chinese twins.
LATIN_WORD_UNITS = 1.7


def reading_length(text: str) -> int:
    """A text's length in reading units: a CJK character or a number counts one, a Latin word 1.7 (rounded)."""
    return _reading_length(units(text))


def answer_length(answer: str) -> int:
    """An answer's `reading_length`, from the units its other measures read (`answer_units`)."""
    return _reading_length(answer_units(answer))


def _reading_length(found: Sequence[str]) -> int:
    return round(sum(LATIN_WORD_UNITS if u[0].isascii() and not u.isdigit() else 1.0 for u in found))


@lru_cache(maxsize=256)
def reference_units(reference: str) -> int:
    """A reference's `reading_length`, counted once: every answer's signals carry it."""
    return reading_length(reference)


def bigrams(text: str) -> Counter[str]:
    return _bigrams(units(text))


def _bigrams(found: Sequence[str]) -> Counter[str]:
    if len(found) == 1:
        return Counter(found)
    return Counter(map("\x1f".join, itertools.pairwise(found)))  # a + "\x1f" + b, joined without a Python loop


@lru_cache(maxsize=256)
def reference_bigrams(reference: str) -> Counter[str]:
    """A reference's (or question's) bigrams, cached: every answer to it needs them. Read-only."""
    return bigrams(reference)


@lru_cache(maxsize=16)
def _answer_bigrams(answer: str) -> Counter[str]:
    """The answer's bigrams, shared by the overlaps measured on one answer. Read-only."""
    return _bigrams(answer_units(answer))


def _shared(mine: Counter[str], theirs: Counter[str]) -> int:
    """`sum((mine & theirs).values())` without building the intersection: Counter's & is Python, and looks each
    of the answer's bigrams up in the reference's through `__missing__`."""
    return sum(n for g in mine.keys() & theirs.keys() if (n := min(mine[g], theirs[g])) > 0)


def bigram_overlap(answer: str, reference: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the answer's character bigrams against the reference's (multiset)."""
    mine, theirs = _answer_bigrams(answer), reference_bigrams(reference)
    if not mine or not theirs:
        return 0.0, 0.0, 0.0
    shared = _shared(mine, theirs)
    precision, recall = shared / sum(mine.values()), shared / sum(theirs.values())
    f1 = 2 * precision * recall / (precision + recall) if shared else 0.0
    return precision, recall, f1


@lru_cache(maxsize=256)
def _novel_reference(reference: str, question: str) -> Counter[str]:
    asked = reference_bigrams(question)
    return Counter({g: n for g, n in reference_bigrams(reference).items() if g not in asked})


def novel_overlap(answer: str, reference: str, question: str) -> tuple[float, float]:
    """(precision, recall) of character bigrams against the reference, both leaving out the question's.

    A reference usually restates its question ("信息的特征：客观性、……"), and so do answers: echoing the
    question is not answering it ("信息的特征有对称性等" shares half its bigrams with the reference and
    earned 0). What is left is what the answer adds, and what the reference says beyond the question.
    """
    theirs = _novel_reference(reference, question)
    asked = reference_bigrams(question)
    mine = Counter({g: n for g, n in _answer_bigrams(answer).items() if g not in asked})
    if not mine or not theirs:
        return 0.0, 0.0
    shared = _shared(mine, theirs)
    return shared / sum(mine.values()), shared / sum(theirs.values())


# Opposites a wrong answer swaps into the reference's own wording ("持续性长" -> "持续性短", "信息密度低" ->
# "信息密度高"): characters that flip a claim whatever the subject, and a few words.
# Only opposite qualities: pairs that name two operations or two things (进栈/出栈, 先进先出/后进先出,
# 内存/外存, 单链表/双链表, 需要/不需要 移动) fired on correct ADS answers (human mean 8+).
_OPPOSITE_PAIRS = "高低长短大小多少有无动静快慢强弱难易增减升降正负真假轻重宽窄厚薄早晚远近新旧深浅粗细密疏"
OPPOSITE_CHARS = {
    **dict(zip(_OPPOSITE_PAIRS[::2], _OPPOSITE_PAIRS[1::2], strict=True)),
    **dict(zip(_OPPOSITE_PAIRS[1::2], _OPPOSITE_PAIRS[::2], strict=True)),
}
_OPPOSITE_WORDS = {
    a: b
    for pair in (
        ("简单", "复杂"),
        ("容易", "困难"),
        ("集中", "分散"),
        ("提高", "降低"),
        ("增加", "减少"),
        ("准确", "不准确"),
        ("稳定", "不稳定"),
    )
    for a, b in (pair, pair[::-1])
}


@lru_cache(maxsize=256)
def _opposites(reference: str) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[tuple[str, str], ...]]:
    """Per reference: each word pair with its opposite-turned forms the reference does not itself hold,
    and each word whose opposite it does not hold."""
    theirs = reference_bigrams(reference)
    grams = []
    for gram in theirs:
        if "\x1f" not in gram:
            continue
        left, right = gram.split("\x1f")
        flipped = [f"{OPPOSITE_CHARS[left]}\x1f{right}"] if left in OPPOSITE_CHARS else []
        flipped += [f"{left}\x1f{OPPOSITE_CHARS[right]}"] if right in OPPOSITE_CHARS else []
        flipped = [f for f in flipped if f not in theirs]
        if flipped:
            grams.append((gram, tuple(flipped)))
    norm = normalise(reference)
    words = tuple((w, o) for w, o in _OPPOSITE_WORDS.items() if w in norm and o not in norm)
    return tuple(grams), words


def opposite_swaps(answer: str, reference: str) -> int:
    """How many of the reference's word pairs the answer holds with one side turned into its opposite
    (and not as the reference has it): "持续性短" where the reference says "持续性长"."""
    grams, words = _opposites(reference)
    mine = _answer_bigrams(answer)
    swaps = sum(1 for gram, flipped in grams if gram not in mine and any(f in mine for f in flipped))
    if words:
        norm = _normalised(answer)
        swaps += sum(1 for word, opposite in words if opposite in norm and word not in norm.replace(opposite, ""))
    return swaps


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """jieba's tokenizer with its default dictionary, built once (read-only once initialised)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    built = jieba.Tokenizer()
    built.initialize()
    return built


def content_tokens(text: str) -> tuple[str, ...]:
    """The reference's distinct content words (jieba), single CJK characters and stopwords left out."""
    words = tokenizer().lcut(normalise(text))
    out = dict.fromkeys(
        w.strip()
        for w in words
        if w.strip() and w.strip() not in _STOP and (len(w.strip()) >= 2 or w.strip().isascii()) and UNIT.search(w)
    )
    return tuple(out)


@lru_cache(maxsize=256)
def reference_tokens(reference: str) -> tuple[str, ...]:
    return content_tokens(reference)


def token_recall(answer: str, reference: str) -> float:
    """Share of the reference's content words that the answer contains."""
    tokens = reference_tokens(reference)
    if not tokens:
        return 0.0
    norm = _normalised(answer)
    return sum(1 for t in tokens if t in norm) / len(tokens)


@lru_cache(maxsize=1)
def _idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (it ships with jieba) and the weight of a word it does not know.

    A word's IDF says how rare it is in general Chinese text: 区别/执行/完成 weigh little, 宏任务/闭包/
    正则化 a lot. A word the table lacks (an English term, a new compound) is taken as rare as the table's
    90th percentile: it is not general vocabulary.
    """
    import jieba

    table: dict[str, float] = {}
    for line in (Path(jieba.__file__).parent / "analyse" / "idf.txt").read_text(encoding="utf-8").splitlines():
        word, _, value = line.rpartition(" ")
        if word:
            table[word] = float(value)
    values = sorted(table.values())
    return table, values[int(0.9 * (len(values) - 1))]


def rarity(word: str) -> float:
    table, unknown = _idf()
    return table.get(word, unknown)


@lru_cache(maxsize=256)
def _novel_terms(reference: str, question: str) -> tuple[tuple[str, float], ...]:
    """The reference's content words its question does not use, each with its rarity."""
    asked = normalise(question)
    return tuple((t, rarity(t)) for t in reference_tokens(reference) if t not in asked)


def term_recall(answer: str, reference: str, question: str) -> float:
    """Share of the reference's content words beyond the question that the answer holds, each weighted by
    its rarity: naming 宏任务 and 微任务 shows more than naming 执行 and 完成."""
    terms = _novel_terms(reference, question)
    total = sum(w for _, w in terms)
    if not total:
        return 0.0
    norm = _normalised(answer)
    return sum(w for t, w in terms if t in norm) / total


# Formulas, counts and complexities ("2^(n-1)", "(2n+1)/3", "O(1)", "TP/(TP+FP)"): a terse answer that states
# the reference's result ("共2^(n-1)个") shares few words with a reference that derives it, and the words it
# shares say nothing of whether the result is right. Runs of Latin letters, digits and operators are read
# with the spaces around operators dropped and a few operator spellings folded; only runs holding a digit, an
# operator or a function's bracket count (a plain English word is for the other overlaps).
_EXPRESSION = re.compile(r"[a-z0-9_^()\[\]+\-*/<>.|!]+")
# Spaces around operators dropped, but not between a formula and a bracket that opens the next ("n/2 (2n+1)/3").
_OPERATOR_SPACE = re.compile(r"\s*([\^+\-*/<>=])\s*|(\()\s+|\s+(\))")
# "(1)", "1." or "1、" numbering an item, at the start of a line or after a separator, is not a formula.
_ENUMERATOR = re.compile(r"(?:^|(?<=[\s:;,]))(?:\(\d\)(?=\s*[a-z0-9(])|\d(?:\.(?=\s)|、))", re.MULTILINE)
# Operator spellings `normalise` leaves as they are (it folds full-width brackets itself).
_EXPRESSION_FOLD = {"×": "*", "·": "*", "−": "-", "–": "-", "÷": "/"}
# Only these characters replaced, not the text translated: translate looks up every character (`text.normalise`).
_EXPRESSION_FOLDABLE = re.compile("[" + "".join(_EXPRESSION_FOLD) + "]")
_OPERATOR_OR_DIGIT = re.compile(r"[0-9^+\-*/<>]|[a-z]\(")  # a digit, an operator or a function: O(n)
# Powers as Chinese says them ("2的n-1次方", "2的（n-1）次方") and as code writes them ("pow(2, n-1)") read as
# "2^(n-1)": the exponent bracketed, as "2^n-1" written so means something else.
_SPOKEN_POWER = re.compile(r"([a-z0-9]+|\([^()]*\))\s*的\s*\(?([a-z0-9+\-*/ ]{1,12}?)\)?\s*次方")
_POW_CALL = re.compile(r"pow\(\s*([a-z0-9+\-*/]+)\s*,\s*([a-z0-9+\-*/]+)\s*\)")
_IMPLICIT_TIMES = re.compile(r"(?<=[0-9])\*(?=[a-z(])")  # 2*n is 2n
_BARE_EXPONENT = re.compile(r"\^\(([a-z0-9]+)\)")  # 2^(n) is 2^n
_TOP_LEVEL_SIGN = re.compile(r"(?<=[a-z0-9)\]])[+\-](?![^(]*\))")  # a + or - outside every bracket
# A formula as a term of a sum: an operator other than + and -, a function, or a coefficient ("2n", "n2").
_FORMULA_TERM = re.compile(r"[\^*/<>]|[a-z]\(|[0-9][a-z]|[a-z][0-9]")
# Arithmetic, not a name written with a slash or a version ("async/await", "http/2", "l1"): an operator between
# numbers or one-letter variables, or a one-letter function ("O(n)", "C(2n,n)").
_ARITHMETIC = re.compile(
    r"(?:^|(?<![a-z]))(?:[0-9]+|[a-z])\)*[\^*/+\-<>]\(*(?:[0-9]+|[a-z])(?![a-z])|(?:^|(?<![a-z]))[a-z]\("
)


def _expression_text(text: str) -> str:
    """Operators folded, powers read as "^", numbering dropped, spaces around operators dropped; "=" splits a
    formula into its sides."""
    folded = _EXPRESSION_FOLDABLE.sub(lambda m: _EXPRESSION_FOLD[m.group(0)], _normalised(text))
    powers = _POW_CALL.sub(r"\1^(\2)", _SPOKEN_POWER.sub(r"\1^(\2)", _ENUMERATOR.sub(" ", folded)))
    return _OPERATOR_SPACE.sub(lambda m: m.group(1) or m.group(2) or m.group(3), powers).replace("=", " ")


def _canonical(expression: str) -> str:
    return _BARE_EXPONENT.sub(r"^\1", _IMPLICIT_TIMES.sub("", expression))


def expressions(text: str) -> frozenset[str]:
    """The formulas and numbers a text states, spaces dropped, trailing full stops left out, written one way."""
    found = (m.group(0).strip(".") for m in _EXPRESSION.finditer(_expression_text(text)))
    return frozenset(_canonical(e) for e in found if _OPERATOR_OR_DIGIT.search(e) and e.strip("()[]"))


@lru_cache(maxsize=256)
def _reference_expressions(reference: str) -> frozenset[str]:
    """The reference's formulas and numbers, and the terms of a sum that are formulas themselves: "O(n)" of
    "2T(n/2)+O(n)", but not "1" of "n-1" (a bare number or letter inside a formula is not a result)."""
    whole = expressions(reference)
    return whole | {t for e in whole for t in _TOP_LEVEL_SIGN.split(e) if t != e and _FORMULA_TERM.search(t)}


def formulas(answer: str, reference: str) -> tuple[float, bool]:
    """(precision, result) of the answer's formulas and numbers against the reference's.

    precision: the share of them the reference states as a whole formula or number (a number inside a longer
    formula is not one: "1" is not stated by "2^(n-1)"), 0 where the answer states none.
    result: whether the answer is the reference's result, as "错误" can be its verdict: its formulas, all the
    reference's and one of them arithmetic, are most of what it says ("共2^(n-1)个" to a reference deriving it).
    """
    mine = expressions(answer)
    if not mine:
        return 0.0, False
    theirs = _reference_expressions(reference)
    stated = sum(1 for e in mine if e in theirs)
    result = (
        stated == len(mine)
        and any(_ARITHMETIC.search(e) for e in mine)
        and 2 * sum(len(e) for e in mine) >= content_length(answer)
    )
    return stated / len(mine), result
