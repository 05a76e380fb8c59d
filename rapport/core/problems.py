"""Errors in one shape for the API: RFC 9457 problem details with field paths.

{"type": ..., "title": "Validation failed", "status": 422, "detail": "...",
 "errors": [{"field": "body.emails[0].email", "message": "Enter a valid email address."}]}
"""

from __future__ import annotations

import contextlib
from http import HTTPStatus

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse

PROBLEM_BASE = "https://rapport.invalid/problems/"
CONTENT_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str = "", errors: list | None = None, **extra):
    if title == "Error":
        # A generic error from the framework (bad JSON, throttling) takes the status's own name.
        with contextlib.suppress(ValueError):
            title = HTTPStatus(status).phrase
    body = {
        "type": PROBLEM_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE)


LOCATIONS = ("body", "query", "path", "header")


def _is_located(field: str) -> bool:
    return field.split(".", 1)[0].split("[", 1)[0] in LOCATIONS and "." in field


def errors_from_django(exc: DjangoValidationError, prefix: str = "body") -> list[dict]:
    """Flatten a Django ValidationError (dict or list form) into [{field, message}].

    Keys already naming where they come from ("query.owner", "path.contact_id") keep their
    place; others are taken to be about the request body.
    """
    errors = []
    if hasattr(exc, "error_dict"):
        for field, field_errors in exc.error_dict.items():
            if _is_located(field):
                path = field
            elif field == "__all__":
                path = prefix
            else:
                path = f"{prefix}.{field}" if prefix else field
            for error in field_errors:
                for message in error.messages:
                    errors.append({"field": path, "message": message})
    else:
        for message in exc.messages:
            errors.append({"field": prefix, "message": message})
    return errors


# The name API routes give their one body parameter. Ninja puts it in error locations
# ("body.payload.name"); callers sent {"name": …}, so it is dropped from the field path.
BODY_PARAMETER = "payload"


def errors_from_pydantic(details: list[dict]) -> list[dict]:
    errors = []
    for detail in details:
        loc = tuple(detail.get("loc", ()))
        if len(loc) >= 2 and loc[0] == "body" and loc[1] == BODY_PARAMETER:
            loc = ("body", *loc[2:])
        path = ""
        for part in loc:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else str(part)
        message = detail.get("msg", "invalid value")
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append({"field": path, "message": message})
    return errors


def relocate(exc: DjangoValidationError, location: str = "body", rename: dict | None = None):
    """The same errors with their keys renamed and placed under `location` ("query", …).

    Services name the model's fields ("owner"); the API may call them otherwise ("owner_id").
    """
    rename = rename or {}
    if not hasattr(exc, "error_dict"):
        return DjangoValidationError({location: exc.messages})
    moved: dict[str, list[str]] = {}
    for field, messages in exc.message_dict.items():
        head, dot, rest = field.partition(".")
        bracket = head.find("[")
        if bracket > 0:
            head, rest, dot = head[:bracket], head[bracket:] + dot + rest, ""
        name = rename.get(head, head)
        key = field if field == "__all__" else f"{location}.{name}{dot}{rest}"
        moved.setdefault(key, []).extend(messages)
    return DjangoValidationError(moved)


def check_query_params(params, allowed, prefixes: tuple[str, ...] = ()) -> None:
    """Refuse query parameters an endpoint does not know, so a typo is not silently ignored."""
    unknown = sorted(
        name for name in params if name not in allowed and not name.startswith(prefixes or ("\0",))
    )
    if unknown:
        raise DjangoValidationError(
            {f"query.{name[:50]}": ["Unknown query parameter."] for name in unknown[:20]}
        )


# -- the problems in the OpenAPI document ---------------------------------------------------------

PROBLEM_COMPONENT = "Problem"
PROBLEM_SCHEMA = {
    "title": PROBLEM_COMPONENT,
    "description": "An error, as RFC 9457 problem details.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "title": "Type"},
        "title": {"type": "string", "title": "Title"},
        "status": {"type": "integer", "title": "Status"},
        "detail": {"type": "string", "title": "Detail"},
        "errors": {
            "type": "array",
            "title": "Errors",
            "description": "One entry per refused field, e.g. `body.emails[0].email`.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "title": "Field"},
                    "message": {"type": "string", "title": "Message"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

PROBLEM_DESCRIPTIONS = {
    400: "The request could not be read: malformed JSON, a damaged cursor, an unknown host.",
    401: "No valid API token or session.",
    403: "The caller's role does not allow this, or a session write lacks its CSRF token.",
    404: "No such record, or it is outside the caller's access.",
    409: "A request with the same Idempotency-Key is still running, or held a secret.",
    413: "The request body is larger than the server accepts.",
    422: "Invalid fields, listed in `errors` with their place in the request.",
    503: "The database cannot be reached; retry after `Retry-After` seconds.",
}


def problem_statuses(method: str, operation: dict) -> list[int]:
    """The error answers an operation can give, from what it takes and how it is guarded.

    Every operation can meet a request it cannot read (400), a lost database (503) and an
    invalid value (422: fields, and unknown query parameters). Authentication adds 401 and 403,
    a path parameter (a record) adds 404, a body adds 413, and an API create (POST, which
    takes an Idempotency-Key) adds 409.
    """
    statuses = {400, 422, 503}
    if operation.get("security"):
        statuses |= {401, 403}
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
        statuses.add(404)
    if "requestBody" in operation:
        statuses.add(413)
    if method == "post":
        statuses.add(409)
    statuses |= {int(code) for code in operation.get("x-problems", ())}
    return sorted(statuses)


def also_answers(*statuses: int) -> dict:
    """`openapi_extra` for an operation whose guards answer more than `problem_statuses` infers,
    e.g. a 404 while there is nothing to show yet: `@router.get(..., openapi_extra=also_answers(404))`."""
    return {"x-problems": list(statuses)}


def document_problems(schema: dict) -> dict:
    """Add the problem answers of every operation of an OpenAPI `schema` (in place), each
    pointing at one `Problem` component, so the document lists the errors a client can meet.
    An operation adds statuses its guards raise beyond the rule with `also_answers`."""
    schema.setdefault("components", {}).setdefault("schemas", {})[PROBLEM_COMPONENT] = (
        PROBLEM_SCHEMA
    )
    reference = {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses}
            for status in problem_statuses(method, operation):
                if status not in declared:
                    responses[status] = {
                        "description": PROBLEM_DESCRIPTIONS[status],
                        "content": {CONTENT_TYPE: {"schema": reference}},
                    }
            operation.pop("x-problems", None)
    return schema
