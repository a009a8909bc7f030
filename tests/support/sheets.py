"""Real answer-sheet files, built the way recruiters' tools write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook

# The bank's question texts as of writing; tests that need the live bank load it themselves.
QUESTIONS = {
    "q01": "说一下 chatgpt 的优缺点",
    "q02": "简述一下 transformer 的基本流程",
    "q03": "为什么基于 Transformer 的架构需要多头注意力机制",
    "q04": "编码器，解码器，编解码 LLM 模型之间的区别",
    "q05": "你能解释在语言模型中强化学习的概念吗？它是如何应用在 GPT 的",
    "q06": "在 GPT 中，什么是温度系数？",
    "q07": "什么是旋转位置编码（ROPE）？",
    "q08": "为什么现在的大模型大多是 decoder-only 模型",
    "q09": "ChatGPT 的训练步骤有哪些",
    "q10": "为什么 transformer 需要位置编码",
    "q11": "为什么对于 ChatGPT 而言，提示工程很重要",
    "q12": "如何缓解 LLM 复读机的问题",
}

Row = Sequence[object]


def csv_bytes(rows: Sequence[Row], *, encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO(newline="")
    # Excel writes CRLF line ends and quotes cells holding the delimiter, quotes or line breaks.
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(*sheets: tuple[str, Sequence[Row]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


LONG_HEADER = ("候选人编号", "姓名", "邮箱", "题号", "答案")

LONG_ROWS: list[Row] = [
    LONG_HEADER,
    ("c001", "张三", "zhang@example.com", "q01", "优点：开创了生成式 AI，引入了 RLHF。\n缺点：消耗大量资源，有幻觉。"),
    ("c001", "张三", "zhang@example.com", "q02", "输入经过词嵌入和位置编码，再经过多层自注意力和前馈网络。"),
    ("c002", "李四", "li@example.com", "Q1", "ChatGPT 对话能力强，但是成本高，可能会胡说八道。"),
    ("c002", "李四", "li@example.com", "第10题", "因为自注意力本身与顺序无关，需要位置编码提供位置信息。"),
]
