import pytest

from rapport.automation import webhooks
from rapport.automation.tests.receiver import Receiver


@pytest.fixture
def webhook_settings(settings):
    """Let webhooks reach the test's receiver on 127.0.0.1 (and nowhere else differs)."""
    settings.RAPPORT_WEBHOOKS_ALLOW_PRIVATE = True
    settings.RAPPORT_WEBHOOKS_READ_TIMEOUT = 0.5
    settings.RAPPORT_WEBHOOKS_TOTAL_DEADLINE = 3
    return settings


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def subscribe(admin_user, receiver, webhook_settings):
    """subscribe(path, events) -> a subscription to the receiver, whose secret it verifies."""

    def make(path="/ok", events=("contact.created",), **fields):
        subscription, secret = webhooks.create_subscription(
            actor=admin_user,
            name=fields.pop("name", f"Receiver {path}"),
            url=receiver.url(path),
            event_types=list(events),
            **fields,
        )
        receiver.record.secret = secret
        return subscription

    return make


# The API's permission matrix fixtures (people of every role and their token clients).
from rapport.core.tests import api_matrix  # noqa: E402

client_as = api_matrix.client_as
people = api_matrix.people
read_only_user = api_matrix.read_only_user
