import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rapport.audit.models import ChangeRecord
from rapport.contacts.tests.factories import make_contact
from rapport.core import schedules
from rapport.interactions.models import Interaction
from rapport.interactions.services import log_interaction
from rapport.privacy import services, tasks
from rapport.privacy.models import RetentionSettings

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def timeline(owner):
    contact = make_contact(actor=owner, owner=owner)

    def log(months_ago: int, subject: str):
        return log_interaction(
            actor=owner,
            kind="note",
            contact=contact,
            subject=subject,
            occurred_at=NOW - dt.timedelta(days=31 * months_ago),
        )

    return {"old": [log(14, "old"), log(13, "older")], "recent": log(2, "recent")}


def test_old_interactions_and_audit_records_go_in_batches(timeline, admin_user):
    services.update_retention_settings(actor=admin_user, interaction_months=12, audit_months=6)
    ChangeRecord.objects.update(occurred_at=NOW - dt.timedelta(days=400))
    ChangeRecord.objects.filter(pk=ChangeRecord.objects.latest("id").pk).update(
        occurred_at=NOW - dt.timedelta(days=10)
    )
    old_audit = ChangeRecord.objects.filter(occurred_at__lt=NOW - dt.timedelta(days=200)).count()

    counts = services.apply_retention(now=NOW, batch_size=1)

    assert counts == {"interactions": 2, "audit_records": old_audit}
    assert list(Interaction.objects.values_list("subject", flat=True)) == ["recent"]
    run = ChangeRecord.objects.get(entity="privacy.retention")
    assert (run.after["interactions"], run.after["audit_records"]) == (2, old_audit)
    assert run.message == f"Retention: deleted 2 interactions and {old_audit} audit records"
    assert ChangeRecord.objects.count() == 2  # the recent one and the run's own


def test_empty_settings_keep_everything(timeline):
    before = (Interaction.objects.count(), ChangeRecord.objects.count())

    assert services.apply_retention(now=NOW) is None

    assert (Interaction.objects.count(), ChangeRecord.objects.count()) == before


def test_only_interactions_when_only_they_have_a_limit(timeline, admin_user):
    services.update_retention_settings(actor=admin_user, interaction_months=12, audit_months=None)
    ChangeRecord.objects.update(occurred_at=NOW - dt.timedelta(days=4000))
    audit_before = ChangeRecord.objects.count()

    counts = services.apply_retention(now=NOW)

    assert counts == {"interactions": 2, "audit_records": 0}
    assert ChangeRecord.objects.count() == audit_before + 1


def test_only_administrators_change_retention(owner, admin_user):
    with pytest.raises(PermissionDenied):
        services.update_retention_settings(actor=owner, interaction_months=1, audit_months=None)
    assert not RetentionSettings.objects.filter(interaction_months=1).exists()

    settings = services.update_retention_settings(
        actor=admin_user, interaction_months=24, audit_months=None
    )

    assert (settings.interaction_months, settings.audit_months) == (24, None)
    record = ChangeRecord.objects.latest("id")
    assert (record.before, record.after) == (
        {"interaction_months": None, "audit_months": None},
        {"interaction_months": 24, "audit_months": None},
    )


@pytest.mark.parametrize("months", [0, -3, 1201, "soon"])
def test_retention_months_must_be_sensible(admin_user, months):
    with pytest.raises(ValidationError) as error:
        services.update_retention_settings(
            actor=admin_user, interaction_months=months, audit_months=None
        )
    assert list(error.value.message_dict) == ["interaction_months"]


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (dt.datetime(2026, 3, 31, tzinfo=dt.UTC), 1, dt.datetime(2026, 2, 28, tzinfo=dt.UTC)),
        (dt.datetime(2026, 1, 15, tzinfo=dt.UTC), 13, dt.datetime(2024, 12, 15, tzinfo=dt.UTC)),
        (dt.datetime(2024, 5, 31, tzinfo=dt.UTC), 3, dt.datetime(2024, 2, 29, tzinfo=dt.UTC)),
    ],
)
def test_months_before(moment, months, expected):
    assert services.months_before(moment, months) == expected


def test_the_daily_job_is_registered_and_claims_its_day(timeline, admin_user):
    assert "daily retention" in schedules.registered()
    services.update_retention_settings(actor=admin_user, interaction_months=1, audit_months=None)

    first = tasks.daily_retention.enqueue().return_value
    second = tasks.daily_retention.enqueue().return_value

    # The timeline is dated around NOW, months before the real clock the job reads.
    assert first["interactions"] == 3
    assert second == {"skipped": True}
    assert ChangeRecord.objects.filter(entity="privacy.retention").count() == 1
