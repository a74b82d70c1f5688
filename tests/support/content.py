"""Copies of the exercise content with one thing broken, to see how it is reported."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.core.content import DEFAULT_CONTENT_DIR


def broken_copy(tmp_path: Path, slug: str, old: str, new: str) -> Path:
    shutil.copytree(DEFAULT_CONTENT_DIR, tmp_path / "content")
    target = tmp_path / "content" / "exercises" / f"{slug}.yaml"
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    return tmp_path / "content"
