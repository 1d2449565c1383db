"""Source files and spans: the positions that flow from the parser to every citation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file.

    ``start``/``end`` are code-point offsets into the file text; ``line``/``col``
    are 1-based; ``end_line``/``end_col`` point one past the last character.
    """

    file: str
    start: int
    end: int
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def location(self) -> str:
        """``file:line``, the form citations use."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The text of one policy file and the name it is reported under."""

    name: str
    text: str

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""

    def span_at(self, start: int, end: int | None = None) -> Span:
        """A span for code-point offsets ``start``..``end`` of this file."""
        end = start if end is None else end
        start = max(0, min(start, len(self.text)))
        end = max(start, min(end, len(self.text)))
        line = self.text.count("\n", 0, start) + 1
        col = start - (self.text.rfind("\n", 0, start) + 1) + 1
        end_line = self.text.count("\n", 0, end) + 1
        end_col = end - (self.text.rfind("\n", 0, end) + 1) + 1
        return Span(self.name, start, end, line, col, end_line, end_col)


NO_SPAN = Span("<unknown>", 0, 0, 1, 1, 1, 1)
