"""Bulk work that runs one full detection at its end skips the per-contact duplicate check."""

from rapport.contacts.tests.factories import make_contact
from rapport.core.context import work_context
from rapport.data_exchange.models import ContactDuplicate


def twins(owner):
    for _ in range(2):
        make_contact(
            actor=owner,
            owner=owner,
            first_name="Ada",
            last_name="Lovelace",
            emails=None,
            phones=["+44 20 7946 0958"],
        )


def test_a_new_contact_is_checked_at_once(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twins(owner)
    assert ContactDuplicate.objects.count() == 1


def test_bulk_work_that_defers_checks_leaves_them_to_its_full_run(
    owner, django_capture_on_commit_callbacks
):
    with work_context(checks_deferred=True), django_capture_on_commit_callbacks(execute=True):
        twins(owner)
    assert not ContactDuplicate.objects.exists()
