"""The REST API fuzzed against its own OpenAPI schema with schemathesis.

Schemathesis reads /openapi.json from the app (create_app on the ``offline_folio`` fixture, called
in-process through ASGI) and generates requests for each operation: valid ones and ones the schema
forbids. Every answer must not be a 5xx, and its status code, content type, headers and body must be
the ones the schema declares. A bounded number of examples per operation, no deadline (the machine
may be loaded) and a fixed seed keep the run short and repeatable.

The operations are listed here, so that a route added without a fuzz run fails
``test_every_operation_is_fuzzed``. (Schemathesis's lazy ``from_fixture`` loader would find them
itself, but it does not run under pytest 9.)
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from multimodal.folio import Folio  # noqa: E402
from web.server import create_app  # noqa: E402

OPERATIONS = [
    ("GET", "/api/search"),
    ("POST", "/api/search"),
    ("GET", "/api/books/{book_id}"),
    ("GET", "/api/books/{book_id}/similar"),
    ("GET", "/covers/{book_id}"),
    ("GET", "/api/health"),
]
KNOWN_BOOKS = ("sample-001", "sample-020", "sample-064")
EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,  # a loaded 2-core machine is slow now and then; the number of examples bounds the time
    derandomize=True,  # the same examples every run
    database=None,  # no .hypothesis folder in the work tree
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api_schema(offline_folio: Folio):
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(offline_folio))


@pytest.fixture(scope="module")
def guarded_api_schema(offline_folio: Folio):
    """The same API behind a bearer token."""
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(offline_folio, api_token="fuzz-token"))


def requests_for(schema, method: str, path: str) -> st.SearchStrategy:
    """Requests for one operation: valid ones, ones its schema forbids, and for a book's routes, valid
    requests about books that exist (random ids would only ever find no book)."""
    operation = schema[path][method]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if "{book_id}" in path:
        strategies += [operation.as_strategy(path_parameters={"book_id": book_id}) for book_id in KNOWN_BOOKS]
    return st.one_of(strategies)


def test_every_operation_is_fuzzed(api_schema) -> None:
    found = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_answers_as_its_schema_says(api_schema, method: str, path: str) -> None:
    @given(case=requests_for(api_schema, method, path))
    @FUZZ
    def fuzz(case) -> None:
        case.call_and_validate(checks=CHECKS)

    fuzz()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_without_the_token_every_route_answers_as_documented(guarded_api_schema, method: str, path: str) -> None:
    @given(case=requests_for(guarded_api_schema, method, path))
    @settings(FUZZ, max_examples=5)
    def fuzz(case) -> None:
        response = case.call_and_validate(checks=CHECKS)
        # a body too large is refused before reading; repeated wrong tokens are throttled (web/throttle.py)
        assert response.status_code in (401, 413, 429), response.text

    fuzz()
