"""Questions and their banks: the reference bank (load, validate, build from the seed), banks as data
(import from documents and tables, draft key points, versions, publishing, export), their versions in
the database (the source of truth: `banks`, `pins`, `calibrations`), `/api/v1/questions` and
`/api/v1/banks`."""
