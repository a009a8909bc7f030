"""Real answer-sheet files, built the way recruiters' tools write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

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


def shared_strings_bomb(path: str | Path, *, unpacked_mb: int = 300, rows: int = 2000) -> None:
    """Write the probe's attack to `path`: a valid .xlsx whose shared strings unpack to ~`unpacked_mb` MB
    from a file about 25 times smaller (each string an answer-sized text with a random tail, so it
    deflates like real text repeated, not like zeros). Streamed to disk in 1 MB pieces; a few seconds."""
    import os
    import zipfile

    part = 1024  # bytes per shared string before its random tail
    count = unpacked_mb * 1024 * 1024 // (part + 80)
    sentence = "自注意力机制让每个位置关注序列中的其他位置，多头注意力从多个子空间学习不同的关系。"
    phrase = (sentence * 200).encode()[:part].decode(errors="ignore").encode()  # whole characters only
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
            'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="answers" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>",
        )
        cells = "".join(
            f'<row r="{r + 2}"><c r="A{r + 2}" t="inlineStr"><is><t>c{r}</t></is></c>'
            f'<c r="B{r + 2}" t="inlineStr"><is><t>q01</t></is></c><c r="C{r + 2}" t="s"><v>{r % count}</v></c></row>'
            for r in range(rows)
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>candidate_id</t></is></c><c r="B1" '
            't="inlineStr"><is><t>question_id</t></is></c><c r="C1" t="inlineStr"><is><t>answer</t></is></c></row>'
            f"{cells}</sheetData></worksheet>",
        )
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as strings:
            strings.write(
                f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                f'2006/main" count="{count}" uniqueCount="{count}">'.encode()
            )
            batch: list[bytes] = []
            for _ in range(count):
                batch.append(b"<si><t>" + phrase + os.urandom(28).hex().encode() + b"</t></si>")
                if len(batch) >= 256:
                    strings.write(b"".join(batch))
                    batch.clear()
            strings.write(b"".join(batch) + b"</sst>")
