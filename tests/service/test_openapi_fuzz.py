"""schemathesis against the service's own OpenAPI document: no 500, no answer outside it.

The service runs in a subprocess over a fresh SQLite file; every operation of
its schema gets a bounded number of generated requests (``SK_FUZZ_EXAMPLES``,
default 25), valid and invalid alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from serving import Service, free_port

EXAMPLES = int(os.environ.get("SK_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    svc = Service(["--url", f"sqlite:///{tmp}/fuzz.db", "serve", "--port", str(port),
                   "--log-level", "warning"], [port], cwd=str(tmp))
    try:
        yield schemathesis.openapi.from_url(f"{svc.base}/openapi.json")
    finally:
        out = svc.stop()
        assert "Traceback" not in out, out


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_no_server_error_and_conformant_answers(api_schema: Any) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        op = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - schemathesis raises failure groups; all are listed
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:2000]}")
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
