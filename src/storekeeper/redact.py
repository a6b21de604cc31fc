"""Hiding secrets in text shown to people: error messages, log lines, DSNs.

The one scrubber of the package. :func:`redact` masks the passwords it can recognise
by shape (``scheme://user:password@host``, ``password=…``, ``'password': …``) and any
literal secrets it is given; :class:`Scrubber` binds the secrets of one connection
(its password) for repeated use::

    scrub = Scrubber(config.password)
    raise DatabaseConnectionError(scrub.scrub_exc(exc)) from None

Every secret becomes :data:`MASK` (``***``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MASK", "Scrubber", "redact", "scrub_exc"]

#: What a hidden secret is shown as.
MASK: Final = "***"

# scheme://user:PASSWORD@host — the password runs to the *last* '@' of the
# whitespace-delimited token, so an unencoded '@', '/' or '?' inside it is still
# hidden (over-redacting a strange URL beats leaking a secret).
_URL_PASSWORD_RE: Final = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/?#]*:)(?P<password>\S*)@"
)
_SECRET_KEY: Final = r"\w*(?:password|passwd|pwd)"
_SECRET_VALUE: Final = r"""(?!(?:None|null)\b)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)"""
# password=secret, PGPASSWORD=secret, password='it''s' (libpq key/value DSNs, env dumps)
_KV_PASSWORD_RE: Final = re.compile(
    rf"(?P<key>\b{_SECRET_KEY}\s*=\s*)(?P<value>{_SECRET_VALUE})", re.IGNORECASE
)
# 'password': 'secret', "password": "secret" (dict reprs, JSON)
_QUOTED_KEY_PASSWORD_RE: Final = re.compile(
    rf"""(?P<key>(?P<q>['"]){_SECRET_KEY}(?P=q)\s*[:=]\s*)(?P<value>{_SECRET_VALUE})""",
    re.IGNORECASE,
)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{quote_char}{MASK}{quote_char}"


def _literal_secrets(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The non-empty secrets, longest first (so no secret leaks a tail of a longer one)."""
    if isinstance(secrets, str):  # one secret, not its characters
        secrets = (secrets,)
    return tuple(sorted({s for s in secrets if s}, key=len, reverse=True))


def _replace_literals(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Hide passwords in arbitrary text.

    Replaces the password of every URL-looking ``scheme://user:password@host`` with
    ``***`` and the value of every ``password=…`` pair (libpq key/value DSNs, quoted
    values included, and keys ending in ``password``/``passwd``/``pwd`` such as
    ``PGPASSWORD``) and of ``'password': …`` entries in dict reprs and JSON. Then
    every occurrence of each given secret is replaced with ``***`` too, wherever it
    stands (a driver may quote a password with no key beside it).

    >>> redact("postgresql://app:s3cret@db/app")
    'postgresql://app:***@db/app'
    >>> redact("host=db password='it\\\\'s' dbname=app")
    "host=db password='***' dbname=app"
    >>> redact("authentication failed for 's3cret'", ["s3cret"])
    "authentication failed for '***'"

    :param text: any text: an error message, a log line, a DSN.
    :param secrets: literal secrets to hide as well; ``None`` and ``''`` are skipped,
        and a single string counts as one secret.
    :returns: the text with every password it recognises replaced by ``***``.
    """
    text = _URL_PASSWORD_RE.sub(lambda m: f"{m.group('prefix')}{MASK}@", text)
    text = _QUOTED_KEY_PASSWORD_RE.sub(_mask_value, text)
    text = _KV_PASSWORD_RE.sub(_mask_value, text)
    return _replace_literals(text, _literal_secrets(secrets))


def scrub_exc(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The message of an exception, safe to show: redacted, never empty.

    :param exc: the exception (typically a driver's).
    :param secrets: literal secrets to hide as well (see :func:`redact`).
    :returns: ``str(exc)`` stripped and redacted, or the exception's class name when
        it has no message.
    """
    return redact(str(exc).strip() or type(exc).__name__, secrets)


class Scrubber:
    """:func:`redact` bound to the secrets of one connection.

    ``Scrubber(config.password)`` is a callable ``str → str``; ``None`` and empty
    secrets are ignored, so ``Scrubber(None)`` only applies :func:`redact`. Its
    ``repr`` does not show the secrets.
    """

    __slots__ = ("_secrets",)

    def __init__(self, *secrets: str | None) -> None:
        """:param secrets: the literal secrets to hide, usually just the password."""
        self._secrets = _literal_secrets(secrets)

    def __call__(self, text: str) -> str:
        """Redact *text* and hide the bound secrets in it.

        :param text: any text.
        :returns: the scrubbed text.
        """
        return redact(text, self._secrets)

    def scrub_exc(self, exc: BaseException) -> str:
        """The message of *exc*, scrubbed (see the module function :func:`scrub_exc`).

        :param exc: the exception.
        :returns: the scrubbed message, or the exception's class name when it has none.
        """
        return scrub_exc(exc, self._secrets)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} hiding {len(self._secrets)} secret(s)>"
