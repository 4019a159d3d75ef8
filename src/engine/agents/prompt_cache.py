"""System prompts live in files; this cache loads them lazily and can be cleared at run time."""

from __future__ import annotations

import logging
from pathlib import Path

from engine.errors import NotFound

log = logging.getLogger(__name__)


class PromptCache:
    def __init__(self, prompt_dir: Path) -> None:
        self.prompt_dir = prompt_dir.resolve()
        self._cache: dict[str, str] = {}

    def get(self, prompt_file: str) -> str:
        cached = self._cache.get(prompt_file)
        if cached is not None:
            return cached
        path = (self.prompt_dir / prompt_file).resolve()
        if not path.is_relative_to(self.prompt_dir) or not path.is_file():
            raise NotFound(f"prompt file {prompt_file!r} not found")
        text = path.read_text(encoding="utf-8").strip()
        self._cache[prompt_file] = text
        return text

    def clear(self) -> int:
        """Drop every cached prompt; returns how many were cached."""
        dropped = len(self._cache)
        self._cache.clear()
        log.info("prompt cache cleared (%d entries)", dropped)
        return dropped

    @property
    def size(self) -> int:
        return len(self._cache)
