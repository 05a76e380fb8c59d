"""The workflow step "Enroll in a sequence", offered to automation's workflows when that module
is there. Acts as the system, as every workflow step does: the contact (a deal's contact) is
enrolled with the sequence's mailbox, its tasks go to the sequence's owner."""

from __future__ import annotations

from importlib.util import find_spec


def _sequences():
    from rapport.sequences.models import Sequence

    return [(str(s.pk), s.name) for s in Sequence.objects.filter(is_active=True).order_by("name")]


def make_step():
    from django.core.exceptions import ValidationError

    from rapport.automation import records
    from rapport.automation.models import RecordType, StepStatus
    from rapport.automation.params import Param
    from rapport.automation.steps import Result, Step, done, failed

    class EnrollInSequence(Step):
        type = "enroll_in_sequence"
        label = "Enroll in a sequence"
        record_types = (RecordType.CONTACT, RecordType.DEAL)
        params = [Param("sequence", "Sequence", "choice", required=True, choices=_sequences)]

        def describe(self, settings, record_type):
            return f"Enroll in the sequence “{self._label('sequence', settings, record_type)}”"

        def _target(self, ctx):
            from rapport.sequences.models import Sequence

            contact = records.contact_of(ctx.record)
            sequence = Sequence.objects.filter(pk=ctx.settings.get("sequence") or 0).first()
            return contact, sequence

        def preview(self, ctx):
            from rapport.sequences import services

            contact, sequence = self._target(ctx)
            if sequence is None:
                return "Would fail: the sequence was deleted"
            if contact is None:
                return "Would fail: there is no contact to enroll"
            problem = services.enrollment_problem(sequence=sequence, contact=contact)
            if problem:
                return f"Would skip: {problem}"
            return f"Would enroll {contact} in “{sequence}”"

        def run(self, ctx):
            from rapport.sequences import services

            contact, sequence = self._target(ctx)
            if sequence is None:
                return failed("The sequence was deleted.")
            if contact is None:
                return failed("There is no contact to enroll.")
            try:
                services.enroll_contact(actor=None, sequence=sequence, contact=contact)
            except ValidationError as exc:
                reasons = getattr(exc, "message_dict", {})
                if set(reasons) == {"contact"}:
                    return Result(StepStatus.SKIPPED, " ".join(reasons["contact"])[:500])
                return failed(" ".join(exc.messages))
            # Run text outlives an erased contact: it names the sequence, not the person.
            return done(f"Enrolled in “{sequence}”")

    return EnrollInSequence()


def connect() -> None:
    if find_spec("rapport.automation.steps") is None:
        return
    from rapport.automation import steps

    register = getattr(steps, "register_step", None)
    if register is not None:
        register(make_step())
