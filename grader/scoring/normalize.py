"""Reading an answer the way a careful marker would, before it is graded.

Answers arrive in Traditional characters, with full-width letters, as speech-recognition transcripts
(嗯、呃、那个, no punctuation for a minute on end) or with one sentence pasted over and over. A marker
reads past all of that; the grader reads the normalised copy that `normalise_answer` returns:

- Traditional characters folded to Simplified, one character for one (OpenCC's character table,
  plus its equal-length phrase table for the few characters whose reading depends on the word);
- full-width letters, digits and spaces folded to ASCII (Chinese punctuation is left as it is typed);
- fillers of spoken Chinese and English dropped where they stand alone (嗯, 呃, "那个，", 就是说, um);
- a clause said again word for word dropped (the first saying is kept, and counted);
- commas put into long runs without punctuation, at pauses (a space between two Chinese characters)
  and before discourse markers (所以, 因为, 比如 …), so a transcript is cut into clauses like typed text.

Every character of the copy remembers where it came from, so spans found in the copy map back to
the answer as submitted (`Normalised.original_span`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Full-width letters, digits and the ideographic space, as Chinese input methods type them.
# Full-width punctuation (，：（）) is how Chinese text is punctuated, so it stays.
_WIDTH: dict[int, int] = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)},  # ０-９
    **{cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    **{cp: cp - 0xFEE0 for cp in map(ord, "＋－＝＜＞＿＾／＊％＆＃＠")},
    0x3000: ord(" "),
}

_CJK = "\u4e00-\u9fff"
_BREAK_CHARS = "，,。！？!?；;：:、\n\r"
# A filler stands alone: at the start, after punctuation or a space, or after another filler.
_ALONE_BEFORE = rf"(?:^|(?<=[\s{_BREAK_CHARS}…]))"
_ALONE_AFTER = rf"(?=$|[\s{_BREAK_CHARS}…])"
# Every filler below starts with one of these characters (any case). The check before the alternatives keeps the
# search from trying each of them, look-behinds first, at every character of the answer (a fifth of reading it).
_FILLER_STARTS = "嗯呃唔呣额啊哈呀就然怎我让你那这对是反emuh"
_FILLER = re.compile(
    rf"(?=[{_FILLER_STARTS}])(?:"
    # Hesitation sounds never carry content ("额" only alone: 额度, 额外 are words).
    r"(?:嗯|呃|唔|呣)+"
    rf"|{_ALONE_BEFORE}额+{_ALONE_AFTER}"
    rf"|{_ALONE_BEFORE}(?:啊|哈|呀)+{_ALONE_AFTER}"
    # Discourse fillers: at a clause start, or standing alone between pauses.
    r"|(?<!也)就是说|然后呢"
    rf"|{_ALONE_BEFORE}(?:怎么说呢|我想想|让我想想|你知道吧|然后就是|那个那个|这个这个)"
    rf"|{_ALONE_BEFORE}(?:那个|这个|就是|然后|对吧|是吧|反正){_ALONE_AFTER}"
    r"|(?<![a-z])(?:e?m{2,}|um+|uh+|erm|hmm+)(?![a-z])"
    ")",
    re.IGNORECASE,
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")
_ORPHAN_PAUSE = re.compile(rf"(?:^|[{_BREAK_CHARS}…\s])([，,、\s]+)")
# Words that open a new clause in speech; a transcript without punctuation is cut before them.
_MARKER = re.compile(
    r"(?<!之)所以|因为|但是|然后|比如|例如|而且|另外|如果|因此|不过|首先|其次|也就是说|换句话说|其实|总之"
)
# English said without punctuation: a capitalised word after a lower-case one starts a sentence
# ("… the generative AI wave The key innovation …"). Names (GPT, ChatGPT, LLaMA) are not all lower-case after
# their first letter, so they do not cut.
_ENGLISH_START = re.compile(
    r"(?<![A-Za-z])(?!(?:the|a|an|of|to|in|on|for|with|by|and|or|is|are|from|as|at|that|this|its|their|our|use|using) )"
    r"[a-z][a-z0-9]*(?P<cut> )(?=[A-Z][a-z]+ [a-z])"
)
LONG_RUN = 40  # content characters in a row without a clause break that typed text rarely has
MIN_PIECE = 4  # content characters a piece must keep on each side of an inserted break
_RUN = re.compile(rf"[^{_BREAK_CHARS}]+")
_CLAUSE = re.compile(rf"[^{_BREAK_CHARS}]+[{_BREAK_CHARS}]*")
_SENTENCE = re.compile(r"[^。！？!?；;\n\r]+[。！？!?；;\n\r]*")
REPEAT_MIN_CHARS = 6  # shorter clauses ("对。", "是的") are said twice naturally
# An answer is padded when at least this many clauses repeat earlier ones and they hold this share of it.
REPETITIVE_MIN_CLAUSES = 3
REPETITIVE_SHARE = 0.4


@lru_cache(maxsize=1)
def _t2s() -> tuple[dict[int, str], re.Pattern[str] | None, dict[str, str]]:
    """OpenCC's Traditional-to-Simplified tables: characters (first choice), equal-length phrases."""
    folder = resources.files("opencc") / "dictionary"
    chars: dict[int, str] = {}
    for line in (folder / "TSCharacters.txt").read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ")[0] if targets else ""
        if len(source) == 1 and len(target) == 1 and source != target:
            chars[ord(source)] = target
    phrases: dict[str, str] = {}
    for line in (folder / "TSPhrases.txt").read_text(encoding="utf-8").splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ")[0] if targets else ""
        # Only where the phrase table disagrees with the character table, and keeps the length.
        if len(source) == len(target) > 1 and source.translate(chars) != target:
            phrases[source] = target
    pattern = re.compile("|".join(map(re.escape, sorted(phrases, key=len, reverse=True)))) if phrases else None
    return chars, pattern, phrases


def fold_characters(text: str) -> str:
    """Traditional to Simplified and full-width to half-width, one character for one."""
    chars, pattern, phrases = _t2s()
    out = text.translate(_WIDTH)
    if pattern is not None and pattern.search(out):
        out = pattern.sub(lambda m: phrases[m.group(0)], out)
    return out.translate(chars)


@dataclass(frozen=True)
class Normalised:
    """The copy the grader reads, and for each of its characters the range it came from."""

    original: str
    text: str
    starts: tuple[int, ...]  # where each character of `text` starts in `original` (inserted: the next one)
    ends: tuple[int, ...]  # where it ends (inserted: where the previous one ends)
    repeated_clauses: int = 0  # clauses dropped because the answer had already said them
    repeated_chars: int = 0  # content characters in them

    @property
    def repetitive(self) -> bool:
        """Padding: clauses said again and again make up much of what was submitted."""
        total = _content(self.original)
        return self.repeated_clauses >= REPETITIVE_MIN_CLAUSES and self.repeated_chars >= REPETITIVE_SHARE * total

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The range of the answer as submitted that text[start:end] was read from."""
        if end <= start or not self.text:
            at = self.starts[start] if start < len(self.starts) else len(self.original)
            return at, at
        return self.starts[start], max(self.ends[end - 1], self.starts[start])


class _Builder:
    """The copy under construction: characters with their original ranges."""

    def __init__(self, text: str, starts: list[int], ends: list[int]) -> None:
        self.text, self.starts, self.ends = text, starts, ends

    def delete(self, ranges: list[tuple[int, int]]) -> None:
        keep = [True] * len(self.text)
        for s, e in ranges:
            keep[s:e] = [False] * (e - s)
        self.text = "".join(ch for ch, k in zip(self.text, keep, strict=True) if k)
        self.starts = [v for v, k in zip(self.starts, keep, strict=True) if k]
        self.ends = [v for v, k in zip(self.ends, keep, strict=True) if k]

    def insert_each(self, items: list[tuple[int, str]]) -> None:
        """Insert each character before its position (positions in the current text)."""
        for pos, ch in sorted(dict(items).items(), reverse=True):
            nxt = self.starts[pos] if pos < len(self.starts) else (self.ends[-1] if self.ends else 0)
            prev = self.ends[pos - 1] if pos > 0 else nxt
            self.text = self.text[:pos] + ch + self.text[pos:]
            self.starts.insert(pos, nxt)
            self.ends.insert(pos, prev)

    def replace_at(self, positions: list[int], ch: str) -> None:
        chars = list(self.text)
        for pos in positions:
            chars[pos] = ch
        self.text = "".join(chars)


def _content(text: str) -> int:
    return sum(map(str.isalnum, text))


def _key(clause: str) -> str:
    return "".join(filter(str.isalnum, clause.lower()))


def _repeats(text: str, unit: re.Pattern[str]) -> tuple[list[tuple[int, int]], int]:
    """Sentences or clauses (with their punctuation) that repeat an earlier one word for word."""
    seen: set[str] = set()
    dropped: list[tuple[int, int]] = []
    chars = 0
    for m in unit.finditer(text):
        key = _key(m.group(0))
        if len(key) < REPEAT_MIN_CHARS:
            continue
        if key in seen:
            dropped.append((m.start(), m.end()))
            chars += len(key)
        seen.add(key)
    return dropped, chars


def _breaks(text: str) -> tuple[list[int], list[int], list[int]]:
    """In long unpunctuated runs: (spaces to turn into commas, positions to insert a comma before,
    positions to end a sentence before: an English full stop before a space, a 。 before Chinese)."""
    spaces: list[int] = []
    inserts: list[int] = []
    stops: list[int] = []
    # A pause between two Chinese characters: transcripts (and hurried typists) mark clause ends with
    # a space, in short answers too.
    spaces += [m.start() for m in _CJK_SPACE.finditer(text)]
    for run in _RUN.finditer(text):
        if _content(run.group(0)) < LONG_RUN:
            continue
        base = run.start()
        body = run.group(0)
        stops += [base + m.start("cut") for m in _ENGLISH_START.finditer(body)]
        # A speaker who names the topic again starts a new sentence ("温度调高……温度调低……").
        topic = body.lstrip()[:2]
        if re.fullmatch(f"[{_CJK}]{{2}}", topic):
            start = body.index(topic) + 2
            for m in re.finditer(re.escape(topic), body[start:]):
                at = start + m.start()
                if _content(body[start:at]) >= MIN_PIECE and not body[at - 1].isspace():
                    stops.append(base + at)
        for m in _MARKER.finditer(body):
            before = body[: m.start()]
            last_cut = max([-1, *(sp - base for sp in spaces if sp - base < m.start())])
            long_enough = _content(before[last_cut + 1 :]) >= MIN_PIECE and _content(body[m.end() :]) >= MIN_PIECE
            if long_enough and not before[-1:].isspace():
                inserts.append(base + m.start())
    return spaces, inserts, stops


def normalise_answer(answer: str) -> Normalised:
    folded = fold_characters(answer)
    b = _Builder(folded, list(range(len(answer))), list(range(1, len(answer) + 1)))
    for _ in range(3):  # "嗯那个，" : a filler stands alone once the one before it is gone
        fillers = [(m.start(), m.end()) for m in _FILLER.finditer(b.text) if m.end() > m.start()]
        if not fillers:
            break
        # A filler inside a run of Chinese is a pause: it ends the clause ("…前后文嗯所以…" → "…前后文，所以…").
        pauses = [
            s
            for s, e in fillers
            if s > 0 and e < len(b.text) and _CJK_CHAR.match(b.text[s - 1]) and _CJK_CHAR.match(b.text[e])
        ]
        b.replace_at(pauses, "，")
        b.delete([(s + 1, e) if s in pauses else (s, e) for s, e in fillers])
        # The pause after a dropped filler goes with it ("嗯，那个，我觉得" reads "我觉得").
        b.delete([(m.start(1), m.end(1)) for m in _ORPHAN_PAUSE.finditer(b.text)])
    repeated: list[tuple[int, int]] = []
    repeated_chars = 0
    for unit in (_SENTENCE, _CLAUSE):  # whole sentences first: their short clauses go with them
        dropped, chars = _repeats(b.text, unit)
        if dropped:
            b.delete(dropped)
            repeated += dropped
            repeated_chars += chars
    spaces, inserts, stops = _breaks(b.text)
    if spaces:
        b.replace_at(spaces, "，")
    if inserts or stops:
        # Both insert before a position of the current text; one pass keeps the positions valid.
        b.insert_each([(p, "，") for p in inserts] + [(p, "." if b.text[p] == " " else "。") for p in stops])
    return Normalised(answer, b.text, tuple(b.starts), tuple(b.ends), len(repeated), repeated_chars)
