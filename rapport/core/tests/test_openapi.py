"""The OpenAPI document tells the truth: one schema per component name, and every error answer
an operation can give is listed with the problem schema."""

import pytest
from ninja.openapi.schema import OpenAPISchema

from rapport.api import api
from rapport.core.problems import PROBLEM_COMPONENT, document_problems

PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}


def test_no_two_schemas_are_published_under_one_component_name(monkeypatch):
    # Ninja files every operation's schemas under their class name, the last one winning: two
    # classes of one name (sales' and frameworks' StageOut) gave operations the other's shape.
    collisions = {}
    original = OpenAPISchema.add_schema_definitions

    def add_schema_definitions(self, definitions):
        for name, definition in definitions.items():
            if name in self.schemas and self.schemas[name] != definition:
                collisions.setdefault(name, []).append(definition.get("properties", {}).keys())
        original(self, definitions)

    monkeypatch.setattr(OpenAPISchema, "add_schema_definitions", add_schema_definitions)
    api.get_openapi_schema()
    assert collisions == {}


@pytest.fixture(scope="module")
def operations():
    schema = api.get_openapi_schema()
    return [
        (f"{method.upper()} {path}", method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_lists_its_error_answers_with_the_problem_schema(operations):
    missing = []
    for name, method, operation in operations:
        expected = {400, 422, 503}
        if operation.get("security"):
            expected |= {401, 403}
        if any(p["in"] == "path" for p in operation["parameters"]):
            expected.add(404)
        if method == "post":
            expected |= {409}
        if "requestBody" in operation:
            expected |= {413}
        for status in expected:
            answer = operation["responses"].get(status)
            if answer is None or answer["content"]["application/problem+json"] != {
                "schema": PROBLEM_REF
            }:
                missing.append((name, status))
    assert missing == []
    assert len(operations) > 150


def test_document_problems_keeps_what_an_operation_declared_itself():
    schema = {
        "paths": {
            "/things/{thing_id}": {
                "get": {
                    "parameters": [{"in": "path", "name": "thing_id"}],
                    "responses": {200: {"description": "OK"}, 404: {"description": "Own."}},
                    "security": [{"TokenAuth": []}],
                },
                "post": {
                    "parameters": [],
                    "requestBody": {},
                    "responses": {201: {"description": "Created"}},
                    "x-problems": [404],
                },
            }
        }
    }
    document_problems(schema)
    get, post = schema["paths"]["/things/{thing_id}"].values()
    assert sorted(get["responses"]) == [200, 400, 401, 403, 404, 422, 503]
    assert get["responses"][404] == {"description": "Own."}
    assert sorted(post["responses"]) == [201, 400, 404, 409, 413, 422, 503]
    assert "x-problems" not in post
    assert schema["components"]["schemas"][PROBLEM_COMPONENT]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
