"""A small Go text/template renderer for --format, and docker's table layout.

Covers what docker users write: `{{.A.B}}`, `{{json .X}}`, `{{index .M "k"}}`,
`{{range .L}}..{{end}}` (with `$i, $v :=`), `{{if}}/{{else}}/{{with}}`, pipes
(`{{.Name | upper}}`), `{{-`/`-}}` trimming and the functions docker adds
(json, join, split, lower, upper, title, truncate, pad, len, index, printf,
println). See https://pkg.go.dev/text/template and docker/cli
`templates/templates.go`. Values print the way Go's %v prints decoded JSON.
"""
from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Pattern, Sequence, Tuple

from rootless.cli.table import NO_VALUE
from rootless.cli.table import tabwrite as tabwrite  # moved to cli/table.py; top.py and stats.py import it from here
from rootless.errors import InvalidArgument

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_LITERALS = ("true", "false", "nil")
_TOKEN_PATTERN = (r'''\s*("(?:\\.|[^"\\])*"|`[^`]*`|:=|\||,|\(|\)|\$\w*(?:\.\w+)*|(?:\.\w+)+|\.|'''
                  r'''-?\d+(?:\.\d+)?|[A-Za-z_]\w*)''')
_TOKEN: List[Pattern[str]] = []  # compiled on first use: ~0.4 ms, and the default formats never need it


class Node:
    """A parsed piece of a template: text, an action, or a block."""

    def __init__(self, kind: str, pipe: Optional[List[List[Any]]] = None, text: str = "",
                 variables: Sequence[str] = ()) -> None:
        self.kind = kind
        self.pipe = pipe or []
        self.text = text
        self.variables = list(variables)
        self.body: List[Node] = []
        self.else_body: List[Node] = []


def _is_field_chain(source: str) -> bool:
    """`.A` or `.A.B`: what _TOKEN reads as one token ((?:\\.\\w+)+; \\w is str.isalnum() or '_')."""
    return source[:1] == "." and all(part and part.replace("_", "a").isalnum() for part in source[1:].split("."))


def _tokenize(source: str) -> List[str]:
    tokens, pos = [], 0
    source = source.strip()
    if _is_field_chain(source):  # {{.ID}}: every column of the default formats
        return [source]
    if not _TOKEN:
        _TOKEN.append(re.compile(_TOKEN_PATTERN))
    while pos < len(source):
        match = _TOKEN[0].match(source, pos)
        if not match or match.end() == pos:
            raise parse_error(f"unexpected {source[pos:]!r} in {{{{{source}}}}}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _group(tokens: List[str], pos: int) -> Tuple[List[Any], int]:
    """Nest parenthesised sub-pipelines: `(index .M "k").Field` becomes one operand."""
    items: List[Any] = []
    while pos < len(tokens):
        token = tokens[pos]
        pos += 1
        if token == ")":
            return items, pos
        if token != "(":
            items.append(token)
            continue
        inner, pos = _group(tokens, pos)
        path = ""
        if pos < len(tokens) and tokens[pos].startswith(".") and tokens[pos] != ".":
            path, pos = tokens[pos], pos + 1
        items.append(("sub", _commands(inner), path))
    return items, pos


def _commands(items: List[Any]) -> List[List[Any]]:
    commands: List[List[Any]] = [[]]
    for item in items:
        if item == "|":
            commands.append([])
        else:
            commands[-1].append(item)
    return commands


def _split_pipe(tokens: List[str]) -> Tuple[List[str], List[List[Any]]]:
    """Variable declarations (`$k, $v :=`) and the pipeline's commands."""
    variables: List[str] = []
    if ":=" in tokens:
        at = tokens.index(":=")
        variables = [t for t in tokens[:at] if t != ","]
        tokens = tokens[at + 1:]
    if tokens.count("(") != tokens.count(")"):
        raise parse_error("unbalanced parentheses")
    items, _ = _group(tokens, 0)
    return variables, _commands(items)


def parse_error(reason: str, line: int = 1) -> InvalidArgument:
    """docker/cli's words for a template that does not parse (text/template's own after the prefix)."""
    return InvalidArgument(f"template parsing error: template: :{line}: {reason}",
                           hint="see https://docs.docker.com/go/formatting/")


def _segments(template: str) -> List[Tuple[str, str, int]]:
    """("text", s, line) and ("action", s, line) pieces, with {{- and -}} trimming applied."""
    pieces: List[Tuple[str, str, int]] = []
    pos, trim_next = 0, False
    for match in _ACTION.finditer(template):
        text = template[pos:match.start()]
        _refuse_unclosed(text, template, pos)
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        line = template.count("\n", 0, match.start()) + 1
        pieces.append(("text", text, line))
        pieces.append(("action", match.group(2), line))
        trim_next, pos = bool(match.group(3)), match.end()
    tail = template[pos:]
    _refuse_unclosed(tail, template, pos)
    pieces.append(("text", tail.lstrip() if trim_next else tail, template.count("\n") + 1))
    return pieces


def _refuse_unclosed(text: str, template: str, offset: int) -> None:
    """A `{{` with no `}}` after it: Go refuses it; echoing it back would hide the typo."""
    at = text.find("{{")
    if at >= 0:
        raise parse_error("unclosed action", template.count("\n", 0, offset + at) + 1)


def parse_template(template: str) -> List[Node]:
    """The node tree of template; InvalidArgument on unbalanced blocks."""
    root = Node("root")
    stack = [root]
    line = 1
    for kind, source, line in _segments(template):
        target = stack[-1].else_body if getattr(stack[-1], "in_else", False) else stack[-1].body
        if kind == "text":
            if source:
                target.append(Node("text", text=source))
            continue
        try:
            _add_action(stack, target, _tokenize(source))
        except InvalidArgument as exc:
            if exc.message.startswith("template parsing error"):
                raise
            raise parse_error(exc.message, line) from None
    if len(stack) != 1:
        raise parse_error("unexpected EOF", line)
    return root.body


def _add_action(stack: List[Node], target: List[Node], tokens: List[str]) -> None:
    """One {{...}}: a block opens or closes on stack, anything else joins target."""
    word = tokens[0] if tokens else ""
    if word in ("range", "if", "with"):
        variables, pipe = _split_pipe(tokens[1:])
        _check_functions(pipe)
        node = Node(word, pipe, variables=variables)
        target.append(node)
        stack.append(node)
    elif word in ("else", "end"):
        if len(stack) == 1:
            raise InvalidArgument(f"unexpected {{{{{word}}}}}")
        if word == "end":
            stack.pop()
        else:
            stack[-1].in_else = True  # type: ignore[attr-defined]
    elif not word:
        raise InvalidArgument("missing value for command")
    elif not word.startswith("/*"):
        variables, pipe = _split_pipe(tokens)
        _check_functions(pipe)
        target.append(Node("action", pipe, variables=variables))


def _check_functions(pipe: List[List[Any]]) -> None:
    """A bare word must name a function, as text/template checks at parse time."""
    for command in pipe:
        for item in command:
            if isinstance(item, tuple):
                _check_functions(item[1])
            elif (isinstance(item, str) and re.fullmatch(r"[A-Za-z_]\w*", item)
                  and item not in FUNCTIONS and item not in _LITERALS):
                raise InvalidArgument(f'function "{item}" not defined')


class _Missing:
    """A map key that is not there: Go prints <no value>."""

    def __repr__(self) -> str:
        return NO_VALUE


MISSING = _Missing()


def format_value(value: Any) -> str:
    """A value the way Go's %v prints decoded JSON."""
    if value is MISSING:
        return NO_VALUE
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{format_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def is_true(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty and missing are false."""
    return not (value is MISSING or value is None or value is False or value == 0 or
                (hasattr(value, "__len__") and len(value) == 0))


def _to_json(value: Any) -> str:
    return json.dumps(None if value is MISSING else value, separators=(",", ":"), ensure_ascii=False)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif isinstance(value, (list, tuple)) and isinstance(key, int):
            if not -len(value) <= key < len(value):
                raise InvalidArgument(f"invalid format: index out of range: {key}")
            value = value[key]
        else:
            return MISSING
    return value


def _printf(fmt: str, *args: Any) -> str:
    # Go verbs map onto Python's %-formatting once %v (and %q) are spelled %s.
    python_fmt = re.sub(r"%([-+# 0-9.]*)[vq]", r"%\1s", fmt)
    return python_fmt % tuple(format_value(a) if isinstance(a, (list, dict)) else a for a in args)


def _truncate(text: Any, length: int) -> str:
    return str(text)[:length]


def _pad(text: Any, left: int, right: int) -> str:
    return " " * left + format_value(text) + " " * right


def _and(*args: Any) -> Any:
    for arg in args[:-1]:
        if not is_true(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args[:-1]:
        if is_true(arg):
            return arg
    return args[-1]


def _eq(first: Any, *others: Any) -> bool:
    return any(first == other for other in others)


# Go's builtins (text/template funcs.go) that docker users write, then docker/cli's additions.
FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "and": _and,
    "or": _or,
    "not": lambda value: not is_true(value),
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "json": _to_json,
    "index": _index,
    "join": lambda items, sep: sep.join(format_value(i) for i in (items or [])),
    "split": lambda text, sep: str(text).split(sep),
    "lower": lambda text: format_value(text).lower(),
    "upper": lambda text: format_value(text).upper(),
    "title": lambda text: format_value(text).title(),
    "len": lambda value: len(value) if hasattr(value, "__len__") else 0,
    "printf": _printf,
    "print": lambda *args: "".join(format_value(a) for a in args),
    "println": lambda *args: " ".join(format_value(a) for a in args) + "\n",
    "truncate": _truncate,
    "pad": _pad,
}


def _field(value: Any, path: str) -> Any:
    for name in [p for p in path.split(".") if p]:
        value = value.get(name, MISSING) if isinstance(value, dict) else MISSING
    return value


class Template:
    """A parsed template, rendered against one object at a time."""

    def __init__(self, template: str) -> None:
        self.nodes = parse_template(template)

    def render(self, data: Any) -> str:
        out: List[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: List[Node], dot: Any, scope: Dict[str, Any], out: List[str]) -> None:
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self._pipe(node.pipe, dot, scope)
                if node.variables:
                    scope[node.variables[0]] = value
                else:
                    out.append(format_value(value))
            elif node.kind == "range":
                self._range(node, dot, scope, out)
            else:
                value = self._pipe(node.pipe, dot, scope)
                for name in node.variables:
                    scope[name] = value
                body = node.body if is_true(value) else node.else_body
                self._run(body, value if node.kind == "with" else dot, dict(scope), out)

    def _range(self, node: Node, dot: Any, scope: Dict[str, Any], out: List[str]) -> None:
        value = self._pipe(node.pipe, dot, scope)
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            items = []
        if not items:
            self._run(node.else_body, dot, dict(scope), out)
        for key, element in items:
            inner = dict(scope)
            if len(node.variables) == 2:
                inner[node.variables[0]], inner[node.variables[1]] = key, element
            elif node.variables:
                inner[node.variables[0]] = element
            self._run(node.body, element, inner, out)

    def _pipe(self, commands: List[List[Any]], dot: Any, scope: Dict[str, Any]) -> Any:
        value: Any = MISSING
        for number, command in enumerate(commands):
            if not command:
                raise InvalidArgument("invalid format: empty command in pipeline")
            args = [self._operand(t, dot, scope) for t in command[1:]]
            if number > 0:
                args.append(value)
            value = self._command(command[0], args, dot, scope)
        return value

    def _command(self, head: Any, args: List[Any], dot: Any, scope: Dict[str, Any]) -> Any:
        if isinstance(head, str) and head in FUNCTIONS:
            try:
                return FUNCTIONS[head](*args)
            except TypeError as exc:
                raise InvalidArgument(f"invalid format: wrong arguments for {head}: {exc}") from None
        if args:
            raise InvalidArgument(f"invalid format: {head} is not a function")
        return self._operand(head, dot, scope)

    def _operand(self, token: Any, dot: Any, scope: Dict[str, Any]) -> Any:
        if isinstance(token, tuple):
            return _field(self._pipe(token[1], dot, scope), token[2])
        if token == ".":
            return dot
        if token.startswith("."):
            return _field(dot, token)
        if token.startswith("$"):
            name, _, path = token.partition(".")
            if name not in scope:
                raise InvalidArgument(f"invalid format: undefined variable {name}")
            return _field(scope[name], path)
        if token.startswith('"'):
            return json.loads(token)
        if token.startswith("`"):
            return token[1:-1]
        if token in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[token]
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if re.fullmatch(r"-?\d+\.\d+", token):
            return float(token)
        if token in FUNCTIONS:
            return FUNCTIONS[token]()
        raise InvalidArgument(f"invalid format: unexpected {token!r}")


def expand_escapes(fmt: str) -> str:
    """Docker turns a literal backslash-t / backslash-n in --format into tab / newline."""
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def render(fmt: str, data: Any) -> str:
    """One object through a --format template."""
    return Template(expand_escapes(fmt)).render(data)


def compile_format(fmt: str) -> Template:
    """A --format for one object at a time ('json' is `{{json .}}`), parsed before any request,
    so a typo fails at once with docker's "template parsing error" instead of after the work."""
    return Template("{{json .}}" if fmt == "json" else expand_escapes(fmt))


class _Headers(dict):  # type: ignore[type-arg]
    """The header row's data: known column titles, else the field name in capitals."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, str(key).upper())


def format_rows(fmt: str, rows: Sequence[Any], headers: Dict[str, str]) -> List[str]:
    """Output lines for rows under a docker --format: 'table ...', 'json' or a template."""
    if fmt == "json":
        return [_to_json(row) for row in rows]
    is_table = fmt.startswith("table")
    body = expand_escapes(fmt[len("table"):].lstrip(" ") if is_table else fmt)
    template = Template(body)
    lines = [template.render(row) for row in rows]
    if not is_table:
        return lines
    header = template.render(_Headers(headers))
    return tabwrite("\n".join([header] + lines).split("\n"))


def confirm_prune(what: str, force: bool) -> bool:
    """docker's prune prompt ("WARNING! This will remove ..."); True to go on."""
    import click

    return force or click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?")


def prune_report_lines(title: str, deleted: Sequence[str], space: Optional[int]) -> List[str]:
    """docker's prune summary: 'Deleted X:' + names + blank line, then the reclaimed space if known."""
    from rootless.cli.humanize import human_size

    lines = [f"Deleted {title}:"] + list(deleted) + [""] if deleted else []
    if space is not None:
        lines.append(f"Total reclaimed space: {human_size(space)}")
    return lines
