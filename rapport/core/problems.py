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
