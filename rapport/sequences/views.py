"""The sequences pages: the list with figures, the editor (steps added, removed and moved by
plain form buttons, no script), the detail with per-step figures and enrollments, and the
enroll / pause / resume / stop actions. Thin: the services decide and audit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.forms import add_service_errors
from rapport.contacts.models import Contact
from rapport.mail.models import Mailbox
from rapport.sequences import figures, scheduling, services
from rapport.sequences.choices import EnrollmentStatus, StepKind
from rapport.sequences.forms import SequenceForm, StepForm, step_initial
from rapport.sequences.models import Enrollment, Sequence

INVALID = 422
ENROLLMENTS_PER_PAGE = 50
STEP_FIELDS = list(StepForm.base_fields)


def _sequence(request, pk: int) -> Sequence:
    return get_object_or_404(Sequence.objects.visible_to(request.user), pk=pk)


@login_required
@require_GET
def sequence_list(request):
    sequences = list(Sequence.objects.visible_to(request.user).select_related("owner", "mailbox"))
    totals = figures.for_sequences(s.pk for s in sequences)
    rows = [{"sequence": s, "figures": totals[s.pk]} for s in sequences]
    return render(
        request,
        "sequences/sequence_list.html",
        {"rows": rows, "may_create": access.can(request.user, Action.CREATE, Sequence)},
    )


# -- the editor ----------------------------------------------------------------------------------


def _raw_steps(post) -> list[dict]:
    """Each step's submitted values, by its position in the form."""
    try:
        count = min(int(post.get("step-count", "0")), services.STEP_LIMIT + 1)
    except ValueError:
        count = 0
    steps = []
    for index in range(max(count, 0)):
        prefix = f"step-{index}-"
        values = {name: post.get(prefix + name, "") for name in STEP_FIELDS}
        values["reply_in_thread"] = post.get(prefix + "reply_in_thread", "") not in (
            "",
            "False",
            "false",
            "0",
        )
        steps.append(values)
    return steps


def _rearranged(steps: list[dict], op: str) -> list[dict]:
    """The steps after one of the editor's buttons: add a step, remove, move up or down."""
    steps = list(steps)
    verb, _, index_text = op.partition("-")
    if verb == "add":
        kind = index_text if index_text in StepKind.values else StepKind.AUTOMATIC_EMAIL
        steps.append({"kind": kind, "delay_amount": 0 if not steps else 2, "reply_in_thread": True})
        return steps
    try:
        index = int(index_text)
    except ValueError:
        return steps
    if not 0 <= index < len(steps):
        return steps
    if verb == "remove":
        steps.pop(index)
    elif verb == "up" and index > 0:
        steps[index - 1], steps[index] = steps[index], steps[index - 1]
    elif verb == "down" and index < len(steps) - 1:
        steps[index + 1], steps[index] = steps[index], steps[index + 1]
    return steps


def _unbound_steps(steps: list[dict], user) -> list[StepForm]:
    forms = []
    for index, values in enumerate(steps):
        initial = {k: v for k, v in values.items() if v not in ("", None)}
        initial["reply_in_thread"] = bool(values.get("reply_in_thread"))
        forms.append(StepForm(initial=initial, prefix=f"step-{index}", user=user))
    return forms


def _render_editor(request, form, step_forms, sequence=None, status=200):
    return render(
        request,
        "sequences/sequence_form.html",
        {
            "form": form,
            "step_forms": step_forms,
            "sequence": sequence,
            "step_kinds": StepKind.choices,
            "step_limit": services.STEP_LIMIT,
        },
        status=status,
    )


def _save(request, form, step_forms, sequence=None):
    """Validate the forms, then the service; the sequence, or None with the errors placed."""
    valid = form.is_valid()
    valid = all([step.is_valid() for step in step_forms]) and valid
    if not valid:
        return None
    data = dict(form.cleaned_data)
    steps = [step.step_values() for step in step_forms]
    try:
        with transaction.atomic():
            if sequence is None:
                return services.create_sequence(actor=request.user, steps=steps, **data)
            return services.update_sequence(
                actor=request.user, sequence=sequence, steps=steps, **data
            )
    except ValidationError as error:
        _place_errors(form, step_forms, error)
        return None


def _place_errors(form, step_forms, error: ValidationError) -> None:
    general = {}
    for key, messages_ in getattr(error, "message_dict", {"__all__": error.messages}).items():
        if key.startswith("steps["):
            index_text, _, field = key[len("steps[") :].partition("]")
            field = field.lstrip(".")
            if index_text.isdigit() and int(index_text) < len(step_forms):
                target = step_forms[int(index_text)]
                for message in messages_:
                    target.add_error(field if field in target.fields else None, message)
                continue
        general[key] = messages_
    if general:
        add_service_errors(form, ValidationError(general))


def _typed(post) -> dict:
    values = {name: post.get(name, "") for name in SequenceForm.base_fields}
    for name, field in SequenceForm.base_fields.items():
        if getattr(field.widget, "input_type", "") == "checkbox":
            values[name] = name in post
    return values


def _editor(request, sequence=None):
    user = request.user
    if request.method == "GET":
        form = SequenceForm(instance=sequence, user=user)
        if sequence is None:
            steps = [{"kind": StepKind.AUTOMATIC_EMAIL, "delay_amount": 0, "reply_in_thread": True}]
        else:
            steps = [step_initial(step) for step in sequence.steps.all()]
        return _render_editor(request, form, _unbound_steps(steps, user), sequence)
    op = request.POST.get("op", "save")
    if op != "save":
        # Rearranging is not saving: the form comes back as typed, without complaints yet.
        form = SequenceForm(initial=_typed(request.POST), instance=sequence, user=user)
        steps = _rearranged(_raw_steps(request.POST), op)
        return _render_editor(request, form, _unbound_steps(steps, user), sequence)
    form = SequenceForm(request.POST, instance=sequence, user=user)
    step_forms = [
        StepForm(request.POST, prefix=f"step-{index}", user=user)
        for index in range(len(_raw_steps(request.POST)))
    ]
    # The ModelForm's own save is not used: the service writes.
    if sequence is not None:
        form.instance = Sequence.objects.get(pk=sequence.pk)
    saved = _save(request, form, step_forms, sequence)
    if saved is None:
        return _render_editor(request, form, step_forms, sequence, status=INVALID)
    messages.success(request, f"Saved the sequence “{saved}”.")
    return redirect("sequences:detail", saved.pk)


@login_required
@require_http_methods(["GET", "POST"])
def sequence_create(request):
    access.require(request.user, Action.CREATE, Sequence)
    return _editor(request)


@login_required
@require_http_methods(["GET", "POST"])
def sequence_edit(request, pk: int):
    sequence = _sequence(request, pk)
    access.require(request.user, Action.CHANGE, sequence)
    return _editor(request, sequence)


@login_required
@require_http_methods(["GET", "POST"])
def sequence_delete(request, pk: int):
    sequence = _sequence(request, pk)
    access.require(request.user, Action.DELETE, sequence)
    if request.method == "POST":
        name = str(sequence)
        services.delete_sequence(actor=request.user, sequence=sequence)
        messages.success(request, f"Deleted the sequence “{name}”.")
        return redirect("sequences:list")
    return render(request, "sequences/sequence_delete.html", {"sequence": sequence})


# -- the detail ----------------------------------------------------------------------------------


@login_required
@require_GET
def sequence_detail(request, pk: int):
    sequence = _sequence(request, pk)
    steps = list(sequence.steps.select_related("template"))
    step_rows = list(zip(steps, figures.for_steps(sequence), strict=True))
    enrollments = (
        Enrollment.objects.visible_to(request.user)
        .filter(sequence=sequence)
        .select_related("contact", "enrolled_by")
        .prefetch_related("runs")
    )
    status = request.GET.get("status", "")
    if status not in EnrollmentStatus.values:
        status = ""
    if status:
        enrollments = enrollments.filter(status=status)
    page = Paginator(enrollments, ENROLLMENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "sequences/sequence_detail.html",
        {
            "sequence": sequence,
            "figures": figures.for_sequence(sequence),
            "step_rows": step_rows,
            "page": page,
            "status": status,
            "status_choices": EnrollmentStatus.choices,
            "may_change": access.can(request.user, Action.CHANGE, sequence),
        },
    )


def _back(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@login_required
@require_POST
def enrollment_action(request, pk: int, verb: str):
    enrollment = get_object_or_404(
        Enrollment.objects.visible_to(request.user).select_related("contact", "sequence"), pk=pk
    )
    service = {
        "pause": services.pause_enrollment,
        "resume": services.resume_enrollment,
        "stop": services.stop_enrollment,
    }.get(verb)
    if service is None:
        raise PermissionDenied("Unknown action.")
    try:
        service(actor=request.user, enrollment=enrollment)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        done = {"pause": "Paused", "resume": "Resumed", "stop": "Stopped"}[verb]
        messages.success(request, f"{done}: {enrollment.contact} in “{enrollment.sequence}”.")
    return redirect(_back(request, reverse("sequences:detail", args=[enrollment.sequence_id])))


@login_required
@require_POST
def enroll_contact(request, contact_pk: int):
    contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_pk)
    fallback = reverse("contacts:contact_detail", args=[contact.pk])
    chosen = request.POST.get("sequence") or ""
    sequence = None
    if chosen.isdigit() and len(chosen) < 19:
        sequence = Sequence.objects.visible_to(request.user).filter(pk=int(chosen)).first()
    if sequence is None:
        messages.error(request, "Sequence: choose a sequence you may use.")
        return redirect(_back(request, fallback))
    mailbox = None
    picked = request.POST.get("mailbox") or ""
    if picked.isdigit() and len(picked) < 19:
        mailbox = Mailbox.objects.usable_by(request.user).filter(pk=int(picked)).first()
    try:
        enrollment = services.enroll_contact(
            actor=request.user, sequence=sequence, contact=contact, mailbox=mailbox
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"Enrolled {contact} in “{sequence}”; the first step is due {_when(enrollment)}.",
        )
    return redirect(_back(request, fallback))


def _when(enrollment) -> str:
    zone = scheduling.zone_named(enrollment.time_zone)
    local = enrollment.next_due_at.astimezone(zone) if zone else enrollment.next_due_at
    return f"{local:%a %d %b %H:%M} ({enrollment.time_zone})"
