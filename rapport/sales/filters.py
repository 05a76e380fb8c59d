"""The leads list's filter, shared by the list page and the bulk actions' "all that match".

Both hand over the raw query parameters (a QueryDict, or a dict of lists from a bulk filter);
`filter_leads` turns them into the actor's leads, or a ValidationError keyed by the parameter's
name (a message beside the filter on the page, a 422 naming it in the API). An ignored bad value
would widen what a bulk action takes, so every bad value is refused, none skipped. Parameters it
does not know are left alone (pagination, sort, HTMX flags).

Leads take: view (`mine`, `unassigned` or `all`; anything else, or nothing, is `mine`), stage,
source, min_score, max_score and q.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError

from rapport.contacts.choices import LEAD_STAGES, ContactSource, LifecycleStage
from rapport.sales.querysets import leads_visible_to

LEAD_VIEWS = ("mine", "unassigned", "all")
DEFAULT_VIEW = "mine"
MAX_TEXT = 200
# Scores are small integers; ten digits would already overflow the column.
MAX_SCORE_DIGITS = 9


def _last(params: Mapping, name: str) -> str:
    """The last value given for `name`, stripped ("" when none): a list's own links and forms
    may repeat a parameter, and the latest one is what the user chose."""
    if hasattr(params, "getlist"):
        values = params.getlist(name)
    else:
        value = params.get(name)
        values = [] if value is None else value if isinstance(value, list | tuple) else [value]
    return str(values[-1]).strip() if values else ""


def lead_view(params: Mapping) -> str:
    """Which leads the list shows: mine by default, and for a view it does not know."""
    view = _last(params, "view")
    return view if view in LEAD_VIEWS else DEFAULT_VIEW


def _score(params: Mapping, name: str, errors: dict) -> int | None:
    text = _last(params, name)
    if not text:
        return None
    digits = text.removeprefix("-")
    # ASCII only: "²" is a digit to isdigit() but not to int().
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_SCORE_DIGITS:
        errors.setdefault(name, []).append("Give a whole number.")
        return None
    return int(text)


def filter_leads(actor, params: Mapping):
    """The leads `actor` may see that `params` ask for (see the module docstring).

    Raises ValidationError keyed by the parameter name; every bad parameter is reported.
    """
    errors: dict[str, list[str]] = {}
    leads = leads_visible_to(actor)
    view = lead_view(params)
    if view == "mine":
        leads = leads.filter(owner_id=actor.pk)
    elif view == "unassigned":
        leads = leads.filter(owner__isnull=True)
    stage = _last(params, "stage")
    if stage:
        if stage in LEAD_STAGES:
            leads = leads.filter(lifecycle_stage=stage)
        else:
            labels = ", ".join(LifecycleStage(s).label for s in LEAD_STAGES)
            errors["stage"] = [f"Choose a lead stage: {labels}."]
    source = _last(params, "source")
    if source:
        if source in ContactSource.values:
            leads = leads.filter(source=source)
        else:
            errors["source"] = ["Choose one of the sources offered."]
    min_score = _score(params, "min_score", errors)
    if min_score is not None:
        leads = leads.filter(lead_score__score__gte=min_score)
    max_score = _score(params, "max_score", errors)
    if max_score is not None:
        leads = leads.filter(lead_score__score__lte=max_score)
    query = _last(params, "q")[:MAX_TEXT]
    if query:
        leads = leads.search(query)
    if errors:
        raise ValidationError(errors)
    return leads
