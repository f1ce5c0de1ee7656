"""Property-based tests of the whole HTTP interface: schemathesis over ``/api/openapi.json``.

Every documented operation is called with generated input, anonymously and with an admin's API token,
against a live test server on a database of its own (the demo county, so lookups and divisions find
real data, and writes harm no other test). A 5xx answer, or an answer that breaks the schema documented
for its status, fails. The run is bounded (``FUZZ_EXAMPLES`` per operation, derandomised so every run
tries the same inputs) to stay within about two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from live import served
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from server.api.openapi import openapi_document
from server.config import PROJECT_ROOT

DEMO_DIR = PROJECT_ROOT / "data" / "boundaries" / "demo"

#: Generated cases per operation and caller (anonymous, token).
FUZZ_EXAMPLES = 6
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(databases):
    from server import create_app, engine_of
    from server.services.demo import load_demo
    from server.services.users import create_token, ensure_demo_users

    url = databases.fresh("wangge_test_fuzz")
    for line in load_demo(url, DEMO_DIR, file=False):
        assert "not divided" not in line, line
    # Generous per-client limits: the fuzzer is one client sending hundreds of requests a minute.
    app = create_app({"DATABASE_URL": url, "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False,
                      "LOOKUP_LIMIT": "100000/60", "LOOKUP_BATCH_LIMIT": "100000/60",
                      "PUBLIC_REPORT_LIMIT": "100000/60", "LOGIN_LIMIT": "100000/60"})
    ensure_demo_users(engine_of(app))
    with engine_of(app).begin() as conn:
        app.config["FUZZ_TOKEN"] = create_token(conn, "admin", "schemathesis")
    yield app
    engine_of(app).dispose()


@pytest.fixture(scope="module")
def fuzz_server(fuzz_app) -> Iterator[str]:
    with served(fuzz_app) as url:
        yield url


# The document is built without an app (it is plain data), so pytest collects one test per operation; the
# test server is given to every call as its base URL. A test checks that the served document is this one.
schema = schemathesis.openapi.from_dict(openapi_document())
# Valid and invalid input both (wrong types, out-of-range numbers, NUL in text): neither may cause a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True)
FUZZ_SETTINGS = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ_SETTINGS
def test_anonymous_callers_get_no_server_error(case, fuzz_server):
    case.call_and_validate(base_url=fuzz_server, checks=CHECKS, timeout=60)


# An admin token must not revoke itself (the rest of the run would be anonymous).
@schema.exclude(path="/admin/tokens/{token_id}/revoke").parametrize()
@FUZZ_SETTINGS
def test_an_admin_token_gets_no_server_error(case, fuzz_server, fuzz_app):
    headers = {"Authorization": f"Bearer {fuzz_app.config['FUZZ_TOKEN']}"}
    case.call_and_validate(base_url=fuzz_server, headers=headers, checks=CHECKS, timeout=60)


def test_the_fuzzed_document_is_the_served_one(fuzz_app):
    assert fuzz_app.test_client().get("/api/openapi.json").get_json() == openapi_document()
