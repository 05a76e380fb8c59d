"""The workflow step "Enroll in a sequence": it enrolls the record's contact as the system,
skips one already in the sequence with the reason, and previews without writing."""

from types import SimpleNamespace

import pytest

from rapport.automation.steps import STEPS, StepContext
from rapport.sequences.models import Enrollment

pytestmark = pytest.mark.django_db


def context(record, sequence):
    return StepContext(
        workflow=SimpleNamespace(name="New lead"),
        run=None,
        record_type="contact",
        record=record,
        settings={"sequence": str(sequence.pk)},
        key="1",
    )


def test_the_step_enrolls_then_skips_the_second_time(sequence, ada):
    step = STEPS["enroll_in_sequence"]
    assert step.describe({"sequence": str(sequence.pk)}, "contact") == (
        "Enroll in the sequence “New leads”"
    )
    assert step.preview(context(ada, sequence)) == "Would enroll Ada Lovelace in “New leads”"
    assert not Enrollment.objects.exists()

    first = step.run(context(ada, sequence))
    second = step.run(context(ada, sequence))

    assert (first.status, first.outcome) == ("done", "Enrolled in “New leads”")
    assert (second.status, second.outcome) == (
        "skipped",
        "Ada Lovelace is already in “New leads”.",
    )
    enrollment = Enrollment.objects.get()
    assert (enrollment.contact, enrollment.enrolled_by, enrollment.mailbox) == (
        ada,
        None,
        sequence.mailbox,
    )
