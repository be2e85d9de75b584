"""The OpenAPI 3.1 document: served without credentials, valid, and matching the routes the resolver serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from tests.api.api_client import Client

from squall import Squall
from squall.api import make_resolver, openapi, static_tokens
from squall.local import Runtime


def test_the_document_is_served_without_credentials(client: Client, rt: Runtime) -> None:
    answer = client.get("/v1/openapi.json", token=None)

    assert answer.status == 200
    assert answer.body == openapi.document()


def test_the_document_is_a_valid_openapi_3_1_document() -> None:
    doc = openapi.document()

    validate(doc, cls=OpenAPIV31SpecValidator)  # raises on any error

    assert doc["openapi"].startswith("3.1")


def test_every_route_the_resolver_serves_is_in_the_document_and_every_documented_one_is_served(app: Squall) -> None:
    resolver = make_resolver(app, static_tokens("a-token-of-sixteen-chars"))
    # Powertools keeps "METHOD/path" per route, with <name> for a path parameter.
    served = set()
    for key in resolver._route_keys:
        method, path = key.split("/", 1)
        served.add(f"{method} /" + re.sub(r"<(\w+)>", r"{\1}", path))
    documented = {f"{method.upper()} {path}" for path, item in openapi.document()["paths"].items() for method in item}

    assert served == documented


def test_every_documented_operation_answers_401_unless_it_says_no_security() -> None:
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            open_ = operation.get("security") == []
            assert open_ == (path == "/v1/openapi.json"), f"{method} {path}"
            assert open_ or "401" in operation["responses"], f"{method} {path}"
