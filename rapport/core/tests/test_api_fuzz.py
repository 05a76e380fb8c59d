"""A schema-driven fuzzer over the whole API: every operation, requests drawn from the published
OpenAPI document (valid ones and deliberately invalid ones), sent through the WSGI app as an
administrator over a little real data.

Each answer must be no server error, match the schema published for its status, and carry a
status code the document lists; a request the schema says is invalid must be refused with a
4xx. (The reverse, schemathesis' `positive_data_acceptance`, is not asked: a request can fit
the schema and still break a rule the schema cannot say, an id that names nothing, a stage of
another pipeline, a cursor not made by the server; those answer 400 or 422 naming the field.) The draw is derandomized (the same cases on every run) and
bounded per operation. The operations are split in two shards so `pytest -n 2` runs them side
by side; the data is made once per shard rather than once per operation, which would cost more
than the requests.
"""

import datetime as dt
import functools

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from rapport.accounts.services import create_api_token
from rapport.accounts.tests.factories import RoleFactory, TeamFactory, UserFactory
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.sales.services.deals import create_deal
from rapport.sales.services.pipelines import create_pipeline
from rapport.wsgi import application

pytestmark = pytest.mark.django_db

# Per operation: this many valid requests and as many invalid ones.
EXAMPLES = 6
SHARDS = 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@functools.cache
def operations() -> list:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def kept_connection():
    """Requests go to the WSGI app directly, not through Django's test client, so do what the
    client does: keep Django from closing the connection at each request's start and end,
    which on PostgreSQL would drop the test's transaction and its data."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(kept_connection):
    cache.clear()
    team = TeamFactory(name="Sales North", kind="sales")
    admin = UserFactory(
        username="fuzz-admin", role=RoleFactory(name="Administrator", is_admin=True), teams=[team]
    )
    # A record of each kind, with small ids, so generated ids sometimes name a real one.
    organization = make_organization(actor=admin, owner=admin)
    contact = make_contact(actor=admin, owner=admin, emails=["ada@example.com"])
    make_product(actor=admin)
    make_order(actor=admin, contact=contact, organization=organization)
    pipeline = create_pipeline(actor=admin, name="New business", currency="EUR")
    create_deal(
        actor=admin,
        owner=admin,
        name="Big deal",
        pipeline=pipeline,
        amount="1000.00",
        expected_close_date=timezone.localdate() + dt.timedelta(days=20),
        contact=contact,
    )
    _token, key = create_api_token(actor=admin, user=admin, name="fuzz")
    yield key
    cache.clear()


def fuzz(operation, key: str) -> list[str]:
    """The distinct failures of one operation, as readable lines."""
    failures: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {key}"}
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=2 * EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        # Failures are collected, not raised: Hypothesis would spend the budget shrinking them.
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            for failure in getattr(exc, "exceptions", [exc]):
                message = " ".join(str(failure).split())
                failures.setdefault(failure.title, f"{operation.label}: {message}"[:400])

    try:
        run()
    except Exception as exc:  # a failure of the fuzzer itself counts, it is not hidden
        failures.setdefault("error", f"{operation.label}: {type(exc).__name__}: {exc}"[:300])
    return sorted(failures.values())


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_operation_answers_within_its_published_schema(shard, admin_key):
    mine = operations()[shard::SHARDS]
    assert len(mine) > 50
    failures = [line for operation in mine for line in fuzz(operation, admin_key)]
    assert not failures, "\n".join(failures)
