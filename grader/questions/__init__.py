"""Questions: the reference bank (load, validate, build from the seed), its versions in the database
(`sync`), and `/api/v1/questions`."""
