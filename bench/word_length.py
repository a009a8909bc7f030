"""How long a Chinese word is, in characters, over the labelled sets: the length a Latin word is given.

    .venv/bin/python bench/word_length.py

`lexical.LATIN_WORD_UNITS` counts a Latin word as this many reading units, so an answer naming its terms in
English is as long as the same answer in Chinese. Words are jieba's, CJK-only; references (every bank's
`reference_answer`) and answers (interview banks, dev set, ADS/LE train splits) are reported apart.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import jieba
import yaml

ROOT = Path(__file__).resolve().parent.parent
_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]+$")


def _texts(paths: list[Path], field: str) -> list[str]:
    return [
        json.loads(line)[field] for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def mean_word_length(texts: list[str]) -> float:
    return statistics.mean(len(w) for t in texts for w in jieba.cut(t) if _CJK_WORD.match(w))


def main() -> None:
    jieba.setLogLevel(60)
    eval_dir = ROOT / "eval"
    references = _texts(sorted(eval_dir.glob("*/*/questions.jsonl")), "reference_answer")
    references += [
        yaml.safe_load(p.read_text(encoding="utf-8"))["reference_answer"]
        for p in sorted((ROOT / "reference_answers").glob("q*.yaml"))
    ]
    answers = _texts(
        [
            *sorted(eval_dir.glob("interview/*/answers.jsonl")),
            eval_dir / "dev_set.jsonl",
            *sorted(eval_dir.glob("external/*/train.jsonl")),
        ],
        "answer",
    )
    print(f"references ({len(references)}): {mean_word_length(references):.2f} characters a word")
    print(f"answers ({len(answers)}): {mean_word_length(answers):.2f} characters a word")


if __name__ == "__main__":
    main()
