#!/usr/bin/env python3
"""Generate ``src/storekeeper/_sync`` from ``src/storekeeper/_async``.

storekeeper keeps exactly one implementation of its I/O logic: the asyncio code under
``src/storekeeper/_async``.  The synchronous API is a *generated twin* of that code rather
than a wrapper around it: the sync package calls real synchronous drivers (``psycopg``,
``pymysql``, ``sqlite3``, ...) directly, so there is no event loop, no thread portal and no
``asyncio.run`` per call on the sync path.  The same approach is used by httpcore
(``scripts/unasync.py``) and psycopg (``tools/async_to_sync.py``).

The rewrite is token based (stdlib :mod:`tokenize`).  Edits are applied to the original
source text at token positions, so formatting and comments survive byte for byte except
for the edits themselves:

* ``async def`` / ``async with`` / ``async for`` lose the ``async`` keyword (and the
  whitespace after it); ``await expr`` becomes ``expr`` (also inside parentheses, e.g.
  ``(await f()).x`` -> ``(f()).x``).
* NAME tokens are renamed: first by the explicit map :data:`NAME_MAP`
  (``__aenter__`` -> ``__enter__``, ``_async`` -> ``_sync``, ``aiomysql`` -> ``pymysql``,
  ...), then by the general rule ``Async<Upper><rest>`` -> ``<Upper><rest>``
  (``AsyncDataStore`` -> ``DataStore``, ``AsyncIterator`` -> ``Iterator``).  Dotted import
  paths are NAME tokens separated by ``.``, so ``storekeeper._async.x`` becomes
  ``storekeeper._sync.x`` through the same rule.
* Inside string literals (docstrings, messages) whole words are renamed by the same rules,
  ``async def|with|for`` loses ``async`` and ``await`` (followed by blanks) is removed.
  Comments are left untouched.
* Escape hatch for lines without a 1:1 twin: a line ending with the comment
  ``# sync: <replacement>`` is replaced (keeping its indentation) by ``<replacement>``;
  a line ending with ``# sync: skip`` is dropped.

Usage::

    python tools/gen_sync.py          # (re)generate _sync, delete orphaned _sync files
    python tools/gen_sync.py --check  # write nothing; exit 1 if _sync is out of date

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
ASYNC_DIR = ROOT / "src" / "storekeeper" / "_async"
SYNC_DIR = ROOT / "src" / "storekeeper" / "_sync"

HEADER = "# Generated from src/storekeeper/_async/{relpath} by tools/gen_sync.py: do not edit.\n"

#: Explicit renames, applied before the general ``Async<Upper>`` rule.
NAME_MAP: dict[str, str] = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "StopAsyncIteration": "StopIteration",
    "asynccontextmanager": "contextmanager",
    "aclose": "close",
    "anext": "next",
    "aiter": "iter",
    "_async": "_sync",
    "rt_async": "rt_sync",
    "aiomysql": "pymysql",
    "AbstractAsyncContextManager": "AbstractContextManager",
}

_ASYNC_PREFIX_RE = re.compile(r"Async(?=[A-Z])")
_BLANKS_RE = re.compile(r"[ \t]*")
_DIRECTIVE_RE = re.compile(r"#\s*sync:(?P<text>.*)")
_INDENT_RE = re.compile(r"[ \t\f]*")
# Inside string literals: consume backslash escapes as a unit (so "\nAsyncX" still sees the
# word "AsyncX"), drop ``async`` before def/with/for and ``await`` before blanks, and hand
# every other word to :func:`rename_name`.  Scanning left to right, the keyword alternative
# is only ever tried at the start of a word (or right after an escape).
_STRING_RE = re.compile(
    r"\\.|(?P<drop>async[ \t]+(?=(?:def|with|for)\b)|await[ \t]+)|(?P<word>\w+)", re.DOTALL
)
_STRING_PREFIX_RE = re.compile(r"[A-Za-z]*")

# Token types whose text is string-literal content.  FSTRING_MIDDLE exists on 3.12+ only.
_STRING_TOKENS = frozenset(
    t for t in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", None)) if t is not None
)


class _Edit(NamedTuple):
    start: int
    end: int
    text: str


def rename_name(name: str) -> str:
    """Return the sync name for the identifier ``name`` (explicit map, then ``Async`` rule)."""
    if name in NAME_MAP:
        return NAME_MAP[name]
    if _ASYNC_PREFIX_RE.match(name):
        return name[len("Async") :]
    return name


def _rewrite_string_text(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group("drop") is not None:
            return ""
        word = match.group("word")
        return rename_name(word) if word is not None else match.group(0)

    return _STRING_RE.sub(repl, text)


def _rewrite_string_token(text: str, tok_type: int) -> str:
    if tok_type == tokenize.STRING:
        # Leave the prefix (r, b, f, ...) alone; rewrite from the opening quote on.
        prefix = _STRING_PREFIX_RE.match(text)
        cut = prefix.end() if prefix else 0
        return text[:cut] + _rewrite_string_text(text[cut:])
    return _rewrite_string_text(text)


def _line_offsets(source: str) -> list[int]:
    """Offset of the start of each physical line, as tokenize numbers them (1-based rows)."""
    offsets = [0, 0]  # dummy entry for row 0
    pos = source.find("\n")
    while pos != -1:
        offsets.append(pos + 1)
        pos = source.find("\n", pos + 1)
    return offsets


def unasync_source(source: str, relpath: str) -> str:
    """Rewrite async source ``source`` into its sync twin, prefixed with the header line.

    ``relpath`` is the path of the source relative to ``src/storekeeper/_async`` (used in
    the header only).  Raises :class:`SyntaxError` / :class:`tokenize.TokenError` for source
    that cannot be tokenized and :class:`ValueError` for a malformed ``# sync:`` directive.
    """
    offsets = _line_offsets(source)

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
                new = rename_name(tok.string)
                if new != tok.string:
                    token_edits.append(_Edit(start, end, new))
        elif tok.type in _STRING_TOKENS:
            new = _rewrite_string_token(tok.string, tok.type)
            if new != tok.string:
                token_edits.append(_Edit(offset(tok.start), offset(tok.end), new))
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
    edits.sort()
    out: list[str] = []
    pos = 0
    for edit in edits:
        out.append(source[pos : edit.start])
        out.append(edit.text)
        pos = edit.end
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
    for src in _iter_py(ASYNC_DIR):
        relpath = src.relative_to(ASYNC_DIR).as_posix()
        text = src.read_text(encoding="utf-8")
        try:
            output = unasync_source(text, relpath)
        except (SyntaxError, tokenize.TokenError, ValueError) as exc:
            raise GenerationError(f"{_rel(src)}: {exc}") from exc
        try:  # the twin must still be valid Python (e.g. after a "# sync:" replacement)
            ast.parse(output, filename=_rel(SYNC_DIR / relpath))
        except SyntaxError as exc:
            raise GenerationError(f"generated code for {_rel(src)} is invalid: {exc}") from exc
        expected[SYNC_DIR / relpath] = output
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
