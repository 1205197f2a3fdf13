"""The error every reader raises for malformed input, and the snippets its messages quote."""
from typing import Optional

_SNIPPET = 80


class BadInputError(ValueError):
    """Malformed input data: `str()` is "FILE line N: PROBLEM".

    `line` is 1-based (None when the problem concerns the whole file); `unit` says what it
    counts: "line" for JSON Lines, "row" for CSV (the header is row 1), "record" for
    TFRecord.
    """

    # Beam re-raises a DoFn's exception as a new one of the same type, built from
    # `args[0] + " [while running ...]"`; that would corrupt `file`. This flag (Beam's own)
    # makes it re-raise ours unchanged.
    _tagged_with_step = True

    def __init__(self, file: str, line: Optional[int], problem: str, unit: str = "line"):
        super().__init__(file, line, problem, unit)  # args round-trip through pickle
        self.file = file
        self.line = line
        self.problem = problem
        self.unit = unit

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} {self.unit} {self.line}"
        return f"{where}: {self.problem}"


def snippet(text: str) -> str:
    """`text` without its line ending, cut to 80 characters (for messages)."""
    text = text.rstrip("\r\n")
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."
