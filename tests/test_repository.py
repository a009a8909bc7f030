"""The repository stands alone: no tracked file reads anything from the `shared` folder beside it; the commands it
documents run as written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Spelled in two pieces so that this file does not match itself.
OUTSIDE = "../" + "shared"


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (or no git): the tracked files are unknown")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def _is_binary(data: bytes) -> bool:
    """git's own rule: a NUL byte in the first 8,000 bytes."""
    return b"\0" in data[:8000]


def test_no_tracked_file_refers_to_a_shared_folder_outside_the_repository() -> None:
    hits: list[str] = []
    for path in _tracked_files():
        if not path.is_file():  # deleted in the work tree but still in the index
            continue
        data = path.read_bytes()
        if _is_binary(data):
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if OUTSIDE in line:
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:160]}")
    assert not hits, f"{len(hits)} line(s) refer to {OUTSIDE}; everything must be inside the repository:\n" + "\n".join(
        hits
    )


def _shell_lines(markdown: str) -> list[tuple[int, str]]:
    """The lines inside fenced code blocks, with their line numbers."""
    lines, inside = [], False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append((number, line))
    return lines


def test_documented_commands_run_grader_from_the_venv() -> None:
    """`grader` is not on PATH after scripts/setup: commands to copy say .venv/bin/grader (Docker's excepted)."""
    bare = [
        f"{doc.relative_to(ROOT)}:{number}: {line.strip()}"
        for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for number, line in _shell_lines(doc.read_text(encoding="utf-8"))
        if line.lstrip().startswith("grader ")
    ]
    assert not bare, "use .venv/bin/grader:\n" + "\n".join(bare)
