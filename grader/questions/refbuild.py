"""Generate the reference bank (`reference_answers/qNN.yaml`) from the seed file.

The seed holds the questions as `## question` headers, each followed by its reference answer.
`build_bank` turns each answer into candidate key points (a sentence/clause split), gives each the
terms that show it is understood (jieba TF-IDF over the twelve answers plus ASCII terms such as
RLHF or QKV), and weights them by how much of the answer they carry.

Generated key points are a starting point for a person to curate. A key point with `curated: true`
is never touched again: a rebuild keeps it exactly as written and regenerates only the automatic
ones around it, in the weight the curated points leave over. Once the curated points carry the
whole weight, the file is finished and a rebuild only refreshes the question and reference text,
which always come verbatim from the seed (slips included; a key point's `correction` records them).
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from grader.errors import ReferenceFileError
from grader.questions.references import load_reference
from grader.scoring import aliases, lexical
from grader.scoring.types import KeyPoint, Reference

# Weights are written in thousandths so they add up to exactly 1.0 in the file.
_WEIGHT_UNITS = 1000
_WEIGHT_SUM_PROBLEM = "weights must add up to 1.0"  # grader.scoring.types.Reference's message
_MIN_FRAGMENT = 8  # content characters; shorter pieces ("encoder：", "重复 N 次") join a neighbour
_MAX_FRAGMENT = 45  # longer sentences are cut at commas into pieces of up to about this size
_MAX_KEYWORDS = 5
GENERAL_WORD_IDF = 5.5  # jieba IDF below which a word is general vocabulary (使用 4.5, 执行 5.6 stays)

_HEADER = re.compile(r"^##(?!#)\s*(?P<question>.*?)\s*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
# Where a long sentence may be cut. Not at 、: that separates an enumeration's items, and a list cut in two
# ("宏任务，如 script、setTimeout" | "setInterval、I/O、UI 事件") leaves a point of items without the claim they
# belong to.
_CLAUSE_CHARS = "，,：:"
_OPEN, _CLOSE = "【（([", "】）)]"
# "1. 预训练" / "2、" at a line start or after a space; "一是…二是…" after punctuation. Not inside brackets:
# "setTimeout(fn, 0)" holds no list item "0)".
_LIST_ITEM = re.compile(
    r"(?:^|(?<=[\s：:]))\d{1,2}\s*[.．、)）](?!\d)"  # 1. / 2、 / 3)
    r"|(?<=[，。；,;])(?=[一二三四五六七八九十]是)"  # 一是 / 二是
)
_ASCII_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_&\-][A-Za-z0-9]+)*")
# Parts of speech worth a keyword: nouns, verbs, idioms, English words (not jieba's guessed
# organisation names and abbreviations, which are mostly mis-segmentations like "中全").
_TAG_POS = ("n", "nz", "vn", "v", "l", "i", "eng", "a", "an", "nr", "ns")
_TRAILING_PUNCT = "，,。；;：:、 \t"
# Characters that stand as words of their own (particles, prepositions, auxiliaries, numerals): a two-character
# word jieba guessed with one of them in it is two words run together (`_Segmenter.miscut`).
_FUNCTION_CHARS = frozenset(
    "和时上不更要应中的了是在也都就并而与及或被把对从向以之其该这那会能可将让使给等为有无过"  # particles, prepositions
    "一二三四五六七八九十个种"  # numerals and measure words
)

# Spellings of the same term, so a generated keyword already matches how candidates write it.
# Curated files carry their own, fuller alias lists.
_GLOSSARY: tuple[tuple[str, ...], ...] = (
    ("RLHF", "人类反馈的强化学习", "基于人类反馈的强化学习", "reinforcement learning from human feedback"),
    ("强化学习", "reinforcement learning", "RL"),
    ("奖励模型", "reward model", "RM"),
    ("PPO", "近端策略优化", "proximal policy optimization"),
    ("SFT", "有监督微调", "监督微调", "指令微调", "supervised fine-tuning"),
    ("预训练", "pretraining", "pre-training"),
    ("微调", "fine-tuning", "finetune", "fine-tune"),
    ("softmax", "归一化指数函数"),
    ("温度系数", "温度", "temperature"),
    ("多头注意力", "multi-head attention", "MHA", "多头"),
    ("自回归", "autoregressive", "因果"),
    ("位置编码", "positional encoding", "position embedding", "PE"),
    ("旋转位置编码", "RoPE", "rotary position embedding"),
    ("相对位置编码", "relative position encoding", "相对位置"),
    ("绝对位置编码", "absolute position encoding", "绝对位置"),
    ("注意力", "attention", "自注意力", "self-attention"),
    ("交叉注意力", "cross-attention", "cross attention", "encoder-decoder attention"),
    ("掩码", "mask", "masked", "因果掩码"),
    ("编码器", "encoder"),
    ("解码器", "decoder"),
    ("层归一化", "LayerNorm", "layer normalization", "LN"),
    ("残差连接", "residual", "Add&Norm"),
    ("前馈网络", "FeedForward", "FFN", "feed-forward"),
    ("提示工程", "prompt engineering", "提示词工程"),
    ("提示词", "prompt", "提示"),
    ("tokenizer", "分词器", "分词"),
    ("词向量", "embedding", "词嵌入"),
)
_ALIASES: dict[str, tuple[str, tuple[str, ...]]] = {
    form.lower(): (group[0], group[1:]) for group in _GLOSSARY for form in group
}


@dataclass(frozen=True, slots=True)
class SeedQuestion:
    id: str
    question: str
    answer: str


def read_seed(seed: Path) -> list[SeedQuestion]:
    """Questions in file order as q01, q02, …; `seed` is a file or a directory of `*.txt` files."""
    files = sorted(seed.glob("*.txt")) if seed.is_dir() else [seed]
    if not files:
        raise FileNotFoundError(f"{seed}: no *.txt seed file found")
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise ValueError(f"{seed}: no '## question' header found")
    questions = []
    for n, header in enumerate(headers):
        end = headers[n + 1].start() if n + 1 < len(headers) else len(text)
        questions.append(
            SeedQuestion(
                id=f"q{n + 1:02d}",
                question=header.group("question"),
                answer=text[header.end() : end].strip(),
            )
        )
    return questions


class _Segmenter:
    """A private jieba tokenizer that knows the glossary's compound terms (温度系数, 强化学习).

    Private so the words added here never change how the scoring code, which uses jieba's default
    tokenizer in the same process, segments answers.
    """

    def __init__(self) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        with warnings.catch_warnings():
            # jieba.analyse reads its IDF table without closing the file.
            warnings.simplefilter("ignore", ResourceWarning)
            import jieba.analyse

            self.tfidf = jieba.analyse.TFIDF()
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        for group in _GLOSSARY:
            for form in group:
                if not form.isascii():
                    self.tokenizer.add_word(form, freq=20000, tag="n")
        self.tfidf.tokenizer = self.tokenizer
        self.tfidf.postokenizer = jieba.posseg.POSTokenizer(self.tokenizer)

    def tokens(self, text: str) -> list[str]:
        return [t.lower() for t in self.tokenizer.lcut(text) if t.strip()]

    def tags(self, text: str, top: int) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = self.tfidf.extract_tags(text, topK=top, withWeight=True, allowPOS=_TAG_POS)
        return [(tag, weight) for tag, weight in found if not self.miscut(tag)]

    def miscut(self, word: str) -> bool:
        """A two-character word jieba's dictionary does not hold, with a function character in it: its HMM joined
        two characters the dictionary left single, one of them a word of its own ("和超" of 模型选择和超参调优,
        "时应" of 不平衡时应使用, "集上" of 训练集上). Words its HMM found that are terms (卡表, 压入, 防抖) hold
        no function character."""
        return len(word) == 2 and not self.tokenizer.FREQ.get(word) and any(ch in _FUNCTION_CHARS for ch in word)


@cache
def _segmenter() -> _Segmenter:
    return _Segmenter()


def _content_length(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(_TRAILING_PUNCT)


def _clauses(sentence: str) -> list[str]:
    """Split after commas, but not inside brackets such as 【batch_size，seq_len，d_model】."""
    out: list[str] = []
    start = depth = 0
    for i, ch in enumerate(sentence):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch in _CLAUSE_CHARS and depth == 0:
            out.append(sentence[start : i + 1])
            start = i + 1
    if start < len(sentence):
        out.append(sentence[start:])
    return out


def _split_long(sentence: str) -> list[str]:
    if _content_length(sentence) <= _MAX_FRAGMENT:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in _clauses(sentence):
        # Never right after a colon: what it announces ("有三种状态：pending、fulfilled 和 rejected") is the claim.
        announced = current.endswith(("：", ":"))
        if current and not announced and _content_length(current + clause) > _MAX_FRAGMENT:
            pieces.append(current)
            current = ""
        current += clause
    if current:
        pieces.append(current)
    return pieces


_PREDICATE = re.compile(r"^(?:是|为|即)")


def _merge_tiny(pieces: list[str]) -> list[str]:
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        if _content_length(piece) < _MIN_FRAGMENT and merged and not carry and _PREDICATE.match(piece):
            merged[-1] = f"{merged[-1]}，{piece}"  # "是高 bias": the predicate of the claim before it
            continue
        piece = carry + piece
        carry = ""
        if _content_length(piece) < _MIN_FRAGMENT:
            carry = piece + (" " if not piece.endswith(("，", "：", ":", "。")) else "")
            continue
        merged.append(piece)
    if carry:
        if merged:
            merged[-1] = merged[-1] + "，" + carry
        else:
            merged.append(carry)
    return merged


def _list_items(line: str) -> list[str]:
    """The line cut at each list marker that stands outside brackets, the markers ("2. ") left out."""
    items, start = [], 0
    for marker in _LIST_ITEM.finditer(line):
        before = line[: marker.start()]
        if sum(before.count(c) for c in _OPEN) <= sum(before.count(c) for c in _CLOSE):
            items.append(line[start : marker.start()])
            start = marker.end()
    return [*items, line[start:]]


def split_key_points(answer: str) -> list[str]:
    """Candidate key points: list items and sentences, long ones cut at commas, tiny ones merged."""
    pieces: list[str] = []
    for line in answer.splitlines():
        for item in _list_items(line):
            for sentence in _SENTENCE_END.split(item):
                pieces.extend(_split_long(sentence))
    cleaned = [_clean(p) for p in pieces]
    return _join_fragments([_clean(p) for p in _merge_tiny([p for p in cleaned if p])])


# A piece that opens without a subject of its own ("都可能导致 OOM", "只是服务于 native 方法", "导致不必要的更新")
# or with the example or list it gives ("例如 Word2Vec、BERT 等", "以及所消费的 Context") finishes the claim before
# it — 如果 opens a condition, a claim of its own; one that ends on 是/为/如下 ("处理流程是") announces the claim
# after it.
_CONTINUES = re.compile(r"^(?:都|只是|也|并且|而且|同样|还|从而|进而|即|以及|如(?!果|何)|比如|例如|导致|的)")
_ANNOUNCES = ("是", "为", "如下", "包括")


def _join_fragments(pieces: list[str]) -> list[str]:
    """One claim per key point: fragments join the claim they belong to."""
    joined: list[str] = []
    for piece in pieces:
        if joined and joined[-1].endswith(_ANNOUNCES):
            joined[-1] = f"{joined[-1]}：{piece}"
        elif joined and _CONTINUES.match(piece):
            joined[-1] = f"{joined[-1]}，{piece}"
        else:
            joined.append(piece)
    return joined


class _Corpus:
    """Inverse document frequency of jieba tokens over the seed's reference answers, and the
    English the documents give for their terms in brackets."""

    def __init__(self, documents: Iterable[str]) -> None:
        documents = list(documents)
        self.pairs = aliases.document_pairs("\n".join(documents))
        docs = [set(_segmenter().tokens(d)) for d in documents]
        self.size = max(len(docs), 1)
        self.df: Counter[str] = Counter(tok for doc in docs for tok in doc)

    def idf(self, token: str) -> float:
        return math.log((self.size + 1) / (self.df[token.lower()] + 1)) + 1.0


def _keyword(term: str) -> dict[str, Any]:
    canonical, aliases = _ALIASES.get(term.lower(), (term, ()))
    forms = [canonical, *aliases]
    if term not in forms:
        forms.insert(1, term)  # keep the seed's spelling (e.g. "ppo") as an alias
    return {"term": forms[0], "aliases": forms[1:]}


MAX_LIST_KEYWORDS = 8  # a list point's items are its keywords, up to this many


def extract_keywords(text: str, corpus: _Corpus) -> list[dict[str, Any]]:
    """ASCII terms first (RLHF, softmax, QKV), then the items of the point's enumerations, then jieba TF-IDF
    tags weighted by corpus rarity."""
    segmenter = _segmenter()
    seen: set[str] = set()
    terms: list[str] = []

    def take(term: str) -> None:
        key = _ALIASES.get(term.lower(), (term, ()))[0].lower()
        if key not in seen and term.lower() not in lexical.GENERAL_WORDS and not term.isdigit():
            seen.add(key)
            terms.append(term)

    for match in _ASCII_TERM.finditer(text):
        if len(match.group()) >= 2:
            take(match.group())
    for item in lexical.enumeration_items(text):
        if not any(item in term or term in item for term in terms):  # "Java 虚拟机栈" holds the ASCII "Java"
            take(item)
    limit = max(_MAX_KEYWORDS, min(len(terms), MAX_LIST_KEYWORDS))
    tags = segmenter.tags(text, top=12)
    ranked = sorted(tags, key=lambda tw: (-tw[1] * corpus.idf(tw[0]), tw[0]))
    chinese = [tag for tag, _ in ranked if not _ASCII_TERM.fullmatch(tag) and len(tag) >= 2]
    # General vocabulary (使用, 可能, 执行, 情况: common in any Chinese text, by jieba's IDF table) shows no
    # understanding of a point; it is a keyword only where the fragment has nothing rarer to offer.
    specific = [tag for tag in chinese if lexical.rarity(tag) >= GENERAL_WORD_IDF]
    for tag in specific or chinese:
        take(tag)
    if not terms:  # a fragment of stopwords only: fall back to its longest token
        terms = [max(segmenter.tokens(text), key=len, default=text)]
    found = [_keyword(t) for t in terms[:limit]]
    for kw in found:  # English forms for a Chinese-only term: the document's brackets, the glossary
        if not aliases.has_english([kw["term"], *kw["aliases"]]):
            kw["aliases"] += [a for a in aliases.english_for(kw["term"], corpus.pairs) if a not in kw["aliases"]]
    return found


def allocate_weights(sizes: Sequence[float], total: float = 1.0) -> list[float]:
    """Weights proportional to `sizes` that add up to exactly `total` in thousandths.

    Each gets at least one unit; the last absorbs the rounding so the sum is exact.
    """
    if not sizes:
        return []
    units = round(total * _WEIGHT_UNITS)
    if units < len(sizes):
        raise ValueError(f"cannot share a weight of {total} between {len(sizes)} key points")
    whole = sum(sizes) or len(sizes)
    shares = [max(1, round(units * (s or 1) / whole)) for s in sizes[:-1]]
    while sum(shares) > units - 1:  # the last one must stay positive
        shares[shares.index(max(shares))] -= 1
    shares.append(units - sum(shares))
    return [s / _WEIGHT_UNITS for s in shares]


def _key_point_dict(kp: KeyPoint) -> dict[str, Any]:
    """A key point in the order a person reads it; unset optional fields are left out."""
    data: dict[str, Any] = {
        "id": kp.id,
        "text": kp.text,
        "weight": kp.weight,
        "keywords": [{"term": k.term, "aliases": list(k.aliases)} for k in kp.keywords],
        "statements": list(kp.statements),
        "misconceptions": list(kp.misconceptions),
    }
    if kp.correction is not None:
        data["correction"] = kp.correction
    data["curated"] = kp.curated
    return data


def _bigrams(text: str) -> set[str]:
    chars = [ch.lower() for ch in text if ch.isalnum()]
    return {a + b for a, b in itertools.pairwise(chars)}


def _covered(candidate: str, curated: Sequence[KeyPoint]) -> bool:
    """Whether a curated key point already says what this generated candidate says."""
    grams = _bigrams(candidate)
    if not grams:
        return True
    said = set().union(*(_bigrams(" ".join([kp.text, *kp.statements])) for kp in curated))
    return len(grams & said) / len(grams) >= 0.5


def build_reference(
    question_id: str,
    question: str,
    answer: str,
    existing: Reference | None,
    corpus: _Corpus | None = None,
) -> dict[str, Any]:
    """One reference file's content: curated key points kept as they are, the rest regenerated.

    `corpus` gives keyword rarity across the bank; without it the answer alone is the corpus.
    """
    corpus = corpus or _Corpus([answer])
    curated = [kp for kp in existing.key_points if kp.curated] if existing else []
    remaining = 1.0 - sum(kp.weight for kp in curated)

    auto: list[dict[str, Any]] = []
    if remaining >= 1 / _WEIGHT_UNITS:
        candidates = split_key_points(answer) or [_clean(answer)]
        if curated:
            uncovered = [c for c in candidates if not _covered(c, curated)]
            # The weight left over needs a home even if every candidate looks covered.
            candidates = uncovered or [min(candidates, key=lambda c: len(_bigrams(c)))]
        weights = allocate_weights([_content_length(c) for c in candidates], remaining)
        taken = {kp.id for kp in curated}
        free_ids = (f"kp{n}" for n in range(1, 100) if f"kp{n}" not in taken)
        for text, weight in zip(candidates, weights, strict=True):
            auto.append(
                {
                    "id": next(free_ids),
                    "text": text,
                    "weight": weight,
                    "keywords": extract_keywords(text, corpus),
                    "statements": [],
                    "misconceptions": [],
                    "curated": False,
                }
            )
    elif remaining < -0.01:
        raise ValueError(f"curated key point weights add up to {1 - remaining:.3f}, more than 1.0")

    data = {
        "id": question_id,
        "question": question,
        "reference_answer": answer,
        "key_points": [*(_key_point_dict(kp) for kp in curated), *auto],
    }
    Reference.model_validate(data)  # fail here, not when the bank is next loaded
    return data


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the reference answer reads as written."""


# Characters YAML reads as line breaks besides \n: in a plain, single-quoted or literal scalar they are
# folded or normalised on the way back (U+0085 became a space), so such a string is written
# double-quoted, where the emitter escapes them (\r, \N, \L, \P).
_OTHER_BREAKS = frozenset("\r\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if not _OTHER_BREAKS.isdisjoint(value) else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_reference(data: dict[str, Any]) -> str:
    text: str = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000, indent=2)
    return text


def _load_existing(path: Path) -> Reference:
    """The file as it stands, accepting weights that do not add up to 1 yet.

    Mid-curation a person marks a point curated and changes its weight; the build rebalances the
    automatic points, so only the weight total may be off. Anything else wrong stops the build.
    """
    try:
        return load_reference(path)
    except ReferenceFileError as exc:
        if exc.field != "(file)" or _WEIGHT_SUM_PROBLEM not in exc.message:
            raise
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    key_points = [KeyPoint.model_validate(kp) for kp in raw["key_points"]]
    return Reference.model_construct(**{**raw, "key_points": key_points})


def _nearest_aliases(bank: list[dict[str, Any]], corpus: _Corpus, encode: Callable[[list[str]], Any]) -> None:
    """English for the generated keywords still without it: the embedder's clear nearest among the
    glossary's English terms, the documents' bracketed English and their Latin terms."""
    groups = [
        kw
        for data in bank
        for kp in data["key_points"]
        if not kp["curated"]
        for kw in kp["keywords"]
        if not aliases.has_english([kw["term"], *kw["aliases"]])
    ]
    if not groups:
        return
    candidates = [f for forms in aliases.GLOSSARY.values() for f in forms]
    candidates += [f for forms in corpus.pairs.values() for f in forms]
    candidates += [
        m.group() for data in bank for m in _ASCII_TERM.finditer(data["reference_answer"]) if len(m.group()) >= 3
    ]
    chosen = aliases.nearest_english(sorted({kw["term"] for kw in groups}), candidates, encode)
    for kw in groups:
        if kw["term"] in chosen:
            kw["aliases"].append(chosen[kw["term"]])


def build_bank(seed_path: Path, out_dir: Path, encode: Callable[[list[str]], Any] | None = None) -> list[Path]:
    """Write `qNN.yaml` for every seed question, merging with the files already in `out_dir`.

    An existing file that does not validate stops the build, since overwriting it would lose
    curation; only weights that do not add up to 1 are accepted, because the build rebalances them.
    `encode` (an embedder's) lets generated keywords without English get the nearest English term.
    """
    questions = read_seed(seed_path)
    corpus = _Corpus(q.answer for q in questions)
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for q in questions:
        path = out_dir / f"{q.id}.yaml"
        existing = _load_existing(path) if path.exists() else None
        try:
            built.append((path, build_reference(q.id, q.question, q.answer, existing, corpus)))
        except ValueError as exc:
            raise ReferenceFileError(path, "key_points", str(exc)) from exc
    if encode is not None:
        _nearest_aliases([data for _, data in built], corpus, encode)
    for path, data in built:
        path.write_text(dump_reference(data), encoding="utf-8")
    return [path for path, _ in built]


def refs_build_command(seed: Path, out: Path) -> None:
    """`grader refs build --seed … --out …`: (re)generate the bank and say what each file holds."""
    from grader.embeddings import get_embedder
    from grader.settings import get_settings

    embedder = get_embedder(get_settings().embedder)
    paths = build_bank(seed, out, encode=lambda texts: embedder.encode(texts))
    for path in paths:
        ref = load_reference(path)
        curated = sum(kp.curated for kp in ref.key_points)
        print(f"{path}: {len(ref.key_points)} key points ({curated} curated)")
