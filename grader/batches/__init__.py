"""Batch grading of answer sheets: `parsing` (upload -> answers and row errors), `export` (results ->
CSV/XLSX/JSON). Both are pure; the service and the CLI drive them."""
