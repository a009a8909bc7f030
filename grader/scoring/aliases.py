"""English forms for the Chinese keywords of a generated bank, without a translation model or the network.

Candidates answer in English or mix languages, so a keyword needs its English spelling too. For banks
that `grader refs build` generates from a document, in this order:

1. the document's own pairs: a term followed by its translation in brackets, either way round
   ("基于人类反馈的强化学习（RLHF）", "linked list（链表）");
2. a small glossary of general computing, machine-learning and engineering vocabulary below (no
   subject-specific terms, nothing taken from any labelled answer);
3. the embedder (multilingual USE) choosing among the English terms of 1 and 2: only when one
   candidate is clearly closest (cosine ≥ NEAREST_MIN, ahead of the next by NEAREST_MARGIN), because
   single words embed noisily (链表 is closer to "supply chain" than to "linked list").

Coverage is partial by design: a keyword none of these reaches keeps its Chinese forms only, and
`coverage` reports the share that got an English form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

GLOSSARY: dict[str, tuple[str, ...]] = {
    # computing: data structures and algorithms
    "算法": ("algorithm",),
    "数据结构": ("data structure",),
    "复杂度": ("complexity",),
    "时间复杂度": ("time complexity",),
    "空间复杂度": ("space complexity",),
    "链表": ("linked list",),
    "单链表": ("singly linked list",),
    "双链表": ("doubly linked list",),
    "顺序表": ("sequential list", "array list"),
    "线性表": ("linear list",),
    "数组": ("array",),
    "栈": ("stack",),
    "队列": ("queue",),
    "树": ("tree",),
    "二叉树": ("binary tree",),
    "图": ("graph",),
    "堆": ("heap",),
    "哈希表": ("hash table",),
    "散列表": ("hash table",),
    "指针": ("pointer",),
    "结点": ("node",),
    "节点": ("node",),
    "头结点": ("head node",),
    "头指针": ("head pointer",),
    "根节点": ("root node",),
    "叶子节点": ("leaf node",),
    "遍历": ("traverse", "traversal"),
    "递归": ("recursion",),
    "迭代": ("iteration",),
    "排序": ("sort", "sorting"),
    "快速排序": ("quicksort", "quick sort"),
    "归并排序": ("merge sort",),
    "冒泡排序": ("bubble sort",),
    "查找": ("search", "lookup"),
    "二分查找": ("binary search",),
    "插入": ("insert", "insertion"),
    "删除": ("delete", "deletion"),
    "随机访问": ("random access",),
    "存储": ("storage", "store"),
    "存储结构": ("storage structure",),
    "顺序存储": ("sequential storage",),
    "链式存储": ("linked storage",),
    "内存": ("memory",),
    "溢出": ("overflow",),
    "下标": ("index",),
    "索引": ("index",),
    "入栈": ("push",),
    "出栈": ("pop",),
    "入队": ("enqueue",),
    "出队": ("dequeue",),
    "先进先出": ("fifo", "first in first out"),
    "后进先出": ("lifo", "last in first out"),
    "比较": ("compare", "comparison"),
    "最坏情况": ("worst case",),
    "最好情况": ("best case",),
    "平均": ("average",),
    "前驱": ("predecessor",),
    "后继": ("successor",),
    "缓存": ("cache",),
    "并行": ("parallel",),
    "串行": ("serial", "sequential"),
    "并发": ("concurrency",),
    "接口": ("interface",),
    "函数": ("function",),
    "变量": ("variable",),
    # machine learning
    "模型": ("model",),
    "训练": ("training", "train"),
    "推理": ("inference",),
    "参数": ("parameter",),
    "超参数": ("hyperparameter",),
    "梯度": ("gradient",),
    "损失函数": ("loss function",),
    "损失": ("loss",),
    "过拟合": ("overfitting",),
    "欠拟合": ("underfitting",),
    "正则化": ("regularization", "regularisation"),
    "归一化": ("normalization", "normalisation"),
    "向量": ("vector",),
    "矩阵": ("matrix",),
    "概率": ("probability",),
    "分布": ("distribution",),
    "采样": ("sampling", "sample"),
    "随机性": ("randomness",),
    "多样性": ("diversity",),
    "特征": ("feature",),
    "权重": ("weight",),
    "嵌入": ("embedding",),
    "神经网络": ("neural network",),
    "激活函数": ("activation function",),
    "优化": ("optimization", "optimisation"),
    "优化器": ("optimizer",),
    "学习率": ("learning rate",),
    "标注": ("annotation", "label"),
    "标签": ("label",),
    "数据集": ("dataset",),
    "语料": ("corpus",),
    "语义": ("semantics", "semantic"),
    "上下文": ("context",),
    "生成": ("generation", "generate"),
    "分类": ("classification",),
    "预测": ("prediction", "predict"),
    "对齐": ("alignment", "align"),
    "幻觉": ("hallucination",),
    "解码": ("decoding",),
    "编码": ("encoding",),
    "微调": ("fine-tuning", "fine-tune"),
    "预训练": ("pretraining", "pre-training"),
    # engineering and general
    "效率": ("efficiency",),
    "性能": ("performance",),
    "成本": ("cost",),
    "开销": ("overhead", "cost"),
    "稳定": ("stable",),
    "稳定性": ("stability",),
    "准确": ("accurate",),
    "准确率": ("accuracy",),
    "可扩展性": ("scalability",),
    "可靠性": ("reliability",),
    "安全": ("security", "safety"),
    "隐私": ("privacy",),
    "数据": ("data",),
    "信息": ("information",),
    "系统": ("system",),
    "结构": ("structure",),
    "流程": ("process",),
    "方法": ("method",),
    "策略": ("strategy", "policy"),
    "优点": ("advantage",),
    "缺点": ("disadvantage",),
    "需求": ("demand", "requirement"),
    "资源": ("resource",),
    "容量": ("capacity",),
    "速度": ("speed",),
    "延迟": ("latency", "delay"),
    "吞吐量": ("throughput",),
    "质量": ("quality",),
    "风险": ("risk",),
    "管理": ("management",),
    "控制": ("control",),
    "规划": ("planning",),
    "调度": ("scheduling",),
    "自动化": ("automation",),
    "标准化": ("standardization", "standardisation"),
    "客户": ("customer",),
    "服务": ("service",),
    "用户": ("user",),
    "网络": ("network",),
    "协议": ("protocol",),
    "数据库": ("database",),
}

NEAREST_MIN = 0.8  # measured: 0.75 let 前提 → "predecessor" and 符号 → "encoding" through
NEAREST_MARGIN = 0.1
_BRACKETED = re.compile(
    r"(?P<zh>[\u4e00-\u9fff]{2,12})\s*[（(]\s*(?P<en>[A-Za-z][A-Za-z0-9 \-_&/+.]{0,60}?)\s*[)）]"
    r"|(?P<en2>[A-Za-z][A-Za-z0-9\-_&/+.]*(?: [A-Za-z][A-Za-z0-9\-_&/+.]*){0,5})"
    r"\s*[（(]\s*(?P<zh2>[\u4e00-\u9fff]{2,12})\s*[)）]"
)
_LATIN = re.compile(r"[A-Za-z]")


def document_pairs(document: str) -> dict[str, list[str]]:
    """Chinese phrase -> English forms the document itself gives in brackets."""
    pairs: dict[str, list[str]] = {}
    for m in _BRACKETED.finditer(document):
        zh, en = (m.group("zh"), m.group("en")) if m.group("zh") else (m.group("zh2"), m.group("en2"))
        forms = pairs.setdefault(zh, [])
        if en.strip() not in forms:
            forms.append(en.strip())
    return pairs


def has_english(forms: Iterable[str]) -> bool:
    return any(_LATIN.search(f) for f in forms)


def english_for(term: str, pairs: Mapping[str, Sequence[str]]) -> list[str]:
    """English forms of a Chinese term from the document's own brackets, then the glossary.

    A bracketed phrase counts for the term when it ends with it ("基于人类反馈的强化学习（RLHF）" gives
    强化学习 nothing, but gives "人类反馈的强化学习" and the full phrase RLHF).
    """
    found: list[str] = []
    for zh, forms in pairs.items():
        if zh == term or (zh.endswith(term) and len(term) >= 0.6 * len(zh)):
            found += [f for f in forms if f not in found]
    found += [f for f in GLOSSARY.get(term, ()) if f not in found]
    return found


def nearest_english(
    terms: Sequence[str], candidates: Sequence[str], encode: Callable[[list[str]], np.ndarray]
) -> dict[str, str]:
    """For each Chinese term, the English candidate the embedder puts clearly closest, if any."""
    pool = list(dict.fromkeys(c for c in candidates if c))
    if not terms or len(pool) < 2:
        return {}
    vectors = encode([*terms, *pool])
    sims = vectors[: len(terms)] @ vectors[len(terms) :].T
    out = {}
    for i, term in enumerate(terms):
        order = [int(j) for j in np.argsort(-sims[i])]
        top = pool[order[0]]
        # A runner-up of the same stem ("insert" behind "insertion") is agreement, not doubt.
        rivals = [float(sims[i, j]) for j in order[1:] if pool[j].lower()[:5] != top.lower()[:5]]
        best = float(sims[i, order[0]])
        if best >= NEAREST_MIN and best - max(rivals, default=0.0) >= NEAREST_MARGIN:
            out[term] = top
    return out


def coverage(keyword_forms: Iterable[Sequence[str]]) -> tuple[int, int]:
    """(keyword groups with an English form, all keyword groups)."""
    groups = list(keyword_forms)
    return sum(1 for forms in groups if has_english(forms)), len(groups)
