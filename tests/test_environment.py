"""Tests for storekeeper.config.environment: the reusable YAML loader."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from storekeeper.config import load_yaml as reexported_load_yaml
from storekeeper.config.environment import load_yaml, read_yaml
from storekeeper.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_reexported_from_config() -> None:
    assert reexported_load_yaml is load_yaml


def test_every_string_is_interpolated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: ${NAME}
        steps:
          - run: echo ${GREETING:-hello}
            retries: 3
          - [a, "${NAME}-b"]
        nested:
          deeper:
            price: $$5
            empty: ${UNSET:-}
        "${KEY}": keys are left alone
        none:
        """,
    )
    assert load_yaml(path, env={"NAME": "ingest"}) == {
        "name": "ingest",
        "steps": [{"run": "echo hello", "retries": "3"}, ["a", "ingest-b"]],
        "nested": {"deeper": {"price": "$5", "empty": ""}},
        "${KEY}": "keys are left alone",
        "none": None,
    }


def test_scalars_stay_strings(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 0123\nb: yes\nc: 2024-01-01\nd: 1.5\ne: ~\n")
    assert load_yaml(path, env={}) == {
        "a": "0123",
        "b": "yes",
        "c": "2024-01-01",
        "d": "1.5",
        "e": None,
    }


def test_merge_keys_work(tmp_path: Path) -> None:
    path = write(tmp_path, "base: &b\n  x: ${X}\nchild:\n  <<: *b\n  y: 2\n")
    assert load_yaml(path, env={"X": "1"})["child"] == {"x": "1", "y": "2"}


def test_root_may_be_a_list_or_a_string(tmp_path: Path) -> None:
    assert load_yaml(write(tmp_path, "- ${A}\n- b\n"), env={"A": "a"}) == ["a", "b"]
    assert load_yaml(write(tmp_path, "${A}\n", "s.yaml"), env={"A": "a"}) == "a"
    assert load_yaml(write(tmp_path, "", "empty.yaml"), env={}) is None


def test_env_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOREKEEPER_TEST_REGION", "eu-west")
    path = write(tmp_path, "region: ${STOREKEEPER_TEST_REGION}\n")
    assert load_yaml(path) == {"region": "eu-west"}


def test_accepts_str_paths(tmp_path: Path) -> None:
    assert load_yaml(str(write(tmp_path, "a: b\n")), env={}) == {"a": "b"}


def test_unset_variable_names_variable_file_and_place(tmp_path: Path) -> None:
    path = write(tmp_path, "steps:\n  - run: ok\n  - run: ${MISSING_VAR}\n", "blueprint.yaml")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, env={})
    message = str(info.value)
    assert "'MISSING_VAR'" in message
    assert str(path) in message
    assert "steps[1].run" in message


def test_bad_reference_names_file_and_place(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  b: ${oops\n", "blueprint.yaml")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, env={})
    message = str(info.value)
    assert "blueprint.yaml" in message and "a.b" in message and "bad variable reference" in message


def test_missing_file_uses_the_given_description(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^YAML file .*nope\.yaml.* does not exist"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"^blueprint .*nope\.yaml.* does not exist"):
        load_yaml(tmp_path / "nope.yaml", what="blueprint")


def test_syntax_error_does_not_quote_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "token: [unclosed hunter2\nx: y\n", "broken.yaml")
    with pytest.raises(ConfigError) as info:
        load_yaml(path, env={})
    message = str(info.value)
    assert "broken.yaml" in message and "invalid YAML" in message and "line" in message
    assert "hunter2" not in message


def test_unsafe_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "x: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(path, env={})


def test_read_yaml_does_not_interpolate(tmp_path: Path) -> None:
    path = write(tmp_path, "a: ${UNSET}\nb: [1, $$]\n")
    assert read_yaml(path) == {"a": "${UNSET}", "b": ["1", "$$"]}
