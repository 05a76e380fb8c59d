"""`{% bulk_bar %}`: the selection bar any list includes (one line in its results template).

    {% load bulk %}{% bulk_bar "contacts" "contacts" count %}
    {% bulk_bar "contacts" "segment" count segment=segment.pk %}
    {% bulk_bar "leads" "leads" view=view %}   (no count: the tag counts the list's matches)

It shows nothing to someone who may not change records of the entity (a read-only seat), so
nobody meets a form that would end in 403. The list's current filter is its query string
(less the page and sort state) plus any keyword given; "select all N that match" sends that
filter, never ids.
"""

from __future__ import annotations

import re

from django import template
from django.core.exceptions import ValidationError
from django.http import QueryDict

from rapport.core import bulk
from rapport.core.bulk import LIST_STATE

register = template.Library()

MARKER = 999_999_937


@register.inclusion_tag("bulk/_selection_bar.html", takes_context=True)
def bulk_bar(context, entity_key: str, list_key: str, count=None, **filters):
    request = context.get("request")
    user = getattr(request, "user", None)
    kinds = bulk.entities()
    kind = kinds.get(entity_key)
    if request is None or kind is None or not kind.may_act(user):
        return {"show": False}
    query = QueryDict(mutable=True)
    for name, values in request.GET.lists():
        if name not in LIST_STATE:
            query.setlist(name, values)
    for name, value in filters.items():
        query[name] = str(value)
    if count is None:
        # A list that does not count its rows: count what "select all" would take.
        try:
            count = bulk.members_of_list(user, list_key, dict(query.lists()), entity_key).count()
        except ValidationError:
            count = None
    pattern = ""
    if kind.detail_url is not None:
        # The rows' links name their record: the script reads the ids from them.
        pattern = "^" + re.escape(kind.detail_url(MARKER)).replace(str(MARKER), r"(\d+)") + "$"
    return {
        "show": True,
        "kind": kind,
        "list_key": list_key,
        "count": count,
        "filter": query.urlencode(),
        "actions": bulk.actions_for(entity_key),
        "id_pattern": pattern,
        "csrf_token": context.get("csrf_token"),
    }
