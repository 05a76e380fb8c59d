"""My day (overdue, today, upcoming, quick complete), tasks and notifications."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from rapport.accounts.access import require_write
from rapport.contacts.models import Contact, Organization
from rapport.core.htmx import is_htmx
from rapport.core.ids import id_from_text
from rapport.sales.forms import QuickTaskForm, TaskForm, add_service_errors, default_due
from rapport.sales.models import Deal, Notification, Task
from rapport.sales.services import work

UPCOMING_DAYS = 7


def _day_bounds():
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now, start, start + dt.timedelta(days=1)


@login_required
def my_day(request):
    """What is due: overdue, today, the next week; tasks handed to others; unread messages."""
    now, start, end = _day_bounds()
    mine = (
        Task.objects.assigned_to(request.user)
        .select_related("contact", "organization", "deal", "created_by")
        .order_by("due_at", "id")
    )
    open_tasks = mine.open()
    return render(
        request,
        "sales/work/my_day.html",
        {
            "now": now,
            "overdue": list(open_tasks.filter(due_at__lt=start)[:100]),
            "today": list(open_tasks.filter(due_at__gte=start, due_at__lt=end)),
            "upcoming": list(
                open_tasks.filter(
                    due_at__gte=end, due_at__lt=end + dt.timedelta(days=UPCOMING_DAYS)
                )[:100]
            ),
            "done_today": list(mine.filter(status="done", completed_at__gte=start)[:50]),
            "delegated": list(
                Task.objects.filter(created_by=request.user, status="open")
                .exclude(assignee=request.user)
                .select_related("assignee")
                .order_by("due_at")[:50]
            ),
            "notifications": list(Notification.objects.for_user(request.user).unread()[:10]),
            "unread_count": Notification.objects.for_user(request.user).unread().count(),
            "form": TaskForm(initial={"assignee": request.user.pk, "due_at": default_due()}),
        },
    )


def _related(request, form: TaskForm) -> dict:
    """The task's contact / organization / deal, each only if the user may see it."""
    data = form.cleaned_data
    related = {}
    for name, queryset in (
        ("contact", Contact.objects.visible_to(request.user)),
        ("organization", Organization.objects.visible_to(request.user)),
        ("deal", Deal.objects.visible_to(request.user)),
    ):
        if data.get(name):
            record = queryset.filter(pk=data[name]).first()
            if record is None:
                raise ValidationError({"__all__": [f"The {name} is outside your access."]})
            related[name] = record
    return related


def _next(request, default: str) -> str:
    """A page of this site to go back to; anything else (another host, "/\\host") is ignored."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
@require_POST
def task_quick_add(request):
    """A task in two fields from a 360° or deal page: what, and when (for me)."""
    form = QuickTaskForm(request.POST)
    back = _next(request, "/sales/my-day/")
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect(back)
    data = form.cleaned_data
    try:
        task = work.create_task(
            actor=request.user,
            title=data["title"],
            due_at=form.due_at(),
            assignee=request.user,
            **_related(request, form),
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"Task “{task.title}” added for you.")
    return redirect(back)


@login_required
def task_create(request):
    """A task for me or anyone (a hand-off); linked to a contact, organization or deal."""
    require_write(request.user)
    initial = {"assignee": request.user.pk, "due_at": default_due()}
    for name in ("contact", "organization", "deal"):
        if (record_id := id_from_text(request.GET.get(name))) is not None:
            initial[name] = record_id
    form = TaskForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = work.create_task(
                actor=request.user,
                title=data["title"],
                due_at=data["due_at"],
                priority=data["priority"],
                assignee=data["assignee"],
                description=data["description"],
                remind_at=data["remind_at"],
                **_related(request, form),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            who = "you" if task.assignee_id == request.user.pk else str(task.assignee)
            messages.success(request, f"Task “{task.title}” added for {who}.")
            return redirect(_next(request, "/sales/my-day/"))
    return render(
        request,
        "sales/work/task_form.html",
        {"form": form, "task": None, "next": _next(request, "")},
        status=422 if form.errors else 200,
    )


def _task(user, task_id: int) -> Task:
    return get_object_or_404(
        Task.objects.visible_to(user).select_related("assignee", "contact", "organization", "deal"),
        pk=task_id,
    )


@login_required
def task_edit(request, task_id: int):
    task = _task(request.user, task_id)
    initial = {
        "title": task.title,
        "due_at": timezone.localtime(task.due_at),
        "priority": task.priority,
        "assignee": task.assignee_id,
        "remind_at": timezone.localtime(task.remind_at) if task.remind_at else None,
        "description": task.description,
        "contact": task.contact_id,
        "organization": task.organization_id,
        "deal": task.deal_id,
    }
    form = TaskForm(request.POST or None, initial=initial)
    if request.method == "POST":
        require_write(request.user)
        if request.POST.get("action") == "delete":
            work.delete_task(actor=request.user, task=task)
            messages.success(request, "Task deleted.")
            return redirect("sales:my_day")
        if form.is_valid():
            data = form.cleaned_data
            try:
                work.update_task(
                    actor=request.user,
                    task=task,
                    title=data["title"],
                    due_at=data["due_at"],
                    priority=data["priority"],
                    assignee=data["assignee"],
                    description=data["description"],
                    remind_at=data["remind_at"],
                    **_related(request, form),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Task saved.")
                return redirect(_next(request, "/sales/my-day/"))
    return render(
        request,
        "sales/work/task_form.html",
        {"form": form, "task": task, "next": _next(request, "")},
        status=422 if form.errors else 200,
    )


def _swapped_row(request, task):
    """The task's row in its new state. The event tells My day's header to fetch its counts
    again (a page without that header ignores it)."""
    response = render(request, "sales/work/_task_row.html", {"task": task, "now": timezone.now()})
    response["HX-Trigger"] = "tasks-changed"
    return response


@login_required
@require_POST
def task_complete(request, task_id: int):
    """Quick complete: htmx swaps the row for its done state; without htmx, back to the list."""
    require_write(request.user)
    task = work.complete_task(actor=request.user, task=_task(request.user, task_id))
    if is_htmx(request):
        return _swapped_row(request, task)
    messages.success(request, f"Done: {task.title}")
    return redirect(_next(request, "/sales/my-day/"))


@login_required
@require_POST
def task_reopen(request, task_id: int):
    require_write(request.user)
    task = work.reopen_task(actor=request.user, task=_task(request.user, task_id))
    if is_htmx(request):
        return _swapped_row(request, task)
    return redirect(_next(request, "/sales/my-day/"))


@login_required
def notifications(request):
    if request.method == "POST":
        count = work.mark_all_notifications_read(actor=request.user)
        messages.success(request, f"{count} notifications marked as read.")
        return redirect("sales:notifications")
    return render(
        request,
        "sales/work/notifications.html",
        {"notifications": Notification.objects.for_user(request.user)[:100]},
    )


@login_required
@require_POST
def notification_read(request, notification_id: int):
    notification = Notification.objects.for_user(request.user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404
    work.mark_notification_read(actor=request.user, notification=notification)
    target = notification.url if notification.url.startswith("/") else "/sales/notifications/"
    return redirect(target)
