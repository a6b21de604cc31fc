"""``${VAR}`` interpolation and YAML files: database environment files and any other.

:func:`interpolate` substitutes ``${VAR}`` and ``${VAR:-default}`` in one string;
:func:`read_yaml` reads a YAML file safely; :func:`load_yaml` does both, for every
string of the file; :func:`load_environment_config` reads one environment of a
database environment file (seed 004 §4.2)::

    cfg = load_environment_config("config/database.yaml", "production")
    data = load_yaml("blueprints/ingest.yaml", env={"REGION": "eu"})

YAML scalars stay strings (``port: 5432`` gives ``'5432'``, ``password: 0123`` gives
``'0123'``); whoever reads the values coerces them. Errors are
:class:`~storekeeper.errors.ConfigError` naming the file, and never quote its text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Final

import yaml

from storekeeper.errors import ConfigError
from storekeeper.redact import redact

from .database import DatabaseConfig

__all__ = ["interpolate", "load_environment_config", "load_yaml", "read_yaml"]


# --------------------------------------------------------------------------------------
# Interpolation
# --------------------------------------------------------------------------------------

_VAR_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _UnsetVariableError(Exception):
    """Internal: an interpolated variable has no value and no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        #: Where in a document the reference stands (set by :func:`_interpolate_tree`).
        self.where: str | None = None


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Substitute ``${VAR}`` and ``${VAR:-default}`` references in a string.

    ``${VAR:-default}`` uses the default when ``VAR`` is unset or empty; the default
    may itself contain references (``${A:-${B}}``) and is only evaluated when used.
    ``$$`` is a literal ``$``; a ``$`` not followed by ``{`` or ``$`` is kept as is.

    >>> interpolate("postgresql://app@${HOST:-localhost}/app", {})
    'postgresql://app@localhost/app'

    :param value: the text to interpolate.
    :param env: variable values (usually ``os.environ``).
    :returns: the interpolated text.
    :raises ConfigError: when a variable is unset and has no default (naming it), or on
        malformed syntax (an unterminated ``${`` or a bad variable name).
    """
    try:
        return _interpolate(value, env)
    except _UnsetVariableError as exc:
        raise ConfigError(
            f"environment variable {exc.name!r} is not set and has no default "
            f"(write ${{{exc.name}:-default}} to give one)"
        ) from None


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        dollar = value.find("$", i)
        if dollar < 0:
            out.append(value[i:])
            break
        out.append(value[i:dollar])
        nxt = value[dollar + 1 : dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
            continue
        if nxt != "{":
            out.append("$")
            i = dollar + 1
            continue
        name_match = _VAR_NAME_RE.match(value, dollar + 2)
        if name_match is None:
            raise ConfigError(
                f"bad variable reference at position {dollar}: expected a name after '${{' "
                f"(letters, digits, '_'); write $$ for a literal '$'"
            )
        name, j = name_match.group(), name_match.end()
        if value.startswith("}", j):
            found = env.get(name)
            if found is None:
                raise _UnsetVariableError(name)
            out.append(found)
            i = j + 1
        elif value.startswith(":-", j):
            end = _closing_brace(value, j + 2, dollar)
            found = env.get(name)
            out.append(found if found else _interpolate(value[j + 2 : end], env))
            i = end + 1
        else:
            raise ConfigError(
                f"bad variable reference ${{{name}…}} at position {dollar}: "
                f"expected '}}' or ':-default}}'"
            )
    return "".join(out)


def _closing_brace(text: str, start: int, opened_at: int) -> int:
    depth, k = 1, start
    while k < len(text):
        if text.startswith("$$", k):
            k += 2
            continue
        if text.startswith("${", k):
            depth += 1
            k += 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    raise ConfigError(f"unterminated '${{' at position {opened_at}")


def _interpolate_tree(node: Any, env: Mapping[str, str], where: str | None) -> Any:
    """Interpolate every string under *node*; *where* is its path (``None`` at the root).

    :raises _UnsetVariableError: with ``where`` set, for a variable without a value.
    :raises ConfigError: on malformed syntax, prefixed with the path.
    """
    if isinstance(node, str):
        try:
            return _interpolate(node, env)
        except _UnsetVariableError as exc:
            exc.where = where
            raise
        except ConfigError as exc:
            if where is None:
                raise
            raise ConfigError(f"{where}: {exc}") from None
    if isinstance(node, Mapping):
        return {
            k: _interpolate_tree(v, env, f"{k}" if where is None else f"{where}.{k}")
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [
            _interpolate_tree(v, env, f"[{i}]" if where is None else f"{where}[{i}]")
            for i, v in enumerate(node)
        ]
    return node


# --------------------------------------------------------------------------------------
# YAML files
# --------------------------------------------------------------------------------------


def read_yaml(path: str | os.PathLike[str], *, what: str = "YAML file") -> Any:
    """Read a YAML file safely, without interpolation.

    Only plain data is built (a safe loader); plain scalars stay strings, nulls and
    merge keys (``<<: *base``) aside.

    :param path: the file.
    :param what: how error messages call the file (``'database configuration file'``).
    :returns: the document: a mapping, a list, a string or ``None`` for an empty file.
    :raises ConfigError: when the file is missing or unreadable, or is not valid YAML
        (naming the file, the problem and its line, never the line's text).
    """
    file_name = os.fspath(path)
    try:
        with open(file_name, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"{what} {file_name!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {what} {file_name!r}: "
            f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None
    try:
        # a SafeLoader subclass: no arbitrary objects are constructed
        return yaml.load(_quote_bare_memory(text), Loader=_StringScalarLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file_name}: invalid YAML: {_yaml_problem(exc)}") from None


def load_yaml(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    what: str = "YAML file",
) -> Any:
    """Read a YAML file safely and interpolate ``${VAR}`` in every string of it.

    :func:`read_yaml`, then :func:`interpolate` applied to each string value (keys
    are left alone) of the whole document.

    :param path: the file.
    :param env: variable values; defaults to ``os.environ``.
    :param what: how error messages call the file.
    :returns: the interpolated document (mappings become dicts).
    :raises ConfigError: as :func:`read_yaml`, and when a string uses an unset
        variable without a default or malformed ``${`` syntax (naming the file and
        where in it).
    """
    file_name = os.fspath(path)
    variables: Mapping[str, str] = os.environ if env is None else env
    document = read_yaml(file_name, what=what)
    try:
        return _interpolate_tree(document, variables, None)
    except _UnsetVariableError as exc:
        at = "" if exc.where is None else f" at {exc.where}"
        raise ConfigError(
            f"environment variable {exc.name!r} is not set and has no default; "
            f"{file_name} needs it{at} (set it, or write ${{{exc.name}:-default}})"
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"{file_name}: {exc}") from None


def load_environment_config(
    path: str | os.PathLike[str],
    environment: str,
    *,
    env: Mapping[str, str] | None = None,
) -> DatabaseConfig:
    """Load one environment's database configuration from a YAML file (seed 004 §4.2).

    The file holds one mapping per environment (``development:``, ``production:`` …),
    optionally wrapped in a top-level ``environments:`` key. Every string value of the
    chosen environment has ``${VAR}`` and ``${VAR:-default}`` substituted (see
    :func:`interpolate`), then the mapping goes through :meth:`DatabaseConfig.from_dict`,
    which coerces strings such as ``port: ${DB_PORT}``. Only the chosen environment is
    interpolated, so variables needed by other environments need not be set.

    :param path: the YAML file.
    :param environment: the environment to load.
    :param env: variable values; defaults to ``os.environ``.
    :returns: the validated configuration.
    :raises ConfigError: when the file is missing or unreadable (naming it), is not
        valid YAML or not a mapping, lacks the environment (listing those it has), or
        uses an unset variable without a default (naming the variable, the environment
        and the file); and for any invalid value.
    """
    file_name = os.fspath(path)
    variables: Mapping[str, str] = os.environ if env is None else env
    document = read_yaml(file_name, what="database configuration file")

    if not isinstance(document, Mapping):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise ConfigError(
            f"{file_name}: expected a mapping of environments (development:, production: …), "
            f"found {kind}"
        )
    environments: Mapping[Any, Any] = document
    wrapped = document.get("environments")
    if isinstance(wrapped, Mapping) and environment not in document:
        environments = wrapped
    if environment not in environments:
        known = ", ".join(sorted(str(k) for k in environments)) or "(none)"
        raise ConfigError(f"{file_name}: no environment {environment!r}; the file defines: {known}")
    section = environments[environment]
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"{file_name}: environment {environment!r} must be a mapping of settings, "
            f"found {'nothing' if section is None else type(section).__name__}"
        )
    try:
        resolved = _interpolate_tree(section, variables, environment)
    except _UnsetVariableError as exc:
        raise ConfigError(
            f"environment variable {exc.name!r} is not set and has no default; "
            f"environment {environment!r} of {file_name} needs it "
            f"(set it, or write ${{{exc.name}:-default}})"
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"{file_name}: {exc}") from None
    try:
        return DatabaseConfig.from_dict(resolved)
    except ConfigError as exc:
        raise ConfigError(f"{file_name}, environment {environment!r}: {exc}") from None


class _StringScalarLoader(yaml.SafeLoader):
    """A safe loader that keeps plain scalars as strings (nulls and merge keys aside).

    :meth:`DatabaseConfig.from_dict` coerces strings for numeric and boolean fields, so
    ``port: 5432`` and ``port: ${DB_PORT}`` take the same road, and YAML 1.1's guesses
    cannot mangle a value: ``password: 0123`` stays ``'0123'`` instead of the octal 83,
    ``password: yes`` stays ``'yes'``, ``database_name: 2024-01-01`` is not a date.
    """


_STRING_ONLY_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)
_StringScalarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _STRING_ONLY_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# Seed 004 §4.2 writes ``database_name: :memory:`` unquoted, which YAML rejects (a
# trailing ':' starts a mapping value). Quote that one value so the seed's file loads.
_BARE_MEMORY_RE: Final = re.compile(r"^([^#\n]*?:[ \t]+):memory:([ \t]*(?:#.*)?)$", re.MULTILINE)


def _quote_bare_memory(text: str) -> str:
    return _BARE_MEMORY_RE.sub(lambda m: f'{m.group(1)}":memory:"{m.group(2)}', text)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Built from the problem and its position only: the YAML library's own message
    # quotes the offending line, which may hold a password.
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return redact(f"{problem} at line {mark.line + 1}, column {mark.column + 1}")
        return redact(problem)
    return type(exc).__name__
