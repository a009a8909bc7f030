"""Batch grading of answer sheets: `parsing` (upload -> answers and row errors) and `export` (results ->
CSV/XLSX/JSON) are pure; `uploads` holds the batch use cases, `sweep` keeps batches moving, `api` is
`/api/v1/batches`. The CLI's local mode drives parsing and export directly."""
