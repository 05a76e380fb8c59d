"""The JSON API at /api/v1: mounts each app's router and answers errors as problem details."""

from importlib import import_module
from importlib.util import find_spec

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from rapport.accounts.api.auth import api_auth
from rapport.core.middleware import _is_unreachable, database_unavailable_response
from rapport.core.pagination import CursorError
from rapport.core.problems import (
    document_problems,
    errors_from_django,
    errors_from_pydantic,
    problem,
)

API_APPS = [
    "accounts",
    "customfields",
    "contacts",
    "interactions",
    "sales",
    "commerce",
    "data_exchange",
    "analytics",
    "frameworks",
    "privacy",
    "mail",
    "automation",
    "sequences",
    "reports",
]


class RapportAPI(NinjaAPI):
    """Ninja's API whose OpenAPI document also lists the problem answers of each operation."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return document_problems(schema)


class BodyNotAnObject(ValueError):
    pass


class ObjectBodyParser(Parser):
    """Every JSON body Rapport takes is an object. Ninja's schemas also read attributes, so a
    bare number or list would pass as an object with no fields, and a PUT of `5` would reset
    every setting to its default."""

    def parse_body(self, request):
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise BodyNotAnObject("The body must be a JSON object ({…}).")
        return data


api = RapportAPI(
    title="Rapport API",
    version="1",
    description=(
        "The JSON API of Rapport. Authenticate with a personal API token "
        "(`Authorization: Bearer rpt_…`) or the web session. Errors are RFC 9457 problem "
        "details; creates accept an `Idempotency-Key` header."
    ),
    auth=api_auth,
    urls_namespace="api",
    parser=ObjectBodyParser(),
)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc):
    return problem(
        422,
        "Validation failed",
        "The request has invalid fields.",
        errors=errors_from_pydantic(exc.errors),
    )


@api.exception_handler(DjangoValidationError)
def on_service_validation_error(request, exc):
    return problem(
        422, "Validation failed", "The request has invalid fields.", errors=errors_from_django(exc)
    )


@api.exception_handler(CursorError)
def on_cursor_error(request, exc):
    # A cursor is opaque: one that does not decode was damaged or made up, not mistyped.
    return problem(
        400, "Bad Request", str(exc), errors=[{"field": "query.cursor", "message": str(exc)}]
    )


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request, exc):
    return problem(
        413,
        "Content Too Large",
        "The request body is larger than this server accepts.",
        errors=[{"field": "body", "message": "Too large."}],
    )


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problem(404, "Not Found", "No such record, or it is outside your access.")


@api.exception_handler(ObjectDoesNotExist)
def on_does_not_exist(request, exc):
    return problem(404, "Not Found", "No such record, or it is outside your access.")


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return problem(403, "Forbidden", str(exc) or "Your role does not allow this.")


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    response = problem(401, "Unauthorized", "Sign in or send a valid API token.")
    response["WWW-Authenticate"] = 'Bearer realm="rapport"'
    return response


@api.exception_handler(HttpError)
def on_http_error(request, exc):
    if isinstance(exc.__cause__, BodyNotAnObject):
        # Answered like any other body that fails its schema.
        message = str(exc.__cause__)
        return problem(
            422,
            "Validation failed",
            "The request has invalid fields.",
            errors=[{"field": "body", "message": message}],
        )
    return problem(exc.status_code, "Error", str(exc))


@api.exception_handler(OperationalError)
def on_operational_error(request, exc):
    if _is_unreachable(exc):
        return database_unavailable_response(request)
    raise exc


@api.exception_handler(InterfaceError)
def on_interface_error(request, exc):
    return database_unavailable_response(request)


for _app in API_APPS:
    _module = f"rapport.{_app}.api.routes"
    if find_spec(_module) is not None:
        api.add_router("/", import_module(_module).router)
# Bulk actions span the apps' entities, so their router lives in core, beside `core.bulk`.
api.add_router("/", import_module("rapport.core.api_bulk").router)
