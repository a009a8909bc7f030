"""Settings validation refuses the placeholder secret whenever Redis or a database server is configured,
so the test session runs with a random secret of its own (subprocesses get it via `grader_env`)."""

import os
import secrets

os.environ.setdefault("GRADER_SECRET_KEY", "test-" + secrets.token_hex(32))
