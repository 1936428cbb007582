"""schemathesis over the whole OpenAPI document, in process against the ASGI app, as an owner:
every check (server errors, undocumented status codes and content types, response schemas, ...)
must pass for every operation.

Bounded for CI: ``RACCORDO_SCHEMATHESIS_EXAMPLES`` examples per operation (default 3); the longer
run is documented in docs/api.md."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from raccordo.bootstrap.http import create_app
from tests.support.orgs import make_org

EXAMPLES = int(os.environ.get("RACCORDO_SCHEMATHESIS_EXAMPLES", "3"))
# These would end the owner's token for the rest of the run: called without it (they answer 401).
WITHOUT_TOKEN = ("/api/v1/auth/logout", "/api/v1/auth/password", "/api/v1/tokens/{token_id}", "/api/v1/users/{user_id}")


@pytest.fixture(scope="module")
def api(rt) -> Iterator[tuple[object, asgi.ASGIClient, dict[str, str]]]:
    app = create_app(rt, run_delivery=False)
    with asgi.get_client(app) as client:
        yield schemathesis.openapi.from_asgi("/openapi.json", app), client, make_org(rt).headers("owner")


def test_every_operation_answers_as_documented(api):
    schema, client, owner = api
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        headers = {} if operation.path in WITHOUT_TOKEN else owner

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            report_multiple_bugs=False,
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            # All checks but "schema-valid data is accepted": business rules (a known region, an
            # existing id, a channel's own settings) reject much that the schema alone allows.
            # (run() is called below, in this same iteration: the loop's headers are the ones meant)
            case.call_and_validate(session=client, headers=headers, excluded_checks=[positive_data_acceptance])  # noqa: B023

        try:
            run()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:600]}")
    assert operations > 100
    assert not failures, "\n\n".join(failures)
