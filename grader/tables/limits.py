"""The budget a table is read within: decided before the work, the same for every door."""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class TableLimits:
    max_bytes: int = 20 * MB
    # Rows read, blank ones included: bounds a sheet whose rows are mostly empty. For a workbook the
    # highest row number a sheet declares or reaches counts (openpyxl yields every blank row up to it).
    max_rows: int = 120_000
    max_columns: int = 256
    max_cells: int = 2_000_000
    # xlsx is a zip: bound what it expands to before openpyxl sees it. The budget that bounds the parse's
    # memory and CPU (bench/bench_sheets.py): what the parts may unpack to, and how many cells and shared
    # strings their XML may hold (counted while streaming, before openpyxl reads a byte). An answer sheet
    # at the 50,000-answer cap needs a fraction of each.
    max_uncompressed_bytes: int = 64 * MB
    max_compression_ratio: int = 200
    max_cell_elements: int = 1_000_000
    max_shared_strings: int = 500_000


DEFAULT_TABLE_LIMITS = TableLimits()


def mb(n: int) -> str:
    return f"{n / MB:.0f} MB" if n >= MB else f"{n // 1024} KB"
