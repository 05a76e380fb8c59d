"""Idempotency-Key for API creates: a retried request returns the first result, writes nothing.

Works below the API framework, on the raw request and response, so every POST endpoint gets it
without each handler remembering to. A key is scoped to the caller's credentials.
"""

import hashlib
import json
import time

from django.db import DatabaseError, IntegrityError, transaction
from django.http import JsonResponse

from rapport.core.middleware import _is_unreachable, database_unavailable_response
from rapport.core.models import IdempotencyRecord
from rapport.core.problems import CONTENT_TYPE, problem

PENDING = 0
MAX_KEY_LENGTH = 255


def _principal(request) -> str | None:
    credential = request.headers.get("Authorization") or request.COOKIES.get("sessionid")
    if not credential:
        return None
    return hashlib.sha256(credential.encode()).hexdigest()


# Answers that say nothing about the request itself: they are not kept, so a retry (with a
# valid token, say) runs for real. Keeping them would also let junk credentials fill the table.
NOT_KEPT = {401, 403, 404, 405, 429}
WITHHELD = {"__rapport_withheld__": True}


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            return problem(
                422,
                "Validation failed",
                "Idempotency-Key must be 1 to 255 characters.",
                errors=[{"field": "header.Idempotency-Key", "message": "Invalid length."}],
            )
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)
        try:
            return self._handle(request, principal, key)
        except DatabaseError as exc:
            # This runs outside the view, where the 503 handlers cannot see the failure.
            if not _is_unreachable(exc):
                raise
            return database_unavailable_response(request)

    def _handle(self, request, principal: str, key: str):
        fingerprint = hashlib.sha256(request.path.encode() + b"\n" + request.body).hexdigest()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    principal=principal,
                    key=key,
                    method=request.method,
                    path=request.path[:500],
                    request_fingerprint=fingerprint,
                    status_code=PENDING,
                    response_body={},
                )
        except IntegrityError:
            return self._replay(principal, key, fingerprint)
        response = self.get_response(request)
        if (
            response.status_code >= 500
            or response.status_code in NOT_KEPT
            or not response.get("Content-Type", "").startswith(
                ("application/json", "application/problem+json")
            )
        ):
            record.delete()  # a failure is not a result: let the retry run again
            return response
        if "no-store" in response.get("Cache-Control", ""):
            # A secret shown once (a new API token) is never written down here; a retry
            # learns that the first request succeeded, not the secret.
            body = WITHHELD
        else:
            try:
                body = json.loads(response.content or b"null")
            except ValueError:
                record.delete()
                return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code, response_body=body
        )
        return response

    def _replay(self, principal, key, fingerprint):
        for _ in range(50):
            record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if record is None:
                return problem(409, "Conflict", "Retry: the first request with this key failed.")
            if record.request_fingerprint != fingerprint:
                return problem(
                    422,
                    "Validation failed",
                    "This Idempotency-Key was used for a different request.",
                    errors=[
                        {
                            "field": "header.Idempotency-Key",
                            "message": "Already used with another request body or path.",
                        }
                    ],
                )
            if record.status_code != PENDING:
                if record.response_body == WITHHELD:
                    return problem(
                        409,
                        "Conflict",
                        "The first request with this key succeeded; its answer held a secret "
                        "that is shown only once.",
                    )
                response = JsonResponse(
                    record.response_body,
                    status=record.status_code,
                    safe=False,
                    content_type=CONTENT_TYPE if record.status_code >= 400 else "application/json",
                )
                response["Idempotent-Replayed"] = "true"
                return response
            time.sleep(0.1)
        return problem(409, "Conflict", "A request with this Idempotency-Key is still running.")
