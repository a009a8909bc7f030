"""Load and validate the reference bank (`reference_answers/*.yaml`).

Every file is validated as a whole before any is used: a bad file fails with its path, the field
and what is wrong, so an admin editing key points sees the mistake at load time, not at grading time.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from grader.errors import ReferenceFileError
from grader.scoring.types import Reference
from grader.settings import SHIPPED_REFERENCES

DEFAULT_DIR = SHIPPED_REFERENCES
# The seed Q&A document the default bank is built from ships with the repository.
DEFAULT_SEED_DIR = DEFAULT_DIR / "seed"


def load_reference(path: Path) -> Reference:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReferenceFileError(path, "(file)", f"is not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ReferenceFileError(path, "(file)", "is not UTF-8 text; save it as UTF-8") from exc
    if not isinstance(raw, dict):
        raise ReferenceFileError(path, "(file)", "must be a YAML mapping with id, question, ...")
    try:
        reference = Reference.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ReferenceFileError(path, field, first["msg"], more=exc.error_count() - 1) from exc
    if reference.id != path.stem:
        raise ReferenceFileError(path, "id", f"is {reference.id!r} but the file is named {path.name}")
    return reference


def load_bank(directory: Path = DEFAULT_DIR) -> dict[str, Reference]:
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ReferenceFileError(directory, "(directory)", "holds no *.yaml reference files")
    return {ref.id: ref for ref in (load_reference(p) for p in paths)}


@lru_cache(maxsize=4)
def cached_bank(directory: Path = DEFAULT_DIR) -> Mapping[str, Reference]:
    return load_bank(directory)
