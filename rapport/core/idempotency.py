"""Idempotency-Key for API creates: a retried request returns the first result, writes nothing.

Works below the API framework, on the raw request and response, so every POST endpoint gets it
without each handler remembering to. A key is scoped to the caller's credentials.
"""

import contextlib
import datetime as dt
import hashlib
import json
import tempfile
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone

from rapport.core.middleware import _is_unreachable, database_unavailable_response
from rapport.core.models import IdempotencyRecord
from rapport.core.problems import CONTENT_TYPE, problem

PENDING = 0
MAX_KEY_LENGTH = 255
# A client retries within minutes, not days: after a day a key is free again and its record,
# whose response may name a person, is pruned (`prune_expired`, run hourly by a core task).
RETENTION = dt.timedelta(hours=24)
# Longer than any request may run (the web server kills a worker after 60 s): a key still
# pending after this belongs to a request that died, and a retry runs instead of waiting.
LEASE = dt.timedelta(seconds=90)
# How long a retry waits for the first request to finish before answering 409.
WAIT_SECONDS = 5
_CHUNK = 64 * 1024


def prune_expired(now: dt.datetime | None = None) -> int:
    """Delete the records older than RETENTION; returns how many went."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _principal(request) -> str | None:
    credential = request.headers.get("Authorization") or request.COOKIES.get("sessionid")
    if not credential:
        return None
    return hashlib.sha256(credential.encode()).hexdigest()


def _fingerprint(request) -> str:
    """A hash of the path and the whole body. A body over DATA_UPLOAD_MAX_MEMORY_SIZE (a file
    upload) is not read into memory: it is hashed while copied to a spooled temporary file that
    the view then reads in its place."""
    digest = hashlib.sha256(request.path.encode() + b"\n")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or length <= limit:
        digest.update(request.body)
        return digest.hexdigest()
    spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - the view reads it after we return
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    )
    while chunk := request.read(_CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    # Django reads uploads from `_stream`; handing it the copy lets the multipart parser run
    # as if nothing had been read (its size rules still apply: a JSON body this large is
    # refused with a 413 when the view reads it).
    request._stream = spool
    request._read_started = False
    return digest.hexdigest()


# Answers that say nothing about the request itself: they are not kept, so a retry (with a
# valid token, say) runs for real. Keeping them would also let junk credentials fill the table.
NOT_KEPT = {401, 403, 404, 405, 413, 429}
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
        except RequestDataTooBig:
            return problem(
                413,
                "Content Too Large",
                "The request body is larger than this server accepts.",
                errors=[{"field": "body", "message": "Too large."}],
            )
        except DatabaseError as exc:
            # This runs outside the view, where the 503 handlers cannot see the failure.
            if not _is_unreachable(exc):
                raise
            return database_unavailable_response(request)

    def _handle(self, request, principal: str, key: str):
        fingerprint = _fingerprint(request)
        record, answer = self._claim(request, principal, key, fingerprint)
        if answer is not None:
            return answer
        # The request's writes and its stored answer commit together, or neither does. Before,
        # a create could commit and the connection die before its answer was stored: the
        # client got 503, the key stayed pending, and a retry after the lease wrote it again.
        with transaction.atomic():
            response = self.get_response(request)
            body = _kept_body(response)
            if body is None:
                if response.status_code >= 500:
                    transaction.set_rollback(True)  # nothing half written; a retry runs again
                else:
                    IdempotencyRecord.objects.filter(pk=record.pk).delete()
            else:
                IdempotencyRecord.objects.filter(pk=record.pk).update(
                    status_code=response.status_code, response_body=body, locked_until=None
                )
        if body is None and response.status_code >= 500:
            # A failure is not a result: free the key (if the database is still there).
            with contextlib.suppress(DatabaseError):  # else the lease frees it
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return response

    def _claim(self, request, principal, key, fingerprint):
        """(record, None) when this request is to run and owns the key; (None, response) when
        the answer is a replay, a refusal or a 409."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = timezone.now()
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
                        locked_until=now + LEASE,
                    )
                return record, None
            except IntegrityError:
                pass
            record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if record is None:
                continue  # the first request failed and freed the key: this one runs
            if record.created_at < now - RETENTION:
                # An expired key is free again; the next turn of the loop takes it.
                IdempotencyRecord.objects.filter(
                    pk=record.pk, created_at__lt=now - RETENTION
                ).delete()
                continue
            if record.request_fingerprint != fingerprint:
                return None, problem(
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
                return None, _replay(record)
            if record.locked_until is None or record.locked_until < now:
                # The request holding the key died; the conditional update lets exactly one
                # retry take it over.
                taken = IdempotencyRecord.objects.filter(
                    pk=record.pk, status_code=PENDING, locked_until=record.locked_until
                ).update(locked_until=now + LEASE)
                if taken:
                    record.locked_until = now + LEASE
                    return record, None
                continue
            if time.monotonic() >= deadline:
                response = problem(
                    409, "Conflict", "A request with this Idempotency-Key is still running."
                )
                response["Retry-After"] = "1"
                return None, response
            time.sleep(0.1)


def _kept_body(response):
    """The JSON a retry should get back, or None when the answer is not one to keep (a failure,
    a refusal, anything but JSON)."""
    if (
        response.status_code >= 500
        or response.status_code in NOT_KEPT
        or not response.get("Content-Type", "").startswith(
            ("application/json", "application/problem+json")
        )
    ):
        return None
    if "no-store" in response.get("Cache-Control", ""):
        # A secret shown once (a new API token) is never written down here; a retry learns
        # that the first request succeeded, not the secret.
        return WITHHELD
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def _replay(record):
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
