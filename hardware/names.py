"""Name lookups that fail helpfully: every registry in the project raises `UnknownNameError`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownNameError(KeyError):
    """An unknown name was asked of a registry; the message lists close matches and valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        self.suggestions = difflib.get_close_matches(name, self.valid, n=3, cutoff=0.6)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        hint = f" Did you mean {' or '.join(self.suggestions)}?" if self.suggestions else ""
        shown = ", ".join(self.valid[:20]) + (" ..." if len(self.valid) > 20 else "")
        return f"unknown {self.kind} {self.name!r}.{hint} Valid: {shown}"

    def __str__(self) -> str:
        return self.message
