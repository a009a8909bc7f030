"""The reviewer dashboard: server-rendered pages under /dashboard in the API's own app (`install`)."""
