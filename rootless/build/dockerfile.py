"""Dockerfile parser: text in, typed frozen instructions out (no I/O, no engine).

It follows BuildKit's dockerfile frontend, which docker's classic builder also
uses (moby/buildkit ``frontend/dockerfile/parser``, ``instructions/parse.go``,
``shell/lex.go``): the same line joining, parser directives, heredocs, flag
parsing, word splitting and variable substitution, and the same error texts
prefixed by ``dockerfile parse error on line N:``.

Parsing never expands variables; the builder calls :func:`expand_instruction`
per step with the environment of :class:`BuildVars`, as docker does.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field, replace
from typing import (Callable, cast, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar,
                    Union)

from rootless.errors import InvalidArgument
from rootless.wire.times import parse_duration_ns

DEFAULT_ESCAPE = "\\"
# Proxy build args docker passes to RUN without an ARG line and keeps out of
# the image history (docs.docker.com "Predefined ARGs").
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
# Platform args BuildKit defines automatically in the global scope.
PLATFORM_ARGS = ("BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
                 "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT")
INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
                "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
                "WORKDIR")
DEFAULT_SHELL = ("/bin/sh", "-c")


class DockerfileError(InvalidArgument):
    """A Dockerfile that docker would refuse; ``line`` is its 1-based first line (0: none)."""

    def __init__(self, line: int, reason: str, hint: Optional[str] = None) -> None:
        prefix = f"dockerfile parse error on line {line}: " if line > 0 else "dockerfile parse error: "
        super().__init__(prefix + reason, hint)
        self.line = line
        self.reason = reason


class _Refused(Exception):
    """Internal: a reason without a line; the caller that knows the line re-raises it."""

    def __init__(self, reason: str, hint: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# --------------------------------------------------------------------------
# Variable substitution: shell/lex.go's ProcessWord and ProcessWords.
# --------------------------------------------------------------------------

_EOF = ""


class _Words:
    """Splits the lexer's output into words on unquoted whitespace (lex.go wordsStruct)."""

    def __init__(self) -> None:
        self.buf: List[str] = []
        self.words: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> List[str]:
        if self.buf and "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
        return self.words


class _Lexer:
    """One pass over a word: quotes, escapes and ``$`` substitutions."""

    def __init__(self, text: str, env: Mapping[str, str], escape: str, *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset: bool = False, skip_quotes: bool = False) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes
        self.used: Set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch != _EOF:
            self.pos += 1
        return ch

    def run(self) -> Tuple[str, List[str]]:
        try:
            return self.until(_EOF, self.raw_escapes)
        except _Refused as e:
            raise _Refused(f"failed to process {self.text!r}: {e.reason}") from None

    def until(self, stop: str, raw_escapes: bool) -> Tuple[str, List[str]]:
        """Consume up to ``stop`` (or the end), returning the text and its words."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> Tuple[str, List[str]]:
        result: List[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop != _EOF and ch == stop:
                self.next()
                return "".join(result), words.result()
            special = self._special(ch)
            if special is not None:
                text = special()
                result.append(text)
                words.add_string(text) if ch == "$" else words.add_raw(text)
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop != _EOF:
            raise _Refused(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _special(self, ch: str) -> Optional[Callable[[], str]]:
        if ch == "$":
            return self.dollar
        if ch == "<":
            return self.heredoc_marker
        if not self.skip_quotes and ch == "'":
            return self.single_quote
        if not self.skip_quotes and ch == '"':
            return self.double_quote
        return None

    def _open_quote(self) -> List[str]:
        quote = self.next()
        return [quote] if self.raw_quotes else []

    def single_quote(self) -> str:
        out = self._open_quote()
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _Refused("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out = self._open_quote()
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise _Refused("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                if self.peek() == _EOF:
                    continue
                if self.peek() in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def heredoc_marker(self) -> str:
        # "<< EOF" lexes as the one word "<<EOF", as BuildKit's heredoc detection needs.
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() in (" ", "\t", "\r") and self.peek() != _EOF:
            space.append(self.next())
        return "<<" + "".join(space)

    def name(self) -> str:
        out: List[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not out and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in "@*#?-$!0":
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def lookup(self, name: str) -> Optional[str]:
        if name in self.env:
            self.used.add(name)
            return self.env[name]
        return None

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None and self.skip_unset:
                return "$" + name
            return value or ""
        self.next()
        if self.peek() == _EOF:
            raise _Refused("syntax error: missing '}'")
        if self.peek() in ("{", "}", ":"):
            raise _Refused("syntax error: bad substitution")
        return self.braced(self.name())

    def braced(self, name: str) -> str:
        ch = self.next()
        if ch == "}":
            value = self.lookup(name)
            if value is None and self.skip_unset:
                return "${" + name + "}"
            return value or ""
        if ch == _EOF:
            raise _Refused("syntax error: missing '}'")
        modifier = ch
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next()
            modifier += ch
        if ch == "/" and not null_is_unset:
            return self.replace_pattern(name)
        if ch == _EOF or ch not in "+-?#%":
            raise _Refused(f"unsupported modifier ({modifier}) in substitution")
        if null_is_unset and ch in "#%":
            raise _Refused(f"unsupported modifier ({modifier}) in substitution")
        word = self._braced_word("}", ch in "#%")
        value = self.lookup(name)
        if value is None and self.skip_unset:
            return "${" + name + modifier + word + "}"
        return _apply_modifier(name, value, ch, null_is_unset, word)

    def _braced_word(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except _Refused:
            if self.peek() == _EOF:
                raise _Refused(f"syntax error: missing '{stop}'" + (" in ${}" if stop == "/" else "")) from None
            raise

    def replace_pattern(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self._braced_word("/", True)
        replacement = self._braced_word("}", True)
        value = self.lookup(name)
        if value is None and self.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        return regex.sub(lambda m: replacement, value or "", count=0 if replace_all else 1)


def _apply_modifier(name: str, value: Optional[str], op: str, null_is_unset: bool, word: str) -> str:
    unset = value is None or (null_is_unset and value == "")
    if op == "-":
        return word if unset else (value or "")
    if op == "+":
        return "" if unset else word
    if op == "?":
        if value is None:
            raise _Refused(f"{name}: {word or 'is not allowed to be unset'}")
        if unset:
            raise _Refused(f"{name}: {word or 'is not allowed to be empty'}")
        return value
    return _trim(value or "", op, word)


def _trim(value: str, op: str, word: str) -> str:
    """``${v#p}``/``${v##p}`` trim a prefix, ``${v%p}``/``${v%%p}`` a suffix (doubled: longest)."""
    greedy = word.startswith(op)
    if greedy:
        word = word[1:]
    if op == "#":
        match = _shell_pattern(word, greedy, anchored=True).search(value)
        return value[match.end():] if match else value
    # %: match the reversed pattern against the reversed value (lex.go trimSuffix).
    match = _shell_pattern(_reverse_pattern(word), greedy, anchored=True).search(value[::-1])
    return value[::-1][match.end():][::-1] if match else value


def _shell_pattern(pattern: str, greedy: bool, anchored: bool) -> "re.Pattern[str]":
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(".*" if greedy else ".*?")
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            if i >= len(pattern) or pattern[i] not in "*?\\":
                bad = pattern[i] if i < len(pattern) else ""
                raise _Refused(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{bad}'")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _reverse_pattern(pattern: str) -> str:
    out: List[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            out.append(pattern[i:i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(reversed(out))


def expand_word(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> str:
    """Substitute ``$VAR``/``${VAR...}`` and remove quotes and escapes, as docker does for one word.

    Raises ``InvalidArgument`` for a bad substitution (``${}``, unterminated quotes, ``${X:?msg}``).
    """
    try:
        return _Lexer(word, env, escape).run()[0]
    except _Refused as e:
        raise InvalidArgument(e.reason) from None


def expand_words(text: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> List[str]:
    """Like :func:`expand_word`, then split on unquoted whitespace (docker's ProcessWords)."""
    try:
        return _Lexer(text, env, escape).run()[1]
    except _Refused as e:
        raise InvalidArgument(e.reason) from None


def referenced_names(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> Set[str]:
    """The names in ``env`` that ``word`` uses (for a build cache key of the args in use)."""
    lexer = _Lexer(word, env, escape)
    try:
        lexer.run()
    except _Refused:
        pass
    return lexer.used


# --------------------------------------------------------------------------
# Physical lines to logical lines: directives, continuations, heredocs.
# --------------------------------------------------------------------------

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_HEREDOC_KEYWORDS = ("ADD", "COPY", "RUN")


@dataclass(frozen=True)
class Heredoc:
    """A here-document attached to RUN, COPY or ADD (``<<EOF`` ... ``EOF``)."""

    name: str
    content: str
    expand: bool = True     # False when the name was quoted: <<"EOF"
    chomp: bool = False     # <<-EOF: leading tabs are stripped
    fd: int = 0

    @property
    def data(self) -> str:
        """The content as the command sees it (tabs stripped for ``<<-``)."""
        return re.sub(r"(?m)^\t+", "", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class _Logical:
    text: str
    start: int
    end: int
    heredocs: Tuple[Heredoc, ...]


class _Directives:
    """Parser directives (``# escape=`` and ``# syntax=``) at the top of the file."""

    def __init__(self) -> None:
        self.escape = DEFAULT_ESCAPE
        self.syntax: Optional[str] = None
        self.done = False
        self.seen: Set[str] = set()

    def feed(self, line: str) -> bool:
        """Look at one left-trimmed line; True if it was a directive."""
        if self.done:
            return False
        match = _DIRECTIVE.match(line[1:].lstrip()) if line.startswith("#") else None
        name = match.group(1).lower() if match else ""
        if not match or name not in ("escape", "syntax", "check"):
            self.done = True
            return False
        if name in self.seen:
            raise _Refused(f"only one {name} parser directive can be used")
        self.seen.add(name)
        value = match.group(2)
        if name == "escape":
            if value not in ("\\", "`"):
                raise _Refused(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        elif name == "syntax":
            self.syntax = value
        return True

    def continuation(self) -> "re.Pattern[str]":
        e = re.escape(self.escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _physical_lines(text: str) -> List[str]:
    text = text[1:] if text.startswith("\ufeff") else text
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


class _Reader:
    """Walks the physical lines the way BuildKit's parser.Parse does."""

    def __init__(self, text: str) -> None:
        self.lines = _physical_lines(text)
        self.pos = 0
        self.directives = _Directives()
        self.warnings: List[str] = []

    def read_all(self) -> List[_Logical]:
        out: List[_Logical] = []
        while self.pos < len(self.lines):
            logical = self._next_logical()
            if logical is not None:
                out.append(logical)
        return out

    def _next_logical(self) -> Optional[_Logical]:
        first = _trim_newline(self.lines[self.pos]).lstrip()
        self.pos += 1
        start = self.pos
        try:
            self.directives.feed(first)
        except _Refused as e:
            raise DockerfileError(start, e.reason) from None
        pattern = self.directives.continuation()
        body, more = _trim_continuation("" if _is_comment(first) else first, pattern)
        if not more and not body:
            return None
        parts = [body]
        while more and self.pos < len(self.lines):
            raw = self.lines[self.pos]
            self.pos += 1
            if _is_comment(raw):
                continue
            if not _trim_newline(raw).strip():
                self.warnings.append(f"empty continuation line found in: line {start}")
                continue
            part, more = _trim_continuation(_trim_newline(raw), pattern)
            parts.append(part)
        line = "".join(parts)
        end = self.pos
        heredocs = self._read_heredocs(line, start) if _can_have_heredoc(line, self.directives.escape) else ()
        return _Logical(line, start, max(end, self.pos), heredocs)

    def _read_heredocs(self, line: str, start: int) -> Tuple[Heredoc, ...]:
        out = []
        for doc in _heredocs_in(line):
            content: List[str] = []
            while True:
                if self.pos >= len(self.lines):
                    raise DockerfileError(start, "unterminated heredoc",
                                          hint=f"end the here-document with a line holding only {doc.name}")
                raw = self.lines[self.pos]
                self.pos += 1
                candidate = _trim_newline(raw)
                if (candidate.lstrip("\t") if doc.chomp else candidate) == doc.name:
                    break
                content.append(raw)
            out.append(replace(doc, content="".join(content)))
        return tuple(out)


def _trim_continuation(line: str, pattern: "re.Pattern[str]") -> Tuple[str, bool]:
    if pattern.search(line):
        return pattern.sub(r"\1", line), True
    return line, False


def _can_have_heredoc(line: str, escape: str) -> bool:
    if "<<" not in line:
        return False
    keyword, _, rest = _split_command(line, escape)
    if keyword.upper() == "ONBUILD":
        keyword, _, rest = _split_command(rest, escape)
    return keyword.upper() in _HEREDOC_KEYWORDS and _parse_json(rest) is None


def parse_heredoc_marker(word: str) -> Optional[Heredoc]:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` opens, or None."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = _Lexer(rest, {}, "\\", skip_unset=True).run()[1]
        raw = _Lexer(rest, {}, "\\", skip_unset=True, raw_quotes=True).run()[1]
    except _Refused:
        return None
    if len(words) != 1 or len(raw) != 1:
        return None
    quotes = sum(words[0].count(q) for q in "'\"")
    raw_quotes = sum(raw[0].count(q) for q in "'\"")
    return Heredoc(name=words[0], content="", expand=quotes == raw_quotes, chomp=match.group(2) == "-",
                   fd=int(match.group(1) or 0))


def _heredocs_in(line: str) -> List[Heredoc]:
    try:
        words = _Lexer(line, {}, "\\", raw_quotes=True, raw_escapes=True, skip_unset=True).run()[1]
    except _Refused:
        return []
    return [doc for doc in (parse_heredoc_marker(word) for word in words) if doc is not None]


# --------------------------------------------------------------------------
# Splitting one logical line: keyword, --flags, arguments.
# --------------------------------------------------------------------------


def _split_command(line: str, escape: str) -> Tuple[str, List[str], str]:
    parts = _WHITESPACE.split(line.strip(), 1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def _extract_flags(line: str, escape: str) -> Tuple[str, List[str]]:
    """Leading ``--name[=value]`` words (quotes and escapes removed) and the rest of the line."""
    flags: List[str] = []
    pos = 0
    while True:
        while pos < len(line) and line[pos].isspace():
            pos += 1
        if not line.startswith("--", pos):
            return line[pos:], flags
        word, pos = _flag_word(line, pos, escape)
        if word == "--":
            return line[pos:], flags
        flags.append(word)


def _flag_word(line: str, pos: int, escape: str) -> Tuple[str, int]:
    out: List[str] = []
    quote = ""
    while pos < len(line):
        ch = line[pos]
        if not quote and ch.isspace():
            break
        pos += 1
        if not quote and ch in "'\"":
            quote = ch
            continue
        if quote and ch == quote:
            quote = ""
            continue
        if ch == escape:
            if pos == len(line):
                break
            ch = line[pos]
            pos += 1
        out.append(ch)
    return "".join(out), pos


def _parse_json(rest: str) -> Optional[List[str]]:
    """A JSON array of strings, None if ``rest`` is not JSON; refuses a non-string array."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _Refused("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _parse_words(rest: str, escape: str) -> List[str]:
    """Whitespace-separated words, quotes kept for the expander (line_parsers.go parseWords)."""
    words: List[str] = []
    buf: List[str] = []
    blank_ok = False
    quote = ""
    pos = 0
    while pos < len(rest):
        ch = rest[pos]
        pos += 1
        if not quote and ch.isspace():
            if buf or blank_ok:
                words.append("".join(buf))
            buf, blank_ok = [], False
            continue
        if ch == escape and quote != "'":
            if pos == len(rest):  # a trailing escape is dropped
                quote = ""
                continue
            buf.append(ch)
            ch = rest[pos]
            pos += 1
        elif quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, blank_ok = ch, True
        buf.append(ch)
    if buf or blank_ok:
        words.append("".join(buf))
    return words


def _parse_name_values(rest: str, keyword: str, escape: str) -> List[Tuple[str, str, bool]]:
    """``k=v k2=v2`` pairs, or the legacy ``k v`` form (the bool says legacy)."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, 1)
        if len(parts) < 2:
            raise _Refused(f"{keyword} must have two arguments")
        return [(parts[0], parts[1], True)]
    pairs = []
    for word in words:
        if "=" not in word:
            raise _Refused(f"Syntax error - can't find = in {json.dumps(word)}. Must be of the form: name=value")
        key, value = word.split("=", 1)
        pairs.append((key, value, False))
    return pairs


# --------------------------------------------------------------------------
# Typed instructions.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """Fields every instruction has: where it is and its text as docker prints it in ``Step i/n : …``."""

    line: int
    end_line: int
    original: str

    @property
    def keyword(self) -> str:
        """The instruction name in upper case (``RUN``)."""
        return type(self).__name__.upper()


@dataclass(frozen=True)
class From(Instruction):
    """``FROM [--platform=p] image [AS name]``; ``name`` is lower-cased, ``base`` unexpanded."""

    base: str
    name: Optional[str] = None
    platform: Optional[str] = None


@dataclass(frozen=True)
class RunMount:
    """One ``RUN --mount=`` (BuildKit commands_runmount.go field names, unexpanded until build)."""

    type: str = "bind"
    target: str = ""
    source: str = ""
    from_ref: str = ""
    readonly: bool = True
    cache_id: str = ""
    sharing: str = ""
    required: bool = False
    size: int = 0
    mode: Optional[int] = None
    uid: Optional[int] = None
    gid: Optional[int] = None
    env: Optional[str] = None
    spec: str = ""


@dataclass(frozen=True)
class Run(Instruction):
    """``RUN``; ``shell_form`` means ``command`` (one string) is run by the stage's SHELL."""

    command: Tuple[str, ...]
    shell_form: bool
    heredocs: Tuple[Heredoc, ...] = ()
    mounts: Tuple[RunMount, ...] = ()
    network: str = "default"
    security: str = "sandbox"


@dataclass(frozen=True)
class Cmd(Instruction):
    """``CMD``; shell form is wrapped in the SHELL by the builder."""

    command: Tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True)
class Entrypoint(Instruction):
    """``ENTRYPOINT``; an empty JSON array clears it."""

    command: Tuple[str, ...]
    shell_form: bool


@dataclass(frozen=True)
class Shell(Instruction):
    """``SHELL ["executable", "parameters"]`` (JSON form only, as docker)."""

    shell: Tuple[str, ...]


@dataclass(frozen=True)
class Env(Instruction):
    """``ENV k=v ...`` or legacy ``ENV k v``; values keep their quotes until expanded."""

    pairs: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class Label(Instruction):
    """``LABEL k=v ...``; like ENV."""

    pairs: Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class ArgDecl:
    """One name of an ARG line; ``default`` None means declared without a value."""

    name: str
    default: Optional[str] = None


@dataclass(frozen=True)
class Arg(Instruction):
    """``ARG name[=default] ...``."""

    args: Tuple[ArgDecl, ...]


@dataclass(frozen=True)
class Expose(Instruction):
    """``EXPOSE port[/proto] ...`` (words split again after expansion)."""

    ports: Tuple[str, ...]


@dataclass(frozen=True)
class Volume(Instruction):
    """``VOLUME ["/a"]`` or ``VOLUME /a /b``."""

    paths: Tuple[str, ...]


@dataclass(frozen=True)
class User(Instruction):
    """``USER user[:group]``."""

    user: str


@dataclass(frozen=True)
class Workdir(Instruction):
    """``WORKDIR path``."""

    path: str


@dataclass(frozen=True)
class StopSignal(Instruction):
    """``STOPSIGNAL signal``."""

    signal: str


@dataclass(frozen=True)
class Maintainer(Instruction):
    """``MAINTAINER name`` (deprecated; docker writes it to the image's Author)."""

    maintainer: str


@dataclass(frozen=True)
class Copy(Instruction):
    """``COPY [--from] [--chown] [--chmod] [--link] src... dest``; heredoc sources are in ``inline``."""

    sources: Tuple[str, ...]
    dest: str
    inline: Tuple[Heredoc, ...] = ()
    from_ref: Optional[str] = None
    chown: Optional[str] = None
    chmod: Optional[str] = None
    link: bool = False


@dataclass(frozen=True)
class Add(Instruction):
    """``ADD [--chown] [--chmod] [--link] src... dest`` (local tars are extracted by the builder)."""

    sources: Tuple[str, ...]
    dest: str
    inline: Tuple[Heredoc, ...] = ()
    chown: Optional[str] = None
    chmod: Optional[str] = None
    link: bool = False


@dataclass(frozen=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK NONE`` (test == ("NONE",)) or ``HEALTHCHECK [opts] CMD ...``; durations in ns, 0 = default."""

    test: Tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Onbuild(Instruction):
    """``ONBUILD <instruction>``: ``expression`` is what the image config stores, ``trigger`` its parse."""

    expression: str
    trigger: Instruction


# --------------------------------------------------------------------------
# Building the typed instructions from a logical line.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    keyword: str
    flags: Tuple[str, ...]
    rest: str
    line: int
    end_line: int
    original: str
    heredocs: Tuple[Heredoc, ...]
    escape: str


_FlagValues = Dict[str, List[str]]
# Flags docker knows but rootless does not implement: refused, never ignored.
_UNSUPPORTED_FLAGS = {
    "COPY": ("parents", "exclude"),
    "ADD": ("keep-git-dir", "checksum", "unpack", "exclude"),
    "RUN": ("device",),
}


def _parse_flags(req: _Request, spec: Mapping[str, str]) -> _FlagValues:
    """BuildKit's BFlags: ``spec`` maps a flag name to "bool", "string" or "strings"."""
    values: _FlagValues = {}
    for word in req.flags:
        if not word.startswith("--"):
            raise _Refused(f"arg should start with -- : {word}")
        name, has_value, value = word[2:].partition("=")
        if name in _UNSUPPORTED_FLAGS.get(req.keyword, ()):
            raise _Refused(f"{req.keyword} --{name} is not supported by rootless",
                           hint="remove the flag, or build with BuildKit")
        kind = spec.get(name)
        if kind is None:
            raise _Refused(f"unknown flag: --{name}")
        if name in values and kind != "strings":
            raise _Refused(f"duplicate flag specified: --{name}")
        values.setdefault(name, []).append(_flag_value(name, kind, bool(has_value), value))
    return values


def _flag_value(name: str, kind: str, has_value: bool, value: str) -> str:
    if kind == "bool":
        if has_value and value == "":
            raise _Refused(f"missing a value on flag: --{name}")
        if value.lower() not in ("", "true", "false"):
            raise _Refused(f"expecting boolean value for flag --{name}, not: {value}")
        return "false" if value.lower() == "false" else "true"
    if not has_value:
        raise _Refused(f"missing a value on flag: --{name}")
    return value


def _flag(values: _FlagValues, name: str) -> Optional[str]:
    return values[name][-1] if name in values else None


def _no_flags(req: _Request) -> None:
    _parse_flags(req, {})


def _maybe_json(req: _Request) -> Tuple[List[str], bool]:
    if not req.rest:
        return [], False
    parsed = _parse_json(req.rest)
    return (parsed, True) if parsed is not None else ([req.rest], False)


def _maybe_json_list(req: _Request) -> Tuple[List[str], bool]:
    parsed = _parse_json(req.rest)
    if parsed is not None:
        return parsed, True
    return (_WHITESPACE.split(req.rest) if req.rest else []), False


def _one_arg(req: _Request) -> str:
    _no_flags(req)
    if not req.rest:
        raise _Refused(f"{req.keyword} requires exactly one argument")
    return req.rest


def _build_from(req: _Request) -> From:
    args = _WHITESPACE.split(req.rest) if req.rest else []
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not re.match(r"^[a-z][a-z0-9-_.]*$", name):
            raise _Refused(f"invalid name for build stage: {json.dumps(args[2])}, "
                           "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise _Refused("FROM requires either one or three arguments")
    flags = _parse_flags(req, {"platform": "string"})
    return From(req.line, req.end_line, req.original, base=args[0], name=name, platform=_flag(flags, "platform"))


def _build_run(req: _Request) -> Run:
    flags = _parse_flags(req, {"mount": "strings", "network": "string", "security": "string"})
    network = _flag(flags, "network") or "default"
    if network not in ("default", "none", "host"):
        raise _Refused(f"invalid network mode {json.dumps(network)}")
    security = _flag(flags, "security") or "sandbox"
    if security not in ("sandbox", "insecure"):
        raise _Refused(f"security {json.dumps(security)} is not valid")
    args, is_json = _maybe_json(req)
    if not args:  # RUN [] too: there is nothing to execute
        raise _Refused("RUN requires at least one argument")
    mounts = tuple(parse_mount(spec) for spec in flags.get("mount", []))
    return Run(req.line, req.end_line, req.original, command=tuple(args), shell_form=not is_json,
               heredocs=req.heredocs, mounts=mounts, network=network, security=security)


def _build_command(req: _Request) -> Union[Cmd, Entrypoint]:
    _no_flags(req)
    args, is_json = _maybe_json(req)
    if not args and not is_json:
        raise _Refused(f"{req.keyword} requires at least one argument",
                       hint=f'use {req.keyword} [] to clear it')
    kind = Cmd if req.keyword == "CMD" else Entrypoint
    return kind(req.line, req.end_line, req.original, command=tuple(args), shell_form=not is_json)


def _build_shell(req: _Request) -> Shell:
    _no_flags(req)
    args, is_json = _maybe_json(req)
    if not args:
        raise _Refused("SHELL requires at least one argument")
    if not is_json:
        raise _Refused("SHELL requires the arguments to be in JSON form")
    return Shell(req.line, req.end_line, req.original, shell=tuple(args))


def _build_pairs(req: _Request) -> Union[Env, Label]:
    _no_flags(req)
    pairs = _parse_name_values(req.rest, req.keyword, req.escape)
    if not pairs:
        raise _Refused(f"{req.keyword} requires at least one argument")
    if any(not key for key, _, _ in pairs):
        raise _Refused(f"{req.keyword} names can not be blank")
    kind = Env if req.keyword == "ENV" else Label
    return kind(req.line, req.end_line, req.original, pairs=tuple((k, v) for k, v, _ in pairs))


def _build_arg(req: _Request) -> Arg:
    _no_flags(req)
    words = _parse_words(req.rest, req.escape)
    if not words:
        raise _Refused("ARG requires at least one argument")
    decls = []
    for word in words:
        name, has_default, default = word.partition("=")
        if not name:
            raise _Refused("ARG names can not be blank")
        decls.append(ArgDecl(name, default if has_default else None))
    return Arg(req.line, req.end_line, req.original, args=tuple(decls))


def _build_expose(req: _Request) -> Expose:
    _no_flags(req)
    if not req.rest:
        raise _Refused("EXPOSE requires at least one argument")
    return Expose(req.line, req.end_line, req.original, ports=tuple(_WHITESPACE.split(req.rest)))


def _build_volume(req: _Request) -> Volume:
    _no_flags(req)
    paths, _ = _maybe_json_list(req)
    if not paths:
        raise _Refused("VOLUME requires at least one argument")
    if any(not path.strip() for path in paths):
        raise _Refused("VOLUME specified can not be an empty string")
    return Volume(req.line, req.end_line, req.original, paths=tuple(path.strip() for path in paths))


def _build_single(req: _Request) -> Instruction:
    value = _one_arg(req)
    if req.keyword == "USER":
        return User(req.line, req.end_line, req.original, user=value)
    if req.keyword == "WORKDIR":
        return Workdir(req.line, req.end_line, req.original, path=value)
    if req.keyword == "STOPSIGNAL":
        return StopSignal(req.line, req.end_line, req.original, signal=value)
    return Maintainer(req.line, req.end_line, req.original, maintainer=value)


def _sources_and_dest(req: _Request) -> Tuple[Tuple[str, ...], str, Tuple[Heredoc, ...]]:
    args, _ = _maybe_json_list(req)
    if len(args) < 2:
        raise _Refused(f"{req.keyword} requires at least two arguments, but only one was provided. "
                       "Destination could not be determined")
    if parse_heredoc_marker(args[-1]) is not None:
        raise _Refused(f"{req.keyword} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc for doc in req.heredocs}
    sources: List[str] = []
    inline: List[Heredoc] = []
    for src in args[:-1]:
        marker = parse_heredoc_marker(src)
        if marker is None:
            sources.append(src)
        else:
            inline.append(bodies.get(marker.name, marker))
    return tuple(sources), args[-1], tuple(inline)


def _build_copy(req: _Request) -> Union[Copy, Add]:
    _maybe_json_list(req)  # a non-string JSON array is refused before flags, as docker
    spec = {"chown": "string", "chmod": "string", "link": "bool"}
    if req.keyword == "COPY":
        spec["from"] = "string"
    flags = _parse_flags(req, spec)
    sources, dest, inline = _sources_and_dest(req)
    chown, chmod, link = _flag(flags, "chown"), _flag(flags, "chmod"), _flag(flags, "link") == "true"
    if req.keyword == "ADD":
        return Add(req.line, req.end_line, req.original, sources=sources, dest=dest, inline=inline,
                   chown=chown, chmod=chmod, link=link)
    source = _flag(flags, "from")
    if source is not None and "$" in source:
        raise _Refused("variable expansion is not supported for --from, define a new stage with FROM "
                       "using ARG from global scope as a workaround")
    return Copy(req.line, req.end_line, req.original, sources=sources, dest=dest, inline=inline, from_ref=source,
                chown=chown, chmod=chmod, link=link)


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration (``1m30s``, ``300ms``, ``1.5h``) in nanoseconds."""
    nanos = parse_duration_ns(text)
    if nanos is None:
        raise _Refused(f"time: invalid duration {json.dumps(text)}")
    return nanos


def _interval(flags: _FlagValues, name: str) -> int:
    value = _flag(flags, name)
    if not value:
        return 0
    nanos = parse_duration(value)
    if 0 < nanos < 10**6 or nanos < 0:
        raise _Refused(f'Interval "{name}" cannot be less than 1ms')
    return nanos


def _build_healthcheck(req: _Request) -> Healthcheck:
    parts = req.rest.split(None, 1)
    if not parts:
        raise _Refused("HEALTHCHECK requires at least one argument")
    kind = parts[0].upper()
    inner = replace(req, rest=parts[1] if len(parts) > 1 else "")
    if kind == "NONE":
        if inner.rest:
            raise _Refused("HEALTHCHECK NONE takes no arguments")
        if req.flags:
            raise _Refused("HEALTHCHECK NONE takes no flags")
        return Healthcheck(req.line, req.end_line, req.original, test=("NONE",))
    flags = _parse_flags(req, {n: "string" for n in ("interval", "timeout", "start-period", "start-interval",
                                                     "retries")})
    if kind != "CMD":
        raise _Refused(f'Unknown type "{parts[0].upper()}" in HEALTHCHECK (try CMD)')
    args, is_json = _maybe_json(inner)
    if not args:
        raise _Refused("Missing command after HEALTHCHECK CMD")
    test = ("CMD",) + tuple(args) if is_json else ("CMD-SHELL", args[0])
    return Healthcheck(req.line, req.end_line, req.original, test=test, interval=_interval(flags, "interval"),
                       timeout=_interval(flags, "timeout"), start_period=_interval(flags, "start-period"),
                       start_interval=_interval(flags, "start-interval"), retries=_retries(flags))


def _retries(flags: _FlagValues) -> int:
    value = _flag(flags, "retries")
    if not value:
        return 0
    try:
        retries = int(value, 10)
    except ValueError:
        raise _Refused(f'strconv.ParseInt: parsing {json.dumps(value)}: invalid syntax') from None
    if retries < 0:
        raise _Refused(f"--retries cannot be negative ({retries})")
    return retries


def _build_onbuild(req: _Request) -> Onbuild:
    _no_flags(req)
    if not req.rest:
        raise _Refused("ONBUILD requires at least one argument")
    trigger_word = req.rest.split(None, 1)[0].upper()
    if trigger_word == "ONBUILD":
        raise _Refused("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_word in ("MAINTAINER", "FROM"):
        raise _Refused(f"{trigger_word} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", req.original)
    for doc in req.heredocs:
        expression += "\n" + doc.content + doc.name
    keyword, flags, rest = _split_command(req.rest, req.escape)
    inner = replace(req, keyword=keyword.upper(), flags=tuple(flags), rest=rest, original=req.rest.strip())
    return Onbuild(req.line, req.end_line, req.original, expression=expression, trigger=_build(inner, keyword))


_BUILDERS: Dict[str, Callable[[_Request], Instruction]] = {
    "FROM": _build_from, "RUN": _build_run, "CMD": _build_command, "ENTRYPOINT": _build_command,
    "SHELL": _build_shell, "ENV": _build_pairs, "LABEL": _build_pairs, "ARG": _build_arg,
    "EXPOSE": _build_expose, "VOLUME": _build_volume, "USER": _build_single, "WORKDIR": _build_single,
    "STOPSIGNAL": _build_single, "MAINTAINER": _build_single, "COPY": _build_copy, "ADD": _build_copy,
    "HEALTHCHECK": _build_healthcheck, "ONBUILD": _build_onbuild,
}


def _build(req: _Request, written: str) -> Instruction:
    builder = _BUILDERS.get(req.keyword)
    if builder is None:
        import difflib
        close = difflib.get_close_matches(req.keyword, INSTRUCTIONS, n=1)
        raise _Refused(f"unknown instruction: {written}", hint=f"did you mean {close[0]}?" if close else None)
    return builder(req)


# --------------------------------------------------------------------------
# RUN --mount
# --------------------------------------------------------------------------

_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = ("type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro",
               "readwrite", "rw", "required", "size", "id", "sharing", "mode", "uid", "gid", "env")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _parse_bool(key: str, value: str) -> bool:
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise _Refused(f"invalid value for {key}: {value}")


def _parse_size(value: str) -> int:
    """docker/go-units RAMInBytes: ``64m`` -> 64 MiB."""
    match = re.match(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$", value)
    if not match:
        raise _Refused(f"invalid value for size: {value}")
    power = " kmgtp".index(match.group(2).lower()) if match.group(2) else 0
    return int(float(match.group(1)) * 1024 ** power)


def _parse_uint(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        raise _Refused(f"invalid value {value} for {key}") from None
    if not 0 <= number < 2**32:
        raise _Refused(f"invalid value {value} for {key}")
    return number


def parse_mount(spec: str, expand: Optional[Callable[[str], str]] = None) -> RunMount:
    """One ``--mount=`` value (CSV of key=value), values passed through ``expand`` first.

    Raises ``InvalidArgument`` through the caller for a field docker would refuse.
    """
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as e:
        raise _Refused(f"failed to parse csv mounts: {e}") from None
    values: Dict[str, object] = {"type": "bind", "spec": spec}
    for item in fields:
        _mount_field(values, item, expand)
    return _check_mount(values)


def _mount_field(values: Dict[str, object], item: str, expand: Optional[Callable[[str], str]]) -> None:
    key, has_value, value = item.partition("=")
    key = key.lower()
    if not has_value:
        if key in ("readonly", "ro", "readwrite", "rw"):
            values["readonly"] = key in ("readonly", "ro")
        elif key == "required" and values["type"] in ("secret", "ssh"):
            values["required"] = True
        elif key == "required":
            raise _Refused(f"unexpected key '{key}' for mount type '{values['type']}'")
        else:
            raise _Refused(f"invalid field '{item}' must be a key=value pair")
        return
    if key == "from" and "$" in value[:-1]:
        raise _Refused(f"'{key}' doesn't support variable expansion, define alias stage instead")
    if expand is not None:
        value = expand(value)
    _mount_value(values, key, value)


def _mount_value(values: Dict[str, object], key: str, value: str) -> None:
    names = {"src": "source", "dst": "target", "destination": "target", "from": "from_ref", "id": "cache_id"}
    if key == "type":
        if value.lower() not in _MOUNT_TYPES:
            raise _Refused(f"unsupported mount type {json.dumps(value)}")
        values["type"] = value.lower()
    elif key in ("source", "src", "target", "dst", "destination", "from", "id", "env"):
        values[names.get(key, key)] = value
    elif key in ("readonly", "ro", "readwrite", "rw"):
        values["readonly"] = _parse_bool(key, value) == (key in ("readonly", "ro"))
    elif key in ("required", "size"):
        if values["type"] not in (("secret", "ssh") if key == "required" else ("tmpfs",)):
            raise _Refused(f"unexpected key '{key}' for mount type '{values['type']}'")
        values[key] = _parse_bool(key, value) if key == "required" else _parse_size(value)
    elif key == "sharing":
        if value.lower() not in ("shared", "private", "locked"):
            raise _Refused(f"unsupported sharing value {json.dumps(value)}")
        values["sharing"] = value.lower()
    elif key in ("mode", "uid", "gid"):
        values[key] = _parse_uint(key, value, 8 if key == "mode" else 10)
    else:
        raise _Refused(f"unexpected key '{key}' in '{key}={value}'")


def _check_mount(values: Dict[str, object]) -> RunMount:
    kind = str(values["type"])
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if key in values:
                raise _Refused(f'{key} not allowed for "{kind}" type mounts')
    if "readonly" not in values:
        values["readonly"] = kind not in ("cache", "tmpfs")
    if kind == "secret":
        _check_secret_mount(values)
    if values.get("sharing") and kind != "cache":
        raise _Refused(f"invalid cache sharing set for {kind} mount")
    if kind in ("bind", "cache", "tmpfs") and not values.get("target"):
        raise _Refused(f"mount target is required for a {kind} mount")
    return RunMount(**values)  # type: ignore[arg-type]


def _check_secret_mount(values: Mapping[str, object]) -> None:
    if values.get("from_ref"):
        raise _Refused("secret mount should not have a from")
    if values.get("sharing"):
        raise _Refused("secret mount should not define sharing")
    if not (values.get("source") or values.get("target") or values.get("cache_id")):
        raise _Refused("invalid secret mount. one of source, target required")
    if values.get("source") and values.get("cache_id"):
        raise _Refused("both source and id can't be set")


# --------------------------------------------------------------------------
# The whole file: global ARGs and stages.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and the instructions up to the next; ``index`` counts from 0."""

    index: int
    name: Optional[str]
    from_: From
    instructions: Tuple[Instruction, ...]


@dataclass(frozen=True)
class SourceRef:
    """What ``FROM x``, ``COPY --from=x`` or ``--mount=from=x`` names: a stage or an image."""

    stage: Optional[int] = None
    image: Optional[str] = None

    @property
    def is_scratch(self) -> bool:
        """True for ``scratch``, the empty image."""
        return self.image is not None and self.image.lower() == "scratch"


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile; ``meta_args`` are the ARG lines before the first FROM."""

    meta_args: Tuple[Arg, ...]
    stages: Tuple[Stage, ...]
    escape: str = DEFAULT_ESCAPE
    syntax: Optional[str] = None
    warnings: Tuple[str, ...] = ()

    @property
    def step_count(self) -> int:
        """Steps as docker's classic builder numbers them: global ARGs, FROMs and instructions."""
        return len(self.meta_args) + sum(1 + len(stage.instructions) for stage in self.stages)

    def stage_named(self, name: str) -> Optional[Stage]:
        """The stage called ``name`` (case-insensitive), or None."""
        for stage in self.stages:
            if stage.name is not None and stage.name == name.lower():
                return stage
        return None

    def target_stage(self, target: Optional[str] = None) -> Stage:
        """The stage ``--target`` selects; the last stage when no target is given."""
        if not target:
            return self.stages[-1]
        stage = self.stage_named(target)
        if stage is None:
            raise InvalidArgument(f"target stage {json.dumps(target)} could not be found",
                                  hint="name the stage with FROM ... AS " + target.lower())
        return stage

    def resolve_ref(self, ref: str, current: int, line: int = 0) -> SourceRef:
        """Classify a ``--from`` value (already free of variables) used in stage ``current``.

        A number is a stage index, a stage name a stage, anything else an image. As in
        docker's classic builder only earlier stages can be named.
        """
        if ref.isdecimal():
            index = int(ref)
            if index >= current:
                raise DockerfileError(line, f"invalid stage index {index}: a stage can only use earlier stages "
                                            f"(this is stage {current})")
            return SourceRef(stage=index)
        stage = self.stage_named(ref)
        if stage is None:
            return SourceRef(image=ref)
        if stage.index >= current:
            raise DockerfileError(line, f"stage {json.dumps(stage.name)} is used before it is defined "
                                        f"(stage {stage.index}, used in stage {current})")
        return SourceRef(stage=stage.index)

    def resolve_base(self, stage: Stage, global_args: Mapping[str, str]) -> SourceRef:
        """The base of ``stage``: its FROM expanded with the global ARGs, then classified."""
        try:
            base = expand_word(stage.from_.base, global_args, self.escape)
        except InvalidArgument as e:
            raise DockerfileError(stage.from_.line, e.message) from None
        if not base:
            raise DockerfileError(stage.from_.line, "base name (" + stage.from_.base + ") should not be blank")
        return self.resolve_ref(base, stage.index, stage.from_.line)

    def required_stages(self, target: Optional[str], global_args: Mapping[str, str]) -> Tuple[Stage, ...]:
        """The stages the target needs (FROM, COPY --from, RUN --mount from=), in file order."""
        wanted: Set[int] = set()
        todo = [self.target_stage(target).index]
        while todo:
            index = todo.pop()
            if index not in wanted:
                wanted.add(index)
                todo.extend(self._dependencies(self.stages[index], global_args))
        return tuple(stage for stage in self.stages if stage.index in wanted)

    def _dependencies(self, stage: Stage, global_args: Mapping[str, str]) -> List[int]:
        refs = [self.resolve_base(stage, global_args)]
        for instr in stage.instructions:
            if isinstance(instr, Copy) and instr.from_ref:
                refs.append(self.resolve_ref(instr.from_ref, stage.index, instr.line))
            if isinstance(instr, Run):
                refs += [self.resolve_ref(m.from_ref, stage.index, instr.line) for m in instr.mounts if m.from_ref]
        return [ref.stage for ref in refs if ref.stage is not None]


def _instruction_at(logical: _Logical, escape: str) -> Instruction:
    keyword, flags, rest = _split_command(logical.text, escape)
    req = _Request(keyword=keyword.upper(), flags=tuple(flags), rest=rest, line=logical.start,
                   end_line=logical.end, original=logical.text.strip(), heredocs=logical.heredocs, escape=escape)
    try:
        return _build(req, keyword)
    except _Refused as e:
        raise DockerfileError(logical.start, e.reason, e.hint) from None


def parse_dockerfile(text: Union[str, bytes]) -> Dockerfile:
    """Parse a whole Dockerfile. Raises ``DockerfileError`` (an ``InvalidArgument``) naming the line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DockerfileError(0, f"the Dockerfile is not UTF-8: {e}") from None
    reader = _Reader(text)
    logicals = reader.read_all()
    if not logicals:
        raise DockerfileError(0, "file with no instructions", hint="a Dockerfile needs at least a FROM line")
    escape = reader.directives.escape
    instructions = [_instruction_at(logical, escape) for logical in logicals]
    meta_args, stages = _assemble(instructions)
    if not stages:
        raise DockerfileError(0, "dockerfile contains no stages to build", hint="add a FROM line")
    return Dockerfile(meta_args=meta_args, stages=stages, escape=escape, syntax=reader.directives.syntax,
                      warnings=tuple(reader.warnings) + _syntax_note(reader.directives.syntax))


def _syntax_note(syntax: Optional[str]) -> Tuple[str, ...]:
    if syntax is None:
        return ()
    return (f"the syntax directive ({syntax}) is ignored: rootless has its own Dockerfile frontend",)


def _assemble(instructions: Sequence[Instruction]) -> Tuple[Tuple[Arg, ...], Tuple[Stage, ...]]:
    meta_args: List[Arg] = []
    groups: List[Tuple[From, List[Instruction]]] = []
    for instr in instructions:
        if isinstance(instr, From):
            if instr.name and any(start.name == instr.name for start, _ in groups):
                raise DockerfileError(instr.line, f"duplicate stage name {json.dumps(instr.name)}")
            groups.append((instr, []))
        elif groups:
            groups[-1][1].append(instr)
        elif isinstance(instr, Arg):
            meta_args.append(instr)
        else:
            raise DockerfileError(instr.line, "no build stage in current context",
                                  hint="a Dockerfile must begin with FROM (only ARG may come before it)")
    stages = tuple(Stage(index, start.name, start, tuple(body)) for index, (start, body) in enumerate(groups))
    return tuple(meta_args), stages


def parse_trigger(expression: str, escape: str = DEFAULT_ESCAPE) -> Instruction:
    """Parse an ONBUILD trigger stored in a base image's config (may carry heredoc lines)."""
    reader = _Reader(expression)
    reader.directives.done = True
    reader.directives.escape = escape
    logicals = reader.read_all()
    if len(logicals) != 1:
        raise DockerfileError(0, f"invalid ONBUILD trigger {json.dumps(expression)}")
    instr = _instruction_at(logicals[0], escape)
    if isinstance(instr, (From, Onbuild, Maintainer)):
        raise DockerfileError(0, f"{instr.keyword} isn't allowed as an ONBUILD trigger")
    return instr


# --------------------------------------------------------------------------
# Expansion at build time, ARG and ENV scoping.
# --------------------------------------------------------------------------

_I = TypeVar("_I", bound=Instruction)


def expand_instruction(instr: _I, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> _I:
    """A copy of ``instr`` with ``$VAR`` substituted where docker substitutes.

    That is ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and
    the ``RUN --mount`` values; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are left
    to the shell or the later build. Raises ``DockerfileError`` naming the line.
    """
    def word(text: str) -> str:
        return expand_word(text, env, escape)

    expander = _EXPANDERS.get(type(instr))
    if expander is None:
        return instr
    try:
        return cast(_I, expander(instr, word, _Scope(env, escape)))
    except InvalidArgument as e:
        raise DockerfileError(instr.line, e.message) from None
    except _Refused as e:
        raise DockerfileError(instr.line, e.reason, e.hint) from None


_Word = Callable[[str], str]


@dataclass(frozen=True)
class _Scope:
    env: Mapping[str, str]
    escape: str


def _expand_optional(value: Optional[str], word: _Word) -> Optional[str]:
    return None if value is None else word(value)


def _expand_inline(docs: Tuple[Heredoc, ...], env: Mapping[str, str]) -> Tuple[Heredoc, ...]:
    # Heredoc bodies expand without quote removal (BuildKit ExpandRaw), unless the name was quoted.
    def body(doc: Heredoc) -> str:
        return _Lexer(doc.content, env, "\\", skip_quotes=True).run()[0] if doc.expand else doc.content
    return tuple(replace(doc, content=body(doc)) for doc in docs)


def _expand_pairs(instr: Union[Env, Label], word: _Word, scope: _Scope) -> Union[Env, Label]:
    return replace(instr, pairs=tuple((word(k), word(v)) for k, v in instr.pairs))


def _expand_copy(instr: Union[Copy, Add], word: _Word, scope: _Scope) -> Union[Copy, Add]:
    return replace(instr, sources=tuple(word(s) for s in instr.sources), dest=word(instr.dest),
                   chown=_expand_optional(instr.chown, word), chmod=_expand_optional(instr.chmod, word),
                   inline=_expand_inline(instr.inline, scope.env))


def _expand_expose(instr: Expose, word: _Word, scope: _Scope) -> Expose:
    ports: List[str] = []
    for port in instr.ports:
        try:
            ports += _Lexer(port, scope.env, scope.escape).run()[1]
        except _Refused as e:
            raise InvalidArgument(e.reason) from None
    return replace(instr, ports=tuple(ports))


def _expand_arg(instr: Arg, word: _Word, scope: _Scope) -> Arg:
    return replace(instr, args=tuple(ArgDecl(word(d.name), _expand_optional(d.default, word)) for d in instr.args))


def _expand_from(instr: From, word: _Word, scope: _Scope) -> From:
    return replace(instr, base=word(instr.base), platform=_expand_optional(instr.platform, word))


def _expand_run(instr: Run, word: _Word, scope: _Scope) -> Run:
    return replace(instr, mounts=tuple(parse_mount(m.spec, word) for m in instr.mounts))


_EXPANDERS: Dict[type, Callable[..., Instruction]] = {
    Env: _expand_pairs,
    Label: _expand_pairs,
    Copy: _expand_copy,
    Add: _expand_copy,
    Expose: _expand_expose,
    Arg: _expand_arg,
    From: _expand_from,
    Run: _expand_run,
    Volume: lambda i, word, scope: replace(i, paths=tuple(word(p) for p in i.paths)),
    User: lambda i, word, scope: replace(i, user=word(i.user)),
    Workdir: lambda i, word, scope: replace(i, path=word(i.path)),
    StopSignal: lambda i, word, scope: replace(i, signal=word(i.signal)),
}


def resolve_global_args(dockerfile: Dockerfile, build_args: Mapping[str, str],
                        automatic: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Values of the ARGs before the first FROM (usable in FROM lines), defaults expanded in order.

    ``automatic`` holds args defined without an ARG line (BuildKit's TARGETARCH and friends).
    """
    scope: Dict[str, str] = dict(automatic or {})
    for arg in dockerfile.meta_args:
        for decl in arg.args:
            if decl.name in build_args:
                scope[decl.name] = build_args[decl.name]
            elif decl.default is not None:
                try:
                    scope[decl.name] = expand_word(decl.default, scope, dockerfile.escape)
                except InvalidArgument as e:
                    raise DockerfileError(arg.line, e.message) from None
    return scope


def platform_args(os_name: str, arch: str, variant: str = "") -> Dict[str, str]:
    """BuildKit's automatic platform args for a build where build and target platform are equal."""
    platform = f"{os_name}/{arch}" + (f"/{variant}" if variant else "")
    out: Dict[str, str] = {}
    for prefix in ("BUILD", "TARGET"):
        out.update({f"{prefix}PLATFORM": platform, f"{prefix}OS": os_name, f"{prefix}ARCH": arch,
                    f"{prefix}VARIANT": variant})
    return out


class StageVars:
    """The ARG and ENV scope of one stage while it is built, as docker's builders keep it.

    A stage starts with its base image's environment. ``ARG x`` brings ``x`` into scope with
    the build arg's value, else its default, else the global ARG's value; ENV beats ARG when
    both set a name. Proxy args (``PROXY_ARGS``) given as build args need no ARG line.
    """

    def __init__(self, build_args: Mapping[str, str], global_args: Mapping[str, str],
                 image_env: Iterable[str] = (), escape: str = DEFAULT_ESCAPE) -> None:
        self.build_args = dict(build_args)
        self.global_args = dict(global_args)
        self.escape = escape
        self.env: Dict[str, str] = {}
        for item in image_env:
            key, _, value = item.partition("=")
            self.env[key] = value
        self.args: Dict[str, Optional[str]] = {}

    @property
    def args_in_use(self) -> Dict[str, str]:
        """Declared ARGs with a value, and given proxy args: what RUN sees and its cache key needs."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update({k: self.build_args[k] for k in PROXY_ARGS if k in self.build_args and k not in out})
        return out

    def expansion_env(self) -> Dict[str, str]:
        """Names ``$VAR`` can use in the next instruction."""
        out = self.args_in_use
        out.update(self.env)
        return out

    def run_env(self) -> List[str]:
        """``KEY=value`` list for a RUN: the stage env plus the ARGs it does not override."""
        env = dict(self.env)
        env.update({k: v for k, v in self.args_in_use.items() if k not in self.env})
        return [f"{k}={v}" for k, v in env.items()]

    def expand(self, instr: _I) -> _I:
        """Expand ``instr`` in the current scope and apply it to the scope when it is ARG or ENV."""
        if isinstance(instr, Arg):
            return self._declare(instr)  # type: ignore[return-value]
        expanded = expand_instruction(instr, self.expansion_env(), self.escape)
        if isinstance(expanded, Env):
            self.env.update(dict(expanded.pairs))
        return expanded

    def _declare(self, arg: Arg) -> Arg:
        decls = []
        for decl in arg.args:
            name = self._word(decl.name, arg.line)
            if name in self.build_args:
                value: Optional[str] = self.build_args[name]
            elif decl.default is not None:
                value = self._word(decl.default, arg.line)
            else:
                value = self.global_args.get(name)
            self.args[name] = value
            decls.append(ArgDecl(name, value))
        return replace(arg, args=tuple(decls))

    def _word(self, text: str, line: int) -> str:
        try:
            return expand_word(text, self.expansion_env(), self.escape)
        except InvalidArgument as e:
            raise DockerfileError(line, e.message) from None


def unconsumed_build_args(dockerfile: Dockerfile, build_args: Iterable[str]) -> List[str]:
    """Build args no ARG line declares (docker warns "One or more build-args [...] were not consumed")."""
    declared = set(PROXY_ARGS) | set(PLATFORM_ARGS)
    for arg in list(dockerfile.meta_args) + [i for s in dockerfile.stages for i in s.instructions
                                             if isinstance(i, Arg)]:
        declared.update(decl.name for decl in arg.args)
    return sorted(set(build_args) - declared)


def run_argv(run: Run, shell: Sequence[str] = DEFAULT_SHELL) -> Tuple[List[str], Optional[Heredoc]]:
    """The argv of a RUN under ``shell``, plus a heredoc script to write and execute, if any.

    As BuildKit's dispatchRun: ``RUN <<EOF`` runs the body with the shell, or, when the body
    starts with ``#!``, returns it as a script the builder writes (mode 0755) and runs as
    ``argv[0]``; other heredocs are given back to the shell, which understands them.
    """
    if not run.shell_form:
        return list(run.command), None
    script = run.command[0]
    if run.heredocs:
        marker = parse_heredoc_marker(script)
        if marker is not None:
            body = run.heredocs[0].data
            if body.startswith("#!"):
                return ["/dev/pipes/" + run.heredocs[0].name], run.heredocs[0]
            script = body
        else:
            script += "".join("\n" + doc.content + doc.name for doc in run.heredocs)
    return list(shell) + [script], None
