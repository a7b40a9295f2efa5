"""The argument reader of the click-free paths (cli/fast.py, cli/fast_run.py).

It reads the options it is given by click's parser rules, and raises Unknown
for anything click would read differently or refuse, so that the caller
hands the command to click. Nothing here may import click or typing.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Dict, FrozenSet, List, Tuple

# The root group's options these paths take, as click declares them: option -> (parameter, takes a value).
ROOT_OPTIONS = {"-H": ("hosts", True), "--host": ("hosts", True), "-c": ("context", True),
                "--context": ("context", True), "--root": ("root", True)}


class Unknown(Exception):
    """An argument this reader does not handle: click's path takes the command."""


def parse_options(args: List[str], options: Dict[str, Tuple[str, bool]], multiple: FrozenSet[str],
                  interspersed: bool = False) -> Tuple[Dict[str, object], List[str]]:
    """(parameter values, positional words) as click's parser reads args: flags may be grouped
    (-aq, -dit), a value may be attached (-n5, --name=x) or be the next argument, even one
    starting with '-'; a flag given again keeps the last value, a multiple one each, in order (a
    tuple). Without interspersed (a group, or a command that stops at its first word) the words
    are the first positional and everything after it, `--` included; with it, words may come
    anywhere and `--` is one of them."""
    values: Dict[str, object] = {}
    words: List[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--" or not arg.startswith("-") or arg == "-":
            if not interspersed:
                return values, [arg] + rest
            words.append(arg)
            continue
        for name, value in _split_option(arg, rest, options):
            if name in multiple:
                previous = values.get(name, ())
                values[name] = (previous if isinstance(previous, tuple) else ()) + (value,)
            else:
                values[name] = value
    return values, words


def _split_option(arg: str, rest: List[str], options: Dict[str, Tuple[str, bool]]) -> List[Tuple[str, object]]:
    """One argument starting with '-' as (parameter, value) pairs; a value may come from rest.
    Unknown, if click would refuse it or if it is not one of these options."""
    if arg.startswith("--"):
        opt, eq, attached = arg.partition("=")
        name, takes_value = options.get(opt, ("", False))
        if not name or (eq and not takes_value):  # click: "Option '--all' does not take a value."
            raise Unknown(arg)
        return [(name, (attached if eq else _next_value(rest, arg)) if takes_value else True)]
    pairs: List[Tuple[str, object]] = []
    for index in range(1, len(arg)):  # click's short options: -aq, -n5, -eA=1, -af x; -f=x is -f with "=x"
        name, takes_value = options.get("-" + arg[index], ("", False))
        if not name:
            raise Unknown(arg)
        if takes_value:
            pairs.append((name, arg[index + 1:] or _next_value(rest, arg)))
            return pairs
        pairs.append((name, True))
    return pairs


def _next_value(rest: List[str], arg: str) -> str:
    if not rest:
        raise Unknown(arg)  # click: "Option '-n' requires an argument."
    return rest.pop(0)
