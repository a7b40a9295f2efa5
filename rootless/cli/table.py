"""docker's table layout, and the --format templates that need no template engine.

Every default format of `ps` and `images` (and `-q`'s `{{.ID}}`) is fields
`{{.Name}}` between literal text. The template engine (cli/format.py, ~0.4 ms
to load) is not needed for those: plain_rows prints them, and the fast path
(cli/fast.py) of `rootless ps` does not load it (bench/README.md "CLI fast
path", second pass). tests/unit/cli/test_table.py compares the two.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

NO_VALUE = "<no value>"  # Go's output for a missing map key (cli/format.py prints the same)


def tabwrite(lines: List[str], minwidth: int = 10, padding: int = 3) -> List[str]:
    """Align tab-separated cells like Go's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)."""
    rows = [line.split("\t") for line in lines]
    widths: Dict[int, int] = {}
    for cells in rows:
        for column, cell in enumerate(cells[:-1]):
            widths[column] = max(widths.get(column, minwidth), len(cell) + padding)
    return ["".join(cell.ljust(widths[c]) for c, cell in enumerate(cells[:-1])) + cells[-1]
            for cells in rows]


def plain_rows(fmt: str, rows: Sequence[Dict[str, Any]], headers: Dict[str, str]) -> Optional[List[str]]:
    """cli/format.format_rows's lines for a format of fields and text only; None for anything
    else (json, functions, blocks, trimming, spaces in an action), or a value that is not text."""
    is_table = fmt.startswith("table")
    body = fmt[len("table"):].lstrip(" ") if is_table else fmt
    pieces = None if fmt == "json" else _pieces(body.replace("\\t", "\t").replace("\\n", "\n"))
    if pieces is None:
        return None
    lines = []
    for row in rows:
        line = _render(pieces, row.get)
        if line is None:
            return None
        lines.append(line)
    if not is_table:
        return lines
    header = _render(pieces, lambda name, _missing: headers.get(name, name.upper()))
    return None if header is None else tabwrite("\n".join([header] + lines).split("\n"))


def _pieces(template: str) -> Optional[List[Tuple[str, List[str]]]]:
    """[(text, field path)...] ending with (text, []); None unless every action is `{{.A}}` or `{{.A.B}}`.
    The escapes are docker's (format.expand_escapes)."""
    first, *actions = template.split("{{")
    pieces: List[Tuple[str, List[str]]] = []
    text = first
    for action in actions:
        source, closed, after = action.partition("}}")
        path = source[1:].split(".")
        if not closed or source[:1] != "." or not all(part.replace("_", "a").isalnum() for part in path):
            return None
        pieces.append((text, path))
        text = after
    return pieces + [(text, [])]


def _render(pieces: List[Tuple[str, List[str]]], get: Callable[[str, str], Any]) -> Optional[str]:
    """One line, with get(field, missing) the row's value; None for a value only the engine prints."""
    out = []
    for text, path in pieces:
        out.append(text)
        if not path:
            continue
        value = get(path[0], NO_VALUE)
        if len(path) > 1:
            if isinstance(value, dict):
                return None  # a nested map: the engine walks it
            value = NO_VALUE  # a field of a text (or of nothing) is missing, as in Go
        if not isinstance(value, str):
            return None  # Go's %v of a number or a list: the engine's format_value
        out.append(value)
    return "".join(out)
