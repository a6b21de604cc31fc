"""Tests for storekeeper.redact: the one secret scrubber."""

from __future__ import annotations

import pytest

from storekeeper import config
from storekeeper.redact import MASK, Scrubber, redact, scrub_exc

SECRETS = ["s3cret", "p@ss/w:rd?", "it's", 'qu"ote', "two words", "ünï©ode", "%40pct"]


# ------------------------------------------------------------------ shapes recognised


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db/app", "postgresql://app:***@db/app"),
        ("postgresql+psycopg://app:s3cret@db:5432/app?x=1",
         "postgresql+psycopg://app:***@db:5432/app?x=1"),
        ("redis://:s3cret@cache/0", "redis://:***@cache/0"),
        ("mysql://root:p@ss/w:rd?@db/x", "mysql://root:***@db/x"),
        ("host=db password=s3cret", "host=db password=***"),
        ("host=db PASSWORD = 's3 cret'", "host=db PASSWORD = '***'"),
        ("MYSQL_PWD=s3cret mysql", "MYSQL_PWD=*** mysql"),
        ("db_passwd=\"s3cret\"", 'db_passwd="***"'),
        ("{'password': 's3cret'}", "{'password': '***'}"),
        ("password=None", "password=None"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
    ],
)  # fmt: skip
def test_redact_recognised_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_config_reexports_the_same_function() -> None:
    assert config.redact is redact


# ------------------------------------------------------------------ literal secrets


def test_literal_secret_is_hidden_anywhere() -> None:
    text = 'FATAL: password authentication failed for "s3cret" (s3cret)'
    assert redact(text, ["s3cret"]) == 'FATAL: password authentication failed for "***" (***)'


def test_literal_secrets_after_shapes() -> None:
    text = "mysql://u:s3cret@h/d rejected s3cret and t0ken"
    assert redact(text, ["s3cret", "t0ken"]) == "mysql://u:***@h/d rejected *** and ***"


def test_empty_and_none_secrets_are_skipped() -> None:
    assert redact("abc", [None, ""]) == "abc"
    assert redact("abc") == "abc"


def test_a_single_string_is_one_secret_not_characters() -> None:
    assert redact("the key ab and a b", "ab") == "the key *** and a b"


def test_longer_secret_wins_over_its_prefix() -> None:
    # replacing "abc" first would leave "***def" and leak a tail of the longer secret
    assert redact("abcdef abc", ["abc", "abcdef"]) == "*** ***"


def test_secrets_accepts_any_iterable() -> None:
    assert redact("x1 y2", (s for s in ("x1", "y2"))) == "*** ***"


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize(
    "template",
    [
        "{s}",
        "error: {s}",
        "postgresql://app:{s}@db/app",
        "host=db password={s} dbname=app",
        "host=db password='{s}'",
        "{{'password': '{s}', 'user': 'app'}}",
        "auth failed (password '{s}' rejected) for {s}!",
    ],
)
def test_given_secret_never_appears(secret: str, template: str) -> None:
    text = template.format(s=secret)
    assert secret not in redact(text, [secret])
    assert secret not in Scrubber(secret)(text)


# ------------------------------------------------------------------ exceptions


def test_scrub_exc_message_is_stripped_and_redacted() -> None:
    exc = RuntimeError("  could not connect to postgresql://u:s3cret@db/app\n")
    assert scrub_exc(exc) == "could not connect to postgresql://u:***@db/app"


def test_scrub_exc_hides_literal_secrets() -> None:
    exc = ValueError("server said: bad credentials s3cret")
    assert scrub_exc(exc, ["s3cret"]) == "server said: bad credentials ***"


@pytest.mark.parametrize("exc", [TimeoutError(), ConnectionError("   "), Exception("")])
def test_scrub_exc_without_message_names_the_type(exc: BaseException) -> None:
    assert scrub_exc(exc) == type(exc).__name__


def test_scrub_exc_of_multi_arg_exception() -> None:
    exc = OSError(1045, "Access denied for user 'root' using password s3cret")
    out = scrub_exc(exc, ["s3cret"])
    assert "s3cret" not in out and "1045" in out and "Access denied" in out


# ------------------------------------------------------------------ Scrubber


def test_scrubber_call() -> None:
    scrub = Scrubber("s3cret")
    assert scrub("password=s3cret got s3cret") == "password=*** got ***"
    assert scrub("nothing here") == "nothing here"


def test_scrubber_without_password_is_redact() -> None:
    text = "postgresql://u:pw@h/d, s3cret"
    assert Scrubber(None)(text) == redact(text)
    assert Scrubber("")(text) == redact(text)
    assert Scrubber()(text) == redact(text)


def test_scrubber_with_several_secrets() -> None:
    scrub = Scrubber("s3cret", None, "t0ken")
    assert scrub("s3cret t0ken") == "*** ***"


def test_scrubber_scrub_exc() -> None:
    scrub = Scrubber("s3cret")
    assert scrub.scrub_exc(RuntimeError(" denied: s3cret ")) == "denied: ***"
    assert scrub.scrub_exc(TimeoutError()) == "TimeoutError"


def test_scrubber_repr_hides_secrets() -> None:
    scrub = Scrubber("s3cret")
    assert "s3cret" not in repr(scrub)
    assert "s3cret" not in str(scrub)


def test_mask() -> None:
    assert MASK == "***"
