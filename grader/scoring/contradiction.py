"""Catching answers that say the opposite of a key point.

Every embedder measured here scores "温度越低越随机" about as close to "温度越高越随机" as a paraphrase,
so similarity alone would give a reversed answer full credit. This layer decides, for the spans of
the answer that talk about a key point (they carry its terms or sit close to it), whether each reads
more like one of the key point's correct statements or like one of its misconceptions:

- curated misconceptions from the reference file ("温度越低输出越随机");
- reversals generated from the statements themselves: swapping one directional word of an antonym
  pair (大于↔小于, 绝对↔相对, 单向↔双向, ...) falsifies a statement, while swapping every one of them
  keeps a two-sided statement true ("大于1时低概率词变大" ⇔ "小于1时高概率词变小");
- a negation cue (不是/并非/没有/not …) right before one of the key point's terms, where none of the
  key point's own statements negates that term.

"Reads more like" combines embedding similarity with a lexical overlap on characters in which the
directional words of each antonym pair are folded to one sign, so 调高/升高/变大 count as the same claim.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from grader.scoring.text import normalise

# Pairs of directional words: swapping one side for the other reverses a claim.
ANTONYMS: tuple[tuple[str, str], ...] = (
    ("大于", "小于"),
    ("高于", "低于"),
    ("多于", "少于"),
    ("越高", "越低"),
    ("越大", "越小"),
    ("越多", "越少"),
    ("调高", "调低"),
    ("升高", "降低"),
    ("提高", "降低"),
    ("增大", "减小"),
    ("增加", "减少"),
    ("变大", "变小"),
    ("变高", "变低"),
    ("上升", "下降"),
    ("绝对", "相对"),
    ("单向", "双向"),
    ("有监督", "无监督"),
    ("可解释", "不可解释"),
    ("平滑", "尖锐"),
    ("编码器", "解码器"),
    ("encoder", "decoder"),
    ("更平", "更尖"),
    ("higher", "lower"),
    ("larger", "smaller"),
    ("increase", "decrease"),
    ("absolute", "relative"),
    ("unidirectional", "bidirectional"),
    ("supervised", "unsupervised"),
)

# Directional words folded to one sign for lexical comparison (longest first when replacing).
_SIGN_WORDS = {
    "+": [
        "大于",
        "高于",
        "多于",
        "越高",
        "越大",
        "越多",
        "调高",
        "升高",
        "提高",
        "增大",
        "增加",
        "变大",
        "变高",
        "上升",
        "更高",
        "更大",
        "更多",
        "调大",
        "higher",
        "larger",
        "increase",
    ],
    "-": [
        "小于",
        "低于",
        "少于",
        "越低",
        "越小",
        "越少",
        "调低",
        "降低",
        "减小",
        "减少",
        "变小",
        "变低",
        "下降",
        "更低",
        "更小",
        "更少",
        "调小",
        "lower",
        "smaller",
        "decrease",
    ],
}
_SIGN_PATTERN = re.compile(
    "|".join(sorted((re.escape(w) for ws in _SIGN_WORDS.values() for w in ws), key=len, reverse=True))
)
_SIGN_OF = {w: sign for sign, ws in _SIGN_WORDS.items() for w in ws}

# Characters too common to say anything about which claim a span makes.
_FILLER = set("的了是在和与就也都而及或被把这那个一种时候会能要说我你他它们吧呢啊嘛呀么")
# Units of comparison: a CJK character, a Latin word, a number, or a folded direction sign.
_UNIT = re.compile(r"[a-z][a-z0-9'_\-]*|\d+(?:\.\d+)?|[⊕⊖]|[^\sa-z0-9\W]")
_CLAUSE = re.compile(r"[，,。；;：:！!？?、\n()（）]+")
_SENTENCE = re.compile(r"[。；;！!？?\n]+")
_NEGATION = re.compile(
    r"(?:不是|并非|并不|不会|不能|无法|没有|不需要|不用|不再|(?<![a-z_])(?:not|no|never|isn't|doesn't|don't"
    r"|cannot|can't|without)(?![a-z_])|不(?!同|断|仅|少|错|然|过|管|一样))"
)
NEGATION_REACH = 6  # characters between a negation cue and the term it negates ("不影响输出的随机性")
# A negation inside a condition asserts nothing: "如果没有位置编码，模型就无法区分词序" is a correct answer.
_CONDITIONAL = re.compile(r"如果|假如|若|要是|一旦|的话|(?<![a-z])(?:if|unless|without)(?![a-z])")
# Curated statements also phrase conditions as "没有位置编码时…" / "没有位置编码，模型就…".
_STATEMENT_CONDITIONAL = re.compile(_CONDITIONAL.pattern + r"|时|就|则|(?<![a-z])when(?![a-z])")
# Verbs that make a term something to get rid of: "抑制重复" agrees with "不重复", it is no reversal.
_SUPPRESSION = re.compile(r"抑制|减少|避免|防止|降低|惩罚|缓解|消除|打低分|reduce|avoid|prevent|penali[sz]e|suppress")
SUPPRESSION_REACH = 8


def crosses_sentences(text: str) -> bool:
    return _SENTENCE.search(text.strip("。；;！!？?\n ")) is not None


def parallel_clauses(text: str) -> bool:
    """Whether two of the text's clauses open with the same words: "温度越大输出越随机，温度越小输出越保守"
    states two claims, one per clause, and a window over both pairs the first one's subject with the
    second one's predicate, a claim neither clause makes."""
    openings = [_opening(clause) for clause in _CLAUSE.split(text) if clause.strip()]
    return len(set(openings)) < len(openings)


# An answer's windows repeat its clauses (each clause is read alone and in the windows over it): its openings are
# read once. Sized for one answer's clauses, not to keep answers.
@lru_cache(maxsize=64)
def _opening(clause: str) -> tuple[str, ...]:
    """A clause's first two units, read no further than they are."""
    return tuple(m.group(0) for m in itertools.islice(_UNIT.finditer(clause), 2))


def fold_signs(text: str) -> str:
    return _SIGN_PATTERN.sub(lambda m: "⊕" if _SIGN_OF[m.group(0)] == "+" else "⊖", normalise(text))


PAIR_WINDOW = 16  # units apart that still make one claim ("温度越高，分布越尖锐，输出越确定")


def grams(text: str) -> frozenset[str]:
    """Adjacent pairs of units within each clause, and unordered pairs up to PAIR_WINDOW apart
    within each sentence.

    Adjacent pairs keep the words ("相对位置" is not "绝对位置"); the wider unordered pairs keep what is
    said of what, across commas and in either word order ("温度越高，…，输出越确定"; "GPT 是编码器" ≈
    "编码器模型比如 GPT"). Where a sentence pairs things both ways ("BERT 是编码器，GPT 是解码器"), the
    correct statements match it as well, and the comparison with them keeps it from counting.
    """
    out: set[str] = set()
    for sentence in _SENTENCE.split(fold_signs(text)):
        for clause in _CLAUSE.split(sentence):
            units = [u for u in _UNIT.findall(clause) if u not in _FILLER]
            if len(units) < 2:
                out.update(units)
            out.update(units[i] + " " + units[i + 1] for i in range(len(units) - 1))
        units = [u for u in _UNIT.findall(sentence) if u not in _FILLER]
        for i, left in enumerate(units):
            for right in units[i + 2 : i + 1 + PAIR_WINDOW]:
                out.add(f"{left}~{right}" if left <= right else f"{right}~{left}")  # the pair in either order
    return frozenset(out)


def units_of(text: str) -> frozenset[str]:
    """Every unit the grams of `text` can be made of (`grams` pairs units found in its clauses and sentences,
    and a unit never spans their breaks)."""
    return frozenset(_UNIT.findall(fold_signs(text)))


def gram_units(gram: str) -> frozenset[str]:
    """The units of one gram: two joined by a space (adjacent) or a ~ (in one sentence), or a lone unit."""
    return frozenset(re.split("[ ~]", gram))


def may_hold(units: frozenset[str], needed: Sequence[frozenset[str]], share: float) -> bool:
    """Whether a text made of `units` could hold `share` of some grams (given as each gram's units): a gram is
    held only where both its units are, so False means it cannot, without pairing the text's units. Nothing
    needed: False (no share of nothing is held)."""
    if not needed:
        return False
    return sum(map(units.issuperset, needed)) / len(needed) >= share


# A span says a misconception only if it holds at least this share of the misconception's distinctive grams
# (`conflicts.find_conflict`); `PreparedReference.unit_bounds` is worked out for it once per reference.
DISTINCTIVE_SHARE = 0.7


def required_units(needed: Sequence[frozenset[str]], share: float) -> frozenset[str]:
    """The units a text must hold for `may_hold` to be True: each is in so many of the grams that those without
    it fall short of `share` (a gram is held only where its units are). A test of a text's units far cheaper than
    counting the grams it may hold; most of the spans checked fail it."""
    if not needed:
        return frozenset()
    used = frozenset().union(*needed)
    return frozenset(u for u in used if sum(u not in g for g in needed) / len(needed) < share)


def most_held(shared: int) -> int:
    """The most distinct grams made of `shared` units: each unit alone, each unit with itself (adjacent, and
    within a sentence: "a a", "a~a"), and each two of them three ways ("a b", "b a", "a~b")."""
    return 3 * shared + 3 * shared * (shared - 1) // 2


def least_shared(needed: Sequence[frozenset[str]], share: float) -> int:
    """The fewest of the units `needed` uses that a text must hold for `may_hold` to be True: a text sharing k of
    them holds at most `most_held(k)` of the grams. One set intersection rules out most spans that pass
    `required_units` (70% on the dev set), where `may_hold` tests every gram (up to 260 for a misconception)."""
    if not needed:
        return 0
    shared = 0
    while most_held(shared) / len(needed) < share:
        shared += 1
    return shared


# Claims (statements, misconceptions) recur for every answer; spans almost never do, so only claims
# are cached: caching span grams grew a worker by hundreds of MB over a 10,000-answer batch.
claim_grams = lru_cache(maxsize=8192)(grams)


def containment(span: str | frozenset[str], claim: str) -> float:
    """Share of the claim's grams that the span (text, or its grams) contains."""
    wanted = claim_grams(claim)
    if not wanted:
        return 0.0
    held = span if isinstance(span, frozenset) else grams(span)
    return len(wanted & held) / len(wanted)


CLAIM_CLAUSE_CHARS = 6  # shorter clauses ("T 大于 1") say too little to stand as a claim alone


def claim_clauses(statement: str) -> list[str]:
    """The statement's clauses long enough to be a claim of their own."""
    pieces = (p.strip() for p in _CLAUSE.split(statement))
    return [p for p in pieces if len(p) >= CLAIM_CLAUSE_CHARS and p != statement.strip()]


def reversals(statement: str) -> tuple[list[str], list[str]]:
    """(false variants, true variants) of a statement from its antonym words.

    Each single swap of a directional word falsifies the statement. Swapping all of them at once
    keeps a statement that relates two directions true, so that variant counts as correct.
    """
    found = [(m.start(), m.end(), m.group(0)) for m in _pair_pattern().finditer(statement)]
    if not found:
        return [], []

    def swap(positions: Iterable[int]) -> str:
        chosen = set(positions)
        out, last = [], 0
        for i, (s, e, word) in enumerate(found):
            out.append(statement[last:s])
            out.append(_opposite()[word] if i in chosen else word)
            last = e
        out.append(statement[last:])
        return "".join(out)

    false_variants = [swap([i]) for i in range(len(found))]
    # Only directional words relate two quantities; swapping both sides of a contrast such as
    # 绝对/相对 ("unlike absolute encodings, RoPE is relative") does not stay true.
    all_directional = all(word in _SIGN_OF for _, _, word in found)
    true_variants = [swap(range(len(found)))] if len(found) > 1 and all_directional else []
    return false_variants, true_variants


@lru_cache(maxsize=1)
def _opposite() -> dict[str, str]:
    return {**{a: b for a, b in ANTONYMS}, **{b: a for a, b in ANTONYMS}}


@lru_cache(maxsize=1)
def _pair_pattern() -> re.Pattern[str]:
    words = sorted(_opposite(), key=len, reverse=True)
    # "不可解释" contains "可解释": the longest alternative wins at each position.
    return re.compile("|".join(re.escape(w) for w in words))


_CLAUSE_END = re.compile(r"[，,。；;！!？?\n]")


def _preceded_by(pattern: re.Pattern[str], text: str, start: int, reach: int) -> bool:
    """Whether a cue ends at most `reach` characters before `start`, in the same clause."""
    longest_cue = 8
    before = text[max(0, start - reach - longest_cue) : start]
    # Stop at a clause break: a cue in the previous clause is about something else.
    before = _CLAUSE_END.split(before)[-1]
    return any(m.end() >= len(before) - reach for m in pattern.finditer(before))


def _condition_scope(text: str, start: int, end: int) -> str:
    """The sentence up to the end of the term's clause: "如果 A，B" makes B hypothetical too."""
    left = max(text.rfind(ch, 0, start) for ch in "。；;！!？?\n") + 1
    rights = [i for i in (text.find(ch, end) for ch in "，,。；;！!？?\n") if i >= 0]
    return text[left : min(rights, default=len(text))]


def _denied(text: str, start: int, end: int, conditional: re.Pattern[str] = _CONDITIONAL) -> bool:
    return _preceded_by(_NEGATION, text, start, NEGATION_REACH) and not conditional.search(
        _condition_scope(text, start, end)
    )


def negated_terms(normalised_text: str, term_spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Term occurrences shortly after a negation cue in the same clause, outside a condition."""
    return [(s, e) for s, e in term_spans if _denied(normalised_text, s, e)]


def denied_or_suppressed(normalised_text: str, term: str) -> bool:
    """Whether a statement itself negates the term or names it as something to reduce."""
    start = normalised_text.find(term)
    while start >= 0:
        end = start + len(term)
        if _denied(normalised_text, start, end, _STATEMENT_CONDITIONAL) or _preceded_by(
            _SUPPRESSION, normalised_text, start, SUPPRESSION_REACH
        ):
            return True
        start = normalised_text.find(term, end)
    return False


@dataclass(frozen=True, slots=True)
class Verdict:
    contradicted: bool
    reason: str | None
    span_index: int | None
