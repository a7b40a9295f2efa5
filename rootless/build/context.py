"""The build context: ``.dockerignore`` matching and a walk of the files a build may use.

Patterns follow moby/patternmatcher (``ignorefile.ReadAll`` to read the file,
``MatchesOrParentMatches`` to match): ``*`` and ``?`` stay inside one path
component, ``**`` crosses components, ``!`` re-includes, the last matching
pattern wins, and a path is excluded when it or one of its parent directories
matches. Patterns are cleaned like Go's ``filepath.Clean`` and a leading ``/``
is dropped, so ``/foo``, ``./foo`` and ``foo`` are the same pattern.

The Dockerfile and ``.dockerignore`` themselves, as docker does it: the client
sends them even when ``.dockerignore`` excludes them (``keep=`` of
:func:`walk_context`, the docker CLI's ``TrimBuildFilesFromExcludes``), the
builder reads them, and then hides the excluded ones from COPY/ADD
(:func:`hidden_build_files`, the daemon's ``removeDockerfile``).
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from rootless.errors import InvalidArgument

DOCKERIGNORE = ".dockerignore"


def clean_path(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path: ``./a//b/../c/`` -> ``a/c``, empty -> ``.``."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def parse_dockerignore(text: str) -> List[str]:
    """The patterns of a ``.dockerignore`` file (comments, blanks and spaces dropped, paths cleaned)."""
    patterns = []
    for number, line in enumerate(text.split("\n")):
        if number == 0 and line.startswith("\ufeff"):
            line = line[1:]
        line = line.rstrip("\r")
        # Only a '#' in the first column starts a comment, as in ignorefile.ReadAll.
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


_EXACT, _PREFIX, _SUFFIX, _REGEXP = range(4)
_REGEX_SPECIAL = set(".+()|{}$")


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    kind: int
    regex: Optional["re.Pattern[str]"]

    @property
    def dirs(self) -> List[str]:
        return self.text.split("/")

    def matches(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex is not None and self.regex.match(path) is not None


def _translate(pattern: str) -> Tuple[int, str]:
    """patternmatcher's Pattern.compile: the match kind and the regular expression."""
    out = ["^"]
    kind = _EXACT
    i, step = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and pattern[i:i + 1] == "*":
            i += 1
            if pattern[i:i + 1] == "/":
                i += 1
            if i >= len(pattern):
                kind, tail = (_PREFIX, "") if kind == _EXACT else (_REGEXP, ".*")
                out.append(tail)
            else:
                out.append("(.*/)?")
                kind = _REGEXP
            if step == 0:
                kind = _SUFFIX
        elif ch in "*?":
            out.append("[^/]*" if ch == "*" else "[^/]")
            kind = _REGEXP
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < len(pattern):
                out.append(re.escape(pattern[i]))
                i += 1
                kind = _REGEXP
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = _REGEXP
        else:
            out.append(ch)
        step += 1
    return kind, "".join(out) + r"\Z"


def _compile(raw: str) -> _Pattern:
    text = clean_path(raw.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise InvalidArgument('invalid .dockerignore pattern: illegal exclusion pattern: "!"')
        text = text[1:]
    kind, source = _translate(text)
    if not _is_valid_glob(text):
        raise InvalidArgument(f"invalid .dockerignore pattern {raw.strip()!r}: syntax error in pattern",
                              hint="check the [ ] ranges and escapes of the pattern")
    try:
        regex = re.compile(source)
    except re.error as e:
        raise InvalidArgument(f"invalid .dockerignore pattern {raw.strip()!r}: syntax error in pattern ({e})",
                              hint="check the [ ] ranges and escapes of the pattern") from None
    return _Pattern(text, exclusion, kind, regex if kind == _REGEXP else None)


def _is_valid_glob(pattern: str) -> bool:
    """Go's filepath.Match syntax check (docker rejects what it rejects: ``[``, ``[-]``, a trailing ``\\``)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            if i + 1 >= len(pattern):
                return False
            i += 2
        elif pattern[i] == "[":
            end = _class_end(pattern, i + 1)
            if end < 0:
                return False
            i = end
        else:
            i += 1
    return True


def _class_end(pattern: str, i: int) -> int:
    """Index after the ``]`` closing a character class that starts at ``i``, or -1 if malformed."""
    if pattern[i:i + 1] == "^":
        i += 1
    ranges = 0
    while True:
        if pattern[i:i + 1] == "]" and ranges > 0:
            return i + 1
        i = _class_char(pattern, i)
        if i >= 0 and pattern[i:i + 1] == "-":
            i = _class_char(pattern, i + 1)
        if i < 0:
            return -1
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    if i >= len(pattern) or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
    i += 1
    return i if i < len(pattern) else -1


class DockerIgnore:
    """A compiled ``.dockerignore``; ``is_excluded("dir/file")`` answers for one slash path."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns: Tuple[_Pattern, ...] = tuple(_compile(p) for p in patterns if p.strip())

    @classmethod
    def from_text(cls, text: str) -> "DockerIgnore":
        """Parse the text of a ``.dockerignore`` file."""
        return cls(parse_dockerignore(text))

    @property
    def has_exceptions(self) -> bool:
        """True when some ``!`` pattern may re-include a path below an excluded directory."""
        return any(p.exclusion for p in self.patterns)

    def with_exceptions(self, paths: Iterable[str]) -> "DockerIgnore":
        """A copy that never excludes ``paths`` (appended ``!path`` patterns, as the docker CLI does)."""
        extra = DockerIgnore("!" + clean_path(p).lstrip("/") for p in paths)
        copy = DockerIgnore()
        copy.patterns = self.patterns + extra.patterns
        return copy

    def is_excluded(self, path: str) -> bool:
        """Whether the context path is left out; the context root itself never is."""
        path = clean_path(path).lstrip("/") or "."
        if path == ".":
            return False
        parents = path.split("/")[:-1]
        ancestors = ["/".join(parents[:i + 1]) for i in range(len(parents))]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            if pattern.matches(path) or any(pattern.matches(a) for a in ancestors):
                matched = not pattern.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        """Whether an excluded directory can still hold an included path (then it must be walked)."""
        parts = clean_path(directory).split("/")
        return any(p.exclusion and _could_match_below(p, parts) for p in self.patterns)


def _could_match_below(pattern: _Pattern, parts: Sequence[str]) -> bool:
    # Conservative: True unless a leading component of the pattern rules the directory out.
    if "**" in pattern.text:
        return True
    dirs = pattern.dirs
    for index, part in enumerate(parts):
        if index >= len(dirs):
            return True
        kind, source = _translate(dirs[index])
        if kind == _EXACT and dirs[index] != part:
            return False
        if kind != _EXACT and re.match(source, part) is None:
            return False
    return True


def hidden_build_files(ignore: DockerIgnore, dockerfile: str) -> List[str]:
    """The build files (``.dockerignore``, the Dockerfile) the builder must hide from COPY/ADD."""
    names = [DOCKERIGNORE, clean_path(dockerfile).lstrip("/")]
    return [name for name in names if ignore.is_excluded(name)]


@dataclass(frozen=True)
class ContextEntry:
    """One path of the context: slash-relative ``path``, its ``lstat``, a symlink's target."""

    path: str
    stat: os.stat_result
    link_target: Optional[str] = None

    @property
    def is_dir(self) -> bool:
        """A directory (never a symlink to one)."""
        return stat.S_ISDIR(self.stat.st_mode)


def walk_context(root: str, ignore: Optional[DockerIgnore] = None, keep: Iterable[str] = ()) -> Iterator[ContextEntry]:
    """Yield the context's included paths, sorted, each directory before what it holds.

    Symlinks are reported, never followed: every directory is opened with O_NOFOLLOW
    relative to its parent, so a link cannot lead the walk out of ``root``. A directory
    that is excluded but holds re-included paths is yielded just before its first one.
    ``keep`` names paths sent even when excluded (the Dockerfile, ``.dockerignore``).
    """
    rules = (ignore or DockerIgnore()).with_exceptions(keep)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield from _walk_dir(root_fd, "", rules, [])
    finally:
        os.close(root_fd)


def _walk_dir(dir_fd: int, prefix: str, rules: DockerIgnore, pending: List[ContextEntry]) -> Iterator[ContextEntry]:
    for name in sorted(os.listdir(dir_fd)):
        path = prefix + name
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        target = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(info.st_mode) else None
        entry = ContextEntry(path, info, target)
        excluded = rules.is_excluded(path)
        if not excluded:
            yield from pending
            pending.clear()
            yield entry
        if not entry.is_dir or (excluded and not rules.may_include_below(path)):
            continue
        if excluded:
            pending.append(entry)
        yield from _walk_child(dir_fd, name, path, rules, pending)
        # Still pending: nothing below it was included, so it stays out of the context.
        if excluded and pending and pending[-1] is entry:
            pending.pop()


def _walk_child(dir_fd: int, name: str, path: str, rules: DockerIgnore,
                pending: List[ContextEntry]) -> Iterator[ContextEntry]:
    try:
        child_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as e:
        raise InvalidArgument(f"can't read the build context: {path}: {e.strerror}") from None
    try:
        yield from _walk_dir(child_fd, path + "/", rules, pending)
    finally:
        os.close(child_fd)


def open_in_context(root: str, path: str) -> int:
    """Open a context file read-only without following any symlink on the way; returns the fd."""
    parts = [p for p in clean_path(path).split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidArgument(f"can't open in the build context: {path}: not a path inside the context")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError as e:
        raise InvalidArgument(f"can't open in the build context: {path}: {e.strerror}") from None
    finally:
        os.close(fd)
