"""English forms for the Chinese keywords of generated banks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.questions.refbuild import build_bank
from grader.questions.references import load_reference
from grader.scoring import aliases


def test_a_document_gives_english_for_its_terms_in_brackets_either_way_round() -> None:
    document = "采用链式存储（linked storage）。Binary search（二分查找）更快。softmax(归一化指数函数)"
    pairs = aliases.document_pairs(document)
    assert pairs == {"采用链式存储": ["linked storage"], "二分查找": ["Binary search"], "归一化指数函数": ["softmax"]}
    # Chinese has no spaces: a bracket's phrase counts for a term that makes most of it.
    assert aliases.english_for("链式存储", pairs) == ["linked storage"]
    assert aliases.english_for("存储", pairs) == ["storage", "store"]  # glossary only: too small a part


def test_english_comes_from_the_document_first_then_the_general_glossary() -> None:
    pairs = {"头结点": ["header node"]}
    assert aliases.english_for("头结点", pairs) == ["header node", "head node"]
    assert aliases.english_for("时间复杂度", {}) == ["time complexity"]
    assert aliases.english_for("火锅", {}) == []


def _fake_encode(table: dict[str, list[float]]):
    def encode(texts: list[str]) -> np.ndarray:
        vectors = np.array([table[t] for t in texts], dtype=float)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return encode


def test_the_embedder_names_an_english_term_only_when_it_is_clearly_closest() -> None:
    encode = _fake_encode(
        {
            "储存": [1, 0.05, 0],
            "storage": [1, 0, 0],
            "stack": [0, 1, 0],
            "前提": [0.6, 0.55, 0.3],  # about as close to both: no choice
            "插入": [0, 0.1, 1],
            "insertion": [0, 0.12, 1],
            "insert": [0, 0.1, 0.98],  # same stem agrees
        }
    )
    chosen = aliases.nearest_english(["储存", "前提", "插入"], ["storage", "stack", "insertion", "insert"], encode)
    assert chosen.keys() == {"储存", "插入"}
    assert chosen["储存"] == "storage" and chosen["插入"] in {"insert", "insertion"}


def test_a_generated_bank_gets_english_for_its_chinese_keywords(tmp_path: Path) -> None:
    seed = tmp_path / "bank.md"
    seed.write_text(
        "## 顺序表和链表有什么区别\n"
        "顺序表支持随机访问，插入和删除需要移动元素；链表（linked list）插入删除只改指针，但查找要遍历。\n",
        encoding="utf-8",
    )
    (path,) = build_bank(seed, tmp_path / "out")
    groups = [kw for kp in load_reference(path).key_points for kw in kp.keywords]
    with_english = [kw for kw in groups if aliases.has_english(kw.forms())]
    assert len(with_english) >= len(groups) / 2
    assert any("linked list" in kw.aliases for kw in groups)
