"""``.dockerignore`` matching (moby/patternmatcher semantics) and the build-context walker."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rootless.build.context import (DockerIgnore, clean_path, hidden_build_files, open_in_context,
                                    parse_dockerignore, walk_context)
from rootless.errors import InvalidArgument


@pytest.mark.parametrize("path,cleaned", [
    ("", "."), (".", "."), ("./a", "a"), ("a//b/", "a/b"), ("a/../b", "b"), ("../a", "../a"), ("/../a", "/a"),
    ("/", "/"), ("a/./b/..", "a"),
])
def test_clean_path_is_go_filepath_clean(path: str, cleaned: str) -> None:
    assert clean_path(path) == cleaned


def test_dockerignore_file_reading() -> None:
    text = "\ufeff# comment\n  # not a comment: only column 0\n/foo\n./bar/\n!  /baz \n\n  spaced  \r\n**/*.pyc\n"
    assert parse_dockerignore(text) == ["# not a comment: only column 0", "foo", "bar", "!baz", "spaced",
                                        "**/*.pyc"]


# (pattern, path, excluded) — one pattern, the path or a parent directory matching it excludes.
SINGLE = [
    ("*", "fileutils.go", True), ("*.go", "fileutils.go", True), ("*.go", ".", False),
    ("**", "file", True), ("**", "dir/file", True), ("**/", "file", True), ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/dir2/file", True), ("abc/**", "abc", False),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir", "other/dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "dir/dir/file", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True), ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[^b-d]e", "aze", True), ("a[^b-d]e", "ace", False),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False), ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False), ("**/foo/bar", "foo/bar", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a.|)$(}+{bc", "a.|)$(}+{bc", True), ("dist/*.whl", "dist/p-1.0+g1.whl", True),
    ("a\\*b", "a*b", True), ("a\\*b", "ab", False), ("a?b", "a/b", False), ("a*b", "a/b", False),
    ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False), ("[\\]a]", "]", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("a?b", "a\u263ab", True), ("*[a-\u03b6]", "A", False),
    ("node_modules", "node_modules/pkg/index.js", True), ("/node_modules", "src/node_modules/x", False),
    ("./build/", "build/out.o", True), ("*/temp*", "somedir/temporary.txt", True), ("temp?", "tempa", True),
    ("*/*/temp*", "a/b/temp", True), ("*/temp*", "temp", False),
]


@pytest.mark.parametrize("pattern,path,excluded", SINGLE)
def test_single_pattern(pattern: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(parse_dockerignore(pattern)).is_excluded(path) is excluded


# The last matching pattern wins; "!" re-includes, also below an excluded directory.
MULTI = [
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/other.md", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy-1.0.whl", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["foo/bar", "!foo"], "foo/bar/x", False),
]


@pytest.mark.parametrize("patterns,path,excluded", MULTI)
def test_pattern_order_and_exceptions(patterns: list, path: str, excluded: bool) -> None:
    assert DockerIgnore(patterns).is_excluded(path) is excluded


@pytest.mark.parametrize("pattern", ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "!"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid .dockerignore pattern"):
        DockerIgnore([pattern])


def test_build_files_excluded_are_hidden_from_copy_but_kept_for_sending() -> None:
    ignore = DockerIgnore.from_text("Dockerfile*\n.dockerignore\n")
    assert hidden_build_files(ignore, "./Dockerfile.dev") == [".dockerignore", "Dockerfile.dev"]
    assert hidden_build_files(DockerIgnore(["*.md"]), "Dockerfile") == []


# ---------------------------------------------------------------- walking a context directory

def make_tree(root: Path, files: list) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def walked(root: Path, ignore: DockerIgnore, keep: tuple = ()) -> list:
    return [entry.path for entry in walk_context(str(root), ignore, keep)]


def test_walk_yields_sorted_paths_parents_first(tmp_path: Path) -> None:
    make_tree(tmp_path, ["b.txt", "a/z.go", "a/sub/y.go", "Dockerfile"])
    assert walked(tmp_path, DockerIgnore()) == ["Dockerfile", "a", "a/sub", "a/sub/y.go", "a/z.go", "b.txt"]


def test_walk_skips_excluded_and_reincludes_exceptions_with_their_parents(tmp_path: Path) -> None:
    make_tree(tmp_path, ["node_modules/x/index.js", "docs/a.md", "docs/README.md", "docs/deep/keep.md",
                         "src/main.py", "src/main.pyc", ".git/HEAD", "Dockerfile", ".dockerignore"])
    ignore = DockerIgnore.from_text("node_modules\n**/*.pyc\n.git\ndocs\n!docs/README.md\n!docs/deep/keep.md\n"
                                    "Dockerfile\n.dockerignore\n")
    assert walked(tmp_path, ignore) == ["docs", "docs/README.md", "docs/deep", "docs/deep/keep.md", "src",
                                        "src/main.py"]
    assert walked(tmp_path, ignore, keep=("Dockerfile", ".dockerignore"))[:2] == [".dockerignore", "Dockerfile"]


def test_excluded_directory_without_included_children_stays_out(tmp_path: Path) -> None:
    make_tree(tmp_path, ["logs/a.log", "logs/b.log", "app.py"])
    assert walked(tmp_path, DockerIgnore(["logs", "!logs/keep.log"])) == ["app.py"]


def test_symlinks_are_reported_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_tree(outside, ["secret"])
    context = tmp_path / "ctx"
    make_tree(context, ["real/file"])
    (context / "escape").symlink_to(outside)
    (context / "abs").symlink_to("/etc/passwd")
    entries = {e.path: e for e in walk_context(str(context))}
    assert sorted(entries) == ["abs", "escape", "real", "real/file"]
    assert entries["escape"].link_target == str(outside) and not entries["escape"].is_dir
    assert entries["real"].is_dir and entries["real/file"].stat.st_size == len("real/file")


def test_open_in_context_refuses_symlinks_and_parents(tmp_path: Path) -> None:
    make_tree(tmp_path, ["dir/file"])
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    fd = open_in_context(str(tmp_path), "./dir/file")
    try:
        assert os.read(fd, 100) == b"dir/file"
    finally:
        os.close(fd)
    for bad in ("link/file", "../etc/passwd", "."):
        with pytest.raises(InvalidArgument):
            open_in_context(str(tmp_path), bad)
