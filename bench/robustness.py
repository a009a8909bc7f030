"""Does the grade survive how answers arrive? The dev set, rewritten as real answers get written.

    .venv/bin/python bench/robustness.py [--dev eval/dev_set.jsonl] [--json out.json]

Each of the dev set's answers is rewritten programmatically (no answer is edited by hand) into:

- `traditional`: Traditional characters (OpenCC's s2t phrase converter, the package's own direction);
- `fullwidth`: Latin letters and digits typed full-width (Ｓｏｆｔｍａｘ, Ｔ＝１);
- `no_punct`: every punctuation mark removed, as speech recognition outputs it;
- `speech`: fillers (嗯, 呃, 那个, 就是说, 然后呢, um) at a third of the clause starts, punctuation removed;
- `homophones`: in each answer, up to three of the reference's Chinese keyword terms get one character
  swapped for another with the same pinyin (编码器 → 编码期), as speech recognition misspells terms;
- `asr`: speech and homophones together;
- `codeswitch`: Chinese technical words replaced by English ones from a general glossary below,
  Latin words Title-Cased and the spaces around them dropped ("用Attention算Weights").

Prints, per variant, the mean score against the same answers written plainly, the mean and largest
absolute change per answer, Spearman against the interviewers' labels, and the review queue as the
service routes it (`needs_review`): the share routed and the share off by 3+ points (0-10) and not
routed, the issue's bar being <= 30% and <= 5%. The dev set is in-sample for the shipped calibration.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "eval" / "dev_set.jsonl"

_PUNCT = re.compile(r"[，,。！？!?；;：:、（）()“”\"'…\n]+|(?<=[A-Za-z0-9])\.(?=\s|$)")
_CLAUSE = re.compile(r"(?<=[，,。！？!?；;：:、\n])")
_FILLERS = ("嗯", "呃", "那个", "就是说", "然后呢", "嗯那个", "um")

# General technical vocabulary (not the bank's keyword lists): how bilingual engineers mix languages.
_GLOSSARY = {
    "多头注意力": "multi-head attention",
    "自注意力": "self-attention",
    "注意力": "attention",
    "温度系数": "temperature",
    "温度": "temperature",
    "随机性": "randomness",
    "多样性": "diversity",
    "位置编码": "positional encoding",
    "相对位置": "relative position",
    "绝对位置": "absolute position",
    "编码器": "encoder",
    "解码器": "decoder",
    "奖励模型": "reward model",
    "强化学习": "reinforcement learning",
    "预训练": "pretraining",
    "微调": "fine-tuning",
    "矩阵": "matrix",
    "向量": "vector",
    "权重": "weights",
    "模型": "model",
    "训练": "training",
    "数据": "data",
    "输出": "output",
    "输入": "input",
    "概率": "probability",
    "分布": "distribution",
    "参数": "parameters",
    "重复": "repetition",
    "语义": "semantics",
    "顺序": "order",
    "生成": "generation",
    "旋转": "rotation",
    "提示工程": "prompt engineering",
    "提示词": "prompt",
    "人类反馈": "human feedback",
    "对齐": "alignment",
    "自回归": "autoregressive",
    "残差": "residual",
    "归一化": "normalization",
    "维度": "dimension",
    "特征": "features",
    "损失": "loss",
    "梯度": "gradient",
    "采样": "sampling",
    "长度": "length",
}
_GLOSSARY_PATTERN = re.compile("|".join(sorted(map(re.escape, _GLOSSARY), key=len, reverse=True)))
_FULLWIDTH = {cp: cp + 0xFEE0 for cp in [*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B)]}


def traditional(text: str) -> str:
    from opencc import OpenCC

    converted: str = OpenCC("s2t").convert(text)
    return converted


def fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def no_punct(text: str) -> str:
    return _PUNCT.sub("", text)


def speech(text: str, rng: random.Random) -> str:
    clauses = [c for c in _CLAUSE.split(text) if c]
    out = []
    for clause in clauses:
        if rng.random() < 1 / 3:
            filler = rng.choice(_FILLERS)
            clause = (filler + " " if filler.isascii() else filler) + clause
        out.append(clause)
    return no_punct("".join(out))


class Homophones:
    """Characters with the same toneless pinyin, from the characters of the dev set and the bank."""

    def __init__(self, texts: list[str]) -> None:
        from pypinyin import lazy_pinyin

        self.reading: dict[str, str] = {}
        by_sound: dict[str, set[str]] = {}
        for ch in sorted({c for t in texts for c in t if "\u4e00" <= c <= "\u9fff"}):
            sound = lazy_pinyin(ch)[0]
            self.reading[ch] = sound
            by_sound.setdefault(sound, set()).add(ch)
        self.others = {ch: sorted(by_sound[s] - {ch}) for ch, s in self.reading.items()}

    def misspell(self, text: str, terms: list[str], rng: random.Random, most: int = 3) -> str:
        chars = list(text)
        found = [t for t in terms if t in text]
        rng.shuffle(found)
        done = 0
        for term in found:
            start = text.find(term)
            options = [i for i in range(start, start + len(term)) if self.others.get(text[i])]
            if not options:
                continue
            i = rng.choice(options)
            chars[i] = rng.choice(self.others[text[i]])
            done += 1
            if done == most:
                break
        return "".join(chars)


def codeswitch(text: str) -> str:
    switched = _GLOSSARY_PATTERN.sub(lambda m: " " + _GLOSSARY[m.group(0)] + " ", text)
    switched = re.sub(r"[A-Za-z][A-Za-z\-]*", lambda m: m.group(0)[:1].upper() + m.group(0)[1:], switched)
    return re.sub(r"\s*([A-Za-z][A-Za-z0-9\- ]*[A-Za-z0-9])\s*", r"\1", switched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, default=DEV_SET)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from grader.grading.grader import build_grader
    from grader.grading.record import needs_review
    from grader.scoring.metrics import spearman
    from grader.settings import Settings

    grader = build_grader(Settings(embedder="use"))
    rows = [json.loads(line) for line in args.dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    terms = {
        # Keyword terms only (not their aliases), so the rewritten answers do not move with alias edits.
        qid: sorted(
            {
                kw.term
                for kp in ref.key_points
                for kw in kp.keywords
                if len(kw.term) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in kw.term)
            },
            key=lambda t: (-len(t), t),
        )  # a fixed order: the same rewrites in every process
        for qid, ref in grader.bank.items()
    }
    homophones = Homophones([r["answer"] for r in rows] + [t for ts in terms.values() for t in ts])

    def variants(row: dict[str, str], n: int) -> dict[str, str]:
        answer = row["answer"]
        asr_source = homophones.misspell(answer, terms[row["question_id"]], random.Random(n))
        return {
            "original": answer,
            "traditional": traditional(answer),
            "fullwidth": fullwidth(answer),
            "no_punct": no_punct(answer),
            "speech": speech(answer, random.Random(n)),
            "homophones": asr_source,
            "asr": speech(asr_source, random.Random(n)),
            "codeswitch": codeswitch(answer),
        }

    written = [variants(r, n) for n, r in enumerate(rows)]
    labels = [float(r["score"]) for r in rows]
    scores: dict[str, list[float]] = {}
    routed: dict[str, list[bool]] = {}
    for name in written[0]:
        results = grader.grade_many([(r["question_id"], w[name]) for r, w in zip(rows, written, strict=True)])
        scores[name] = [res.score for res in results]
        routed[name] = [needs_review(res, 0.5) for res in results]
    base = np.array(scores["original"])
    print(
        f"{'variant':<12} {'mean':>6} {'Δ mean':>7} {'mean |Δ|':>9} {'max |Δ|':>8} {'spearman':>9}"
        f" {'review':>7} {'big, not routed':>16}"
    )
    summary = {}
    for name, values in scores.items():
        v = np.array(values)
        summary[name] = {
            "mean": round(float(v.mean()), 1),
            "delta_mean": round(float((v - base).mean()), 1),
            "mean_abs_delta": round(float(np.abs(v - base).mean()), 1),
            "max_abs_delta": round(float(np.abs(v - base).max()), 1),
            "spearman": round(spearman(values, labels), 3),
            "review_share": round(float(np.mean(routed[name])), 3),
            "big_not_routed": round(
                float(np.mean((np.abs(v / 10 - np.array(labels)) >= 3) & ~np.array(routed[name]))), 3
            ),
        }
        s = summary[name]
        print(
            f"{name:<12} {s['mean']:>6} {s['delta_mean']:>7} {s['mean_abs_delta']:>9} {s['max_abs_delta']:>8}"
            f" {s['spearman']:>9} {s['review_share']:>7.1%} {s['big_not_routed']:>16.1%}"
        )
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "examples": written[:3]}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
