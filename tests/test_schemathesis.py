"""Generated requests over the whole OpenAPI document: never a server error, never an answer that is not JSON.

schemathesis reads ``/scheduler/api/openapi.json`` from the app itself and builds, for every
operation, requests from its schemas — values that fit them and values that do not (NUL
bytes, huge numbers, wrong types, unexpected methods) — sent signed in as an admin with a
bearer token. Bounded (the coverage phase's edges of each parameter, then a few fuzzed
examples per operation) and derandomized, so a run is quick and the same every time. Every
operation is tried; the failures are reported together.
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.generation import GenerationMode
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

from tests.conftest import _truncate, make_runtime
from whalefall.api import PREFIX, openapi
from whalefall.app import create_app
from whalefall.models import Role
from whalefall.services import tokens, users
from whalefall.services.audit import Actor

# Fuzzed examples per operation, after the coverage phase's fixed set (~80 s for both databases).
# WHALEFALL_SCHEMATHESIS_EXAMPLES=50 searches harder, for minutes.
EXAMPLES = int(os.environ.get("WHALEFALL_SCHEMATHESIS_EXAMPLES", "3"))

# Operations that reach out of the machine on every request (a database server, an alert
# channel at the address given); what they answer on bad input is tested where they live.
REACHING_OUT = re.compile(
    r"/instances/test$|/instances/\{instance_id\}/test$|/alert-channels/\{channel_id\}/test$"
)


def CONFIG(schema) -> HypothesisTestConfig:
    return HypothesisTestConfig(
        project=schema.config,
        modes=[HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
        settings=settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )


# What a successful create made, deleted again: the next case of the coverage phase (the same
# example body with one field changed) then reaches the insert instead of a 409 on the id.
CREATED = {"/jobs", "/instances", "/alert-channels", "/maintenance-windows"}


def undo(client, headers, case, response) -> None:
    path = case.path.removeprefix(PREFIX)
    if case.method.upper() == "POST" and path in CREATED and response.status_code == 200:
        created = response.json()["data"]["id"]
        client.delete(f"{PREFIX}{path}/{quote(str(created), safe='')}", headers=headers)


def problem(case, response) -> str | None:
    """What is wrong with ``response`` to ``case``, or None."""
    where = f"{case.method} {case.formatted_path} ({case.query or ''}) → {response.status_code}"
    types = [v for k, vs in response.headers.items() if k.lower() == "content-type" for v in vs]
    if (case.query or {}).get("format") == "csv" and response.status_code == 200:  # an export, asked for
        return None if types and types[0].startswith("text/csv") else f"{where}: not CSV"
    download = case.path.endswith("/export/jobs") and response.status_code == 200  # a YAML file
    if download and types and types[0].startswith("application/yaml"):
        return None
    if not (types and types[0].startswith("application/json")):
        return f"{where}: not JSON: {response.text[:200]!r}"
    if case.method.upper() == "HEAD":  # no body, by definition
        return f"{where}: a server error" if response.status_code >= 500 else None
    body = response.json()
    if not (isinstance(body, dict) and "success" in body):
        return f"{where}: not the envelope: {body!r:.200}"
    no_scheduler = case.path.endswith("/health") and response.status_code == 503  # none runs here
    if response.status_code >= 500 and not no_scheduler:
        return f"{where}: {body.get('message')}; body {case.body!r:.300}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request, tmp_path, server_databases):
    """The app on SQLite, then on PostgreSQL (which refuses NUL in text and numbers past BIGINT)."""
    if request.param == "sqlite":
        rt = make_runtime(tmp_path)
    else:
        rt = make_runtime(tmp_path, server_databases["postgresql"])
        _truncate(rt)
    users.create(rt.db, "admin", "admin-password-1", Role.ADMIN, Actor.system())
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    yield app
    rt.close()


def bearer(app) -> dict[str, str]:
    """A new API token of the admin."""
    _token, plaintext = tokens.create(app.extensions["whalefall"].db, "admin", "schemathesis", Actor.system())
    return {"Authorization": f"Bearer {plaintext}"}


def test_no_generated_request_gets_a_server_error_or_a_non_json_answer(any_app):
    app = any_app
    schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        allow_x00=True,
        deterministic=True,
        database="none",
    )
    headers = bearer(app)
    client = app.test_client()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the document lists every operation"
    problems: list[str] = []

    def check(case):
        nonlocal headers
        response = case.call(headers=headers)
        if response.status_code == 401:  # the run revoked its own token: take a new one
            headers = bearer(app)
            response = case.call(headers=headers)
        found = problem(case, response)
        assert found is None, found
        undo(client, headers, case, response)

    for operation in operations:
        if REACHING_OUT.search(operation.path):
            continue
        # The coverage phase: each parameter's edges (past its maximum, NUL, wrong types) one by one;
        # then fuzzing: values drawn from the schemas, fitting them or not.
        test = create_test(operation=operation, test_func=check, config=CONFIG(schema))
        try:
            test()
        except AssertionError as exc:
            problems.append(str(exc).splitlines()[0])
    assert not problems, "\n".join(problems)


def test_every_example_body_in_the_document_is_one_its_model_accepts(app):
    models = {route[4].__name__: route[4] for route in openapi.ROUTES if route[4] is not None}
    with app.app_context():
        schemas = openapi.document()["components"]["schemas"]
    for name, example in openapi.EXAMPLES.items():
        assert schemas[name]["examples"] == [example]
        models[name].model_validate(example)
