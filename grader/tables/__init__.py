"""Reading the tables people upload: CSV and XLSX bytes in, rows of cell text out, within a budget.

One reader for every door that takes a table: answer sheets (`grader.batches.parsing`) and bank imports
(`grader.questions.documents`) alike, so both get the same decoding (UTF-8, UTF-16, GBK/GB18030), the
same delimiter sniffing, and the same workbook budget decided before openpyxl reads a byte (the zip's
declared sizes, then its worksheets and shared strings streamed and counted: unpacked bytes, cells,
shared strings, and rows — the highest row number a sheet declares or reaches, blank rows included,
since openpyxl yields every blank row up to it). Pure: no database, no web framework.

What the rows mean (headers, answers, questions) is each feature's own business.
"""

from __future__ import annotations

from grader.tables.limits import DEFAULT_TABLE_LIMITS, MB, TableLimits, mb
from grader.tables.text import csv_records, decode_text, header_key
from grader.tables.workbook import cell_text, check_workbook, file_kind, worksheets

__all__ = [
    "DEFAULT_TABLE_LIMITS",
    "MB",
    "TableLimits",
    "cell_text",
    "check_workbook",
    "csv_records",
    "decode_text",
    "file_kind",
    "header_key",
    "mb",
    "worksheets",
]
