"""The audit log (administrators) and the history panel on each 360° page.

The log is read newest first with keyset pagination, so the thousandth page costs what the
first does. Each row shows only the fields that changed, before → after.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode

from rapport.accounts.access import can_administer
from rapport.accounts.views import render_for_user, user_zone
from rapport.accounts.views_admin import administrator_required
from rapport.audit.models import ChangeAction, ChangeRecord
from rapport.audit.services import diff
from rapport.audit.wording import ChangeWords, record_kind
from rapport.core import formatting
from rapport.core.display import display_locale
from rapport.core.htmx import is_htmx
from rapport.core.pagination import CursorError, keyset_page

PAGE_SIZE = 50
HISTORY_SHOWN = 20
SYSTEM_ACTOR = "system"


def entity_choices() -> list[tuple[str, str]]:
    """Every Rapport model that may appear in the log, by its label ("contacts.contact")."""
    choices = [
        (
            model._meta.label_lower,
            f"{model._meta.app_config.verbose_name}: {model._meta.verbose_name}",
        )
        for model in apps.get_models()
        if model.__module__.startswith("rapport.")
    ]
    return sorted(choices, key=lambda item: item[1].lower())


def actor_choices() -> list[tuple[str, str]]:
    people = get_user_model().objects.order_by("first_name", "last_name", "username")
    return [
        ("", "Anyone"),
        (SYSTEM_ACTOR, "System (tasks, commands)"),
        *[(str(person.pk), str(person)) for person in people],
    ]


class ChangeFilterForm(forms.Form):
    actor = forms.ChoiceField(required=False, label="Who")
    entity = forms.ChoiceField(required=False, label="Record type")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *ChangeAction.choices], label="Action"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    object_id = forms.CharField(required=False, max_length=64, label="Record id")
    request_id = forms.CharField(required=False, max_length=64, label="Request or task id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = actor_choices()
        self.fields["entity"].choices = [("", "Any record type"), *entity_choices()]

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end is before the start.")
        return data


def filter_changes(queryset, data: dict, zone) -> object:
    """Apply the cleaned filters; dates are whole days in `zone`, both ends included."""
    if data.get("actor") == SYSTEM_ACTOR:
        queryset = queryset.filter(actor__isnull=True)
    elif data.get("actor"):
        queryset = queryset.filter(actor_id=int(data["actor"]))
    if data.get("entity"):
        queryset = queryset.filter(entity=data["entity"])
    if data.get("action"):
        queryset = queryset.filter(action=data["action"])
    if data.get("object_id"):
        queryset = queryset.filter(object_id=data["object_id"].strip())
    if data.get("request_id"):
        wanted = data["request_id"].strip()
        queryset = queryset.filter(Q(request_id=wanted) | Q(task_id=wanted))
    if data.get("date_from"):
        start = dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=zone)
        queryset = queryset.filter(occurred_at__gte=start)
    if data.get("date_to"):
        end = dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        queryset = queryset.filter(occurred_at__lt=end)
    return queryset


def _is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def change_rows(record: ChangeRecord, words: ChangeWords | None = None) -> list[dict]:
    """The fields this change touched, each with its label and its value before and after.

    A record that starts from nothing (a create) lists only the fields it actually set.
    """
    words = words or ChangeWords([record])
    recorded_before = record.before or {}
    before, after = diff(recorded_before, record.after or {})
    # The record's own id is already in the row; a create lists only what it set.
    keys = [
        key for key in before if key != "id" and not (not recorded_before and _is_empty(after[key]))
    ]
    return words.rows(record, before, after, keys)


def log_url(**filters) -> str:
    """The audit log with these filters applied."""
    query = urlencode({key: value for key, value in filters.items() if value not in ("", None)})
    return f"{reverse('audit:change_list')}?{query}" if query else reverse("audit:change_list")


@administrator_required
def change_list(request):
    """Every recorded change, newest first, filtered by who, what, when, record and request."""
    form = ChangeFilterForm(request.GET or None)
    records = ChangeRecord.objects.all()
    zone = user_zone(request.user)
    cursor_error = ""
    if form.is_bound and form.is_valid():
        records = filter_changes(records, form.cleaned_data, zone)
    elif form.is_bound:
        records = records.none()
    try:
        page = keyset_page(
            records,
            order_field="occurred_at",
            descending=True,
            cursor=request.GET.get("cursor") or None,
            limit=PAGE_SIZE,
        )
    except CursorError as exc:
        cursor_error = str(exc)
        page = keyset_page(
            records, order_field="occurred_at", descending=True, cursor=None, limit=PAGE_SIZE
        )
    query = request.GET.copy()
    query.pop("cursor", None)
    next_url = ""
    if page.next_cursor:
        query["cursor"] = page.next_cursor
        next_url = f"?{query.urlencode()}"
    words = ChangeWords(page.items, zone)
    context = {
        "form": form,
        "entries": [
            {
                "record": record,
                "rows": change_rows(record, words),
                "kind": record_kind(record.entity),
            }
            for record in page.items
        ],
        "next_url": next_url,
        "is_first_page": not request.GET.get("cursor") or bool(cursor_error),
        "first_url": "?" + urlencode({k: v for k, v in request.GET.items() if k != "cursor"}),
        "cursor_error": cursor_error,
        "zone_name": str(zone),
    }
    template = "audit/_change_rows.html" if is_htmx(request) else "audit/change_list.html"
    response = render_for_user(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _when(moment, zone) -> str:
    """ "Dec 7, 3:05 PM CET": the zone named, since the panel may render in another one."""
    local = timezone.localtime(moment, zone)
    today = timezone.localtime(timezone.now(), zone).date()
    return f"{formatting.format_moment(local, display_locale(), today)} {dateformat.format(local, 'T')}"


def history_panel_context(request, obj) -> dict | None:
    """The history panel of a contact's or organization's 360° page, for those who may see it.

    The record is looked up again through its own `visible_to(user)` so the panel stays closed
    even if a page forgets to check; administrators get a link to the full, filtered log.
    """
    user = getattr(request, "user", None)
    manager = type(obj)._default_manager
    if user is None or not hasattr(manager, "visible_to"):
        return None
    if not manager.visible_to(user).filter(pk=obj.pk).exists():
        return None
    entity = obj._meta.label_lower
    records = list(
        ChangeRecord.objects.filter(entity=entity, object_id=str(obj.pk)).order_by(
            "-occurred_at", "-id"
        )[: HISTORY_SHOWN + 1]
    )
    zone = user_zone(user)
    words = ChangeWords(records[:HISTORY_SHOWN], zone)
    entries = [
        {
            "record": record,
            # Pre-formatted: the page renders panels in its own time zone, not the reader's.
            "when": _when(record.occurred_at, zone),
            "rows": change_rows(record, words),
        }
        for record in records[:HISTORY_SHOWN]
    ]
    full_log = log_url(entity=entity, object_id=obj.pk) if can_administer(user) else ""
    return {
        "entries": entries,
        "has_more": len(records) > HISTORY_SHOWN,
        "full_log_url": full_log,
        "header_link": {"url": full_log, "label": "Full log"} if full_log else None,
    }
