"""Review: the results index, the reviewers' queue and overrides, statistics, `/api/v1/results` and
`/api/v1/stats`."""
