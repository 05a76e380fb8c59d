"""The email engagement rate: tracked mail sent to contacts in 90 days, opened or clicked."""

import datetime as dt

import pytest

from rapport.frameworks.kpis import NotMeasurable
from rapport.frameworks.tests.conftest import at, customer, measure
from rapport.mail.models import EmailMessage

pytestmark = pytest.mark.django_db


def sent(contact, *, days_ago, opened_days_ago=None, clicked_days_ago=None, tracked=True):
    return EmailMessage.objects.create(
        direction="outbound",
        status="sent",
        message_id=f"m{EmailMessage.objects.count()}@test.invalid",
        occurred_at=at(days_ago),
        sent_at=at(days_ago),
        contact=contact,
        is_tracked=tracked,
        first_opened_at=None if opened_days_ago is None else at(opened_days_ago),
        first_clicked_at=None if clicked_days_ago is None else at(clicked_days_ago),
    )


def test_share_of_tracked_mail_opened_or_clicked():
    ann = customer(name="Ann")
    ben = customer(name="Ben")
    sent(ann, days_ago=10, opened_days_ago=9)
    sent(ann, days_ago=5, clicked_days_ago=4)
    sent(ben, days_ago=3)
    sent(ben, days_ago=2, tracked=False)  # untracked mail is not counted
    sent(ben, days_ago=120, opened_days_ago=119)  # outside the 90 days
    result = measure("email_engagement_rate")
    assert (result.numerator, result.denominator) == (2, 3)
    assert result.value == pytest.approx(200 / 3)


def test_a_past_day_counts_only_opens_known_by_then():
    ann = customer(name="Ann")
    sent(ann, days_ago=10, opened_days_ago=2)
    today = measure("email_engagement_rate")
    five_days_ago = measure("email_engagement_rate", as_of=dt.date.today() - dt.timedelta(days=5))
    assert today.value == 100.0
    assert five_days_ago.value == 0.0


def test_without_tracked_mail_it_says_why():
    customer(name="Ann")
    result = measure("email_engagement_rate")
    assert isinstance(result, NotMeasurable)
    assert "No tracked email was sent" in result.reason
