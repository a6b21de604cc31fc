#!/usr/bin/env python3
"""Generate ``src/storekeeper/_sync`` from ``src/storekeeper/_async``.

storekeeper keeps exactly one implementation of its I/O logic: the asyncio code under
``src/storekeeper/_async``.  The synchronous API is a *generated twin* of that code rather
than a wrapper around it: the sync package calls real synchronous drivers (``psycopg``,
``pymysql``, ``sqlite3``, ...) directly, so there is no event loop, no thread portal and no
``asyncio.run`` per call on the sync path.  The same approach is used by httpcore
(``scripts/unasync.py``) and psycopg (``tools/async_to_sync.py``).

The rewrite is token based (stdlib :mod:`tokenize`; :mod:`ast` only tells which string
literals are docstrings).  Edits are applied to the original
source text at token positions, so formatting and comments survive byte for byte except
for the edits themselves:

* ``async def`` / ``async with`` / ``async for`` lose the ``async`` keyword (and the
  whitespace after it); ``await expr`` becomes ``expr`` (also inside parentheses, e.g.
  ``(await f()).x`` -> ``(f()).x``).
* NAME tokens are renamed: first by the explicit map :data:`NAME_MAP`
  (``__aenter__`` -> ``__enter__``, ``rt_async`` -> ``rt_sync``, ``aiomysql`` ->
  ``pymysql``, ...), then by the general rule ``Async<Upper><rest>`` -> ``<Upper><rest>``
  (``AsyncDataStore`` -> ``DataStore``, ``AsyncIterator`` -> ``Iterator``).  Dotted import
  paths are NAME tokens separated by ``.``, so a module path is renamed part by part
  (``from .._compat import rt_async``); ``_async`` imports its own modules relatively, so
  no rule for ``_async`` itself is needed.
* Docstrings (a string literal opening a module, class or function body) are prose about
  the code, so they follow it: whole words are renamed by the same rules,
  ``async def|with|for`` loses ``async`` and ``await`` (followed by blanks) is removed.
* A string of a module-level ``__all__`` list or tuple names an object, so it is renamed
  like that object's NAME token (as a whole, never word by word).
* Every other string literal (error messages, module paths, names of lazy imports) is left
  exactly as written, and so are comments: a string that must differ on the sync side is
  derived at run time (``type(self).__name__``) or written on a ``# sync:`` line.
* Escape hatch for lines without a 1:1 twin: a line ending with the comment
  ``# sync: <replacement>`` is replaced (keeping its indentation) by ``<replacement>``;
  a line ending with ``# sync: skip`` is dropped.
* Every rule of :data:`NAME_MAP` must rename something somewhere in ``_async`` (a name,
  a word of a docstring or an ``__all__`` entry, on a line no directive replaces): a rule
  that matches nothing is an error, so dead rules cannot pile up.  The general
  ``Async<Upper>`` rule is exempt.

Usage::

    python tools/gen_sync.py          # (re)generate _sync, delete orphaned _sync files
    python tools/gen_sync.py --check  # write nothing; exit 1 if _sync is out of date

Both exit 2, writing nothing, when a source cannot be converted or a rule is unused.

Paths are resolved relative to the repository root (the parent of ``tools/``), so the
script works from any working directory.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
ASYNC_DIR = ROOT / "src" / "storekeeper" / "_async"
SYNC_DIR = ROOT / "src" / "storekeeper" / "_sync"

HEADER = "# Generated from src/storekeeper/_async/{relpath} by tools/gen_sync.py: do not edit.\n"

#: Explicit renames, applied before the general ``Async<Upper>`` rule; each must be used.
NAME_MAP: dict[str, str] = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "asynccontextmanager": "contextmanager",
    "rt_async": "rt_sync",
    "aiomysql": "pymysql",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "async_copy": "copy",
    "anext": "next",
}

_ASYNC_PREFIX_RE = re.compile(r"Async(?=[A-Z])")
_BLANKS_RE = re.compile(r"[ \t]*")
_DIRECTIVE_RE = re.compile(r"#\s*sync:(?P<text>.*)")
_INDENT_RE = re.compile(r"[ \t\f]*")
# Inside docstrings: consume backslash escapes as a unit (so "\nAsyncX" still sees the
# word "AsyncX"), drop ``async`` before def/with/for and ``await`` before blanks, and hand
# every other word to :func:`rename_name`.  Scanning left to right, the keyword alternative
# is only ever tried at the start of a word (or right after an escape).
_STRING_RE = re.compile(
    r"\\.|(?P<drop>async[ \t]+(?=(?:def|with|for)\b)|await[ \t]+)|(?P<word>\w+)", re.DOTALL
)
_STRING_PREFIX_RE = re.compile(r"[A-Za-z]*")

_DOCSTRING_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


class _Edit(NamedTuple):
    start: int
    end: int
    text: str
    #: the NAME_MAP rules the edit applies
    rules: frozenset[str] = frozenset()


def _rename(name: str) -> tuple[str, str | None]:
    """The sync name for ``name`` and the NAME_MAP rule that gave it (None if none did)."""
    if name in NAME_MAP:
        return NAME_MAP[name], name
    if _ASYNC_PREFIX_RE.match(name):
        return name[len("Async") :], None
    return name, None


def rename_name(name: str) -> str:
    """Return the sync name for the identifier ``name`` (explicit map, then ``Async`` rule)."""
    return _rename(name)[0]


def _rewrite_docstring(text: str) -> tuple[str, frozenset[str]]:
    """The docstring token ``text`` rewritten, and the NAME_MAP rules that applied."""
    rules: set[str] = set()

    def repl(match: re.Match[str]) -> str:
        if match.group("drop") is not None:
            return ""
        word = match.group("word")
        if word is None:
            return match.group(0)
        new, rule = _rename(word)
        if rule is not None:
            rules.add(rule)
        return new

    # Leave the prefix (r, u) alone; rewrite from the opening quote on.
    prefix = _STRING_PREFIX_RE.match(text)
    cut = prefix.end() if prefix else 0
    return text[:cut] + _STRING_RE.sub(repl, text[cut:]), frozenset(rules)


class _Strings(NamedTuple):
    """Where the string literals that follow the code are (str offsets)."""

    #: ``(start, end)`` of each docstring (one written as adjacent literals spans them all)
    docstrings: list[tuple[int, int]]
    #: ``(start, end)`` of each string naming an export in a module-level ``__all__``
    exports: set[tuple[int, int]]


def _find_strings(source: str, offsets: list[int]) -> _Strings:
    with warnings.catch_warnings():  # e.g. invalid escapes: not this tool's business
        warnings.simplefilter("ignore")
        tree = ast.parse(source)

    def offset(row: int, byte_col: int) -> int:
        # ast counts columns in UTF-8 bytes, tokenize (and str offsets) in characters
        start = offsets[row]
        end = source.find("\n", start)
        head = source[start : len(source) if end == -1 else end].encode("utf-8")[:byte_col]
        return start + len(head.decode("utf-8"))

    def span(node: ast.expr | ast.stmt) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)

    found = _Strings([], set())
    for node in ast.walk(tree):
        if isinstance(node, _DOCSTRING_OWNERS) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.docstrings.append(span(first))
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and isinstance(
            value, ast.List | ast.Tuple
        ):
            found.exports.update(
                span(e)
                for e in value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return found


def _rename_export(text: str) -> tuple[str, frozenset[str]]:
    """The ``__all__`` entry ``text`` (a string token) naming the renamed object."""
    prefix = _STRING_PREFIX_RE.match(text)
    cut = prefix.end() if prefix else 0
    quote = text[cut : cut + 3] if text[cut : cut + 3] in ('"""', "'''") else text[cut]
    name = text[cut + len(quote) : len(text) - len(quote)]
    if not name.isidentifier():  # escapes, or no name at all: leave it be
        return text, frozenset()
    new, rule = _rename(name)
    return text[: cut + len(quote)] + new + quote, frozenset(() if rule is None else (rule,))


def _line_offsets(source: str) -> list[int]:
    """Offset of the start of each physical line, as tokenize numbers them (1-based rows)."""
    offsets = [0, 0]  # dummy entry for row 0
    pos = source.find("\n")
    while pos != -1:
        offsets.append(pos + 1)
        pos = source.find("\n", pos + 1)
    return offsets


def unasync_source(source: str, relpath: str, used_rules: set[str] | None = None) -> str:
    """Rewrite async source ``source`` into its sync twin, prefixed with the header line.

    ``relpath`` is the path of the source relative to ``src/storekeeper/_async`` (used in
    the header only).  The NAME_MAP rules the twin applies are added to ``used_rules``.
    Raises :class:`SyntaxError` / :class:`tokenize.TokenError` for source that cannot be
    parsed and :class:`ValueError` for a malformed ``# sync:`` directive.
    """
    offsets = _line_offsets(source)
    strings = _find_strings(source, offsets)

    def offset(pos: tuple[int, int]) -> int:
        row, col = pos
        return offsets[row] + col if row < len(offsets) else len(source)

    token_edits: list[_Edit] = []
    line_edits: list[_Edit] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME:
            start, end = offset(tok.start), offset(tok.end)
            if tok.string in ("async", "await"):
                end = _BLANKS_RE.match(source, end).end()  # type: ignore[union-attr]
                token_edits.append(_Edit(start, end, ""))
            else:
                new, rule = _rename(tok.string)
                if new != tok.string:
                    rules = frozenset(() if rule is None else (rule,))
                    token_edits.append(_Edit(start, end, new, rules))
        elif tok.type == tokenize.STRING:
            start, end = offset(tok.start), offset(tok.end)
            if any(ds <= start and end <= de for ds, de in strings.docstrings):
                new, rules = _rewrite_docstring(tok.string)
            elif (start, end) in strings.exports:
                new, rules = _rename_export(tok.string)
            else:
                continue
            if new != tok.string:
                token_edits.append(_Edit(start, end, new, rules))
        elif tok.type == tokenize.COMMENT:
            directive = _DIRECTIVE_RE.fullmatch(tok.string)
            if directive is not None:
                line_edits.append(_directive_edit(source, offsets, tok.start[0], directive))

    # Token edits that touch a line replaced/dropped by a directive are superseded by it.
    edits = line_edits + [
        e
        for e in token_edits
        if not any(e.start < le.end and le.start < e.end for le in line_edits)
    ]
    edits.sort(key=lambda e: (e.start, e.end))
    out: list[str] = []
    pos = 0
    for edit in edits:
        out.append(source[pos : edit.start])
        out.append(edit.text)
        pos = edit.end
        if used_rules is not None:
            used_rules |= edit.rules
    out.append(source[pos:])
    return HEADER.format(relpath=Path(relpath).as_posix()) + "\n" + "".join(out)


def _directive_edit(source: str, offsets: list[int], row: int, directive: re.Match[str]) -> _Edit:
    start = offsets[row]
    newline = source.find("\n", start)
    line_end = len(source) if newline == -1 else newline
    text = directive.group("text").strip()
    if not text:
        raise ValueError(f"line {row}: empty '# sync:' directive (use '# sync: skip' to drop)")
    if text == "skip":
        return _Edit(start, len(source) if newline == -1 else newline + 1, "")
    line = source[start:line_end]
    if line.endswith("\r"):
        line_end -= 1
    indent = _INDENT_RE.match(line).group(0)  # type: ignore[union-attr]
    return _Edit(start, line_end, indent + text)


# --------------------------------------------------------------------------------------- CLI


def _rel(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _iter_py(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(p for p in directory.rglob("*.py") if p.is_file())


def _inside_sync_dir(path: Path) -> bool:
    """True if ``path`` (symlinks resolved) lies strictly inside the ``_sync`` directory."""
    try:
        resolved, sync_dir = path.resolve(), SYNC_DIR.resolve()
    except OSError:
        return False
    return resolved != sync_dir and resolved.is_relative_to(sync_dir)


class GenerationError(Exception):
    """An ``_async`` source could not be converted."""


def _expected_outputs() -> dict[Path, str]:
    """Map each sync output path to its expected content."""
    expected: dict[Path, str] = {}
    used: set[str] = set()
    for src in _iter_py(ASYNC_DIR):
        relpath = src.relative_to(ASYNC_DIR).as_posix()
        text = src.read_text(encoding="utf-8")
        try:
            output = unasync_source(text, relpath, used)
        except (SyntaxError, tokenize.TokenError, ValueError) as exc:
            raise GenerationError(f"{_rel(src)}: {exc}") from exc
        try:  # the twin must still be valid Python (e.g. after a "# sync:" replacement)
            ast.parse(output, filename=_rel(SYNC_DIR / relpath))
        except SyntaxError as exc:
            raise GenerationError(f"generated code for {_rel(src)} is invalid: {exc}") from exc
        expected[SYNC_DIR / relpath] = output
    unused = [f"{name!r} -> {NAME_MAP[name]!r}" for name in NAME_MAP if name not in used]
    if unused:
        raise GenerationError(
            f"NAME_MAP rule(s) matching nothing in {_rel(ASYNC_DIR)}: {', '.join(unused)}; "
            "remove them from tools/gen_sync.py"
        )
    return expected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; report stale/missing/extra files and exit 1 if any",
    )
    args = parser.parse_args(argv)

    if not ASYNC_DIR.is_dir():
        print(f"error: {_rel(ASYNC_DIR)} does not exist", file=sys.stderr)
        return 2

    try:
        expected = _expected_outputs()
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = [p for p in _iter_py(SYNC_DIR) if p not in expected]

    if args.check:
        problems = 0
        for path, content in expected.items():
            if not path.is_file():
                print(f"missing: {_rel(path)}")
                problems += 1
            elif path.read_text(encoding="utf-8") != content:
                print(f"stale: {_rel(path)}")
                problems += 1
        for path in extra:
            print(f"extra: {_rel(path)}")
            problems += 1
        if problems:
            print("sync code is out of date: run python tools/gen_sync.py")
            return 1
        print("sync code is up to date")
        return 0

    for path, content in expected.items():
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="\n")
        print(f"wrote {_rel(path)}")
    for path in extra:
        if not _inside_sync_dir(path):  # never delete anything outside _sync
            continue
        path.unlink()
        print(f"removed {_rel(path)}")
        parent = path.parent
        while parent != SYNC_DIR and _inside_sync_dir(parent) and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return 0


if __name__ == "__main__":
    sys.exit(main())
