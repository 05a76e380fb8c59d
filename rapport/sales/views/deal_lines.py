"""The product lines editor on the deal page. HTMX posts answer with the lines fragment (and the
deal's new amount, swapped out of band); without JavaScript the same posts redirect back to the
deal page, or render it with the messages beside the fields."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.core.htmx import is_htmx
from rapport.sales.forms import add_service_errors
from rapport.sales.forms_lines import DealLineForm, LineValuesForm
from rapport.sales.models import Deal, DealLine
from rapport.sales.services import deal_lines as services


def _deal(user, deal_id: int) -> Deal:
    return get_object_or_404(Deal.objects.visible_to(user), pk=deal_id)


def _deal_to_change(user, deal_id: int) -> Deal:
    """A deal the user sees (else 404) and may change (else 403, before any form is read)."""
    deal = _deal(user, deal_id)
    access.require(user, Action.CHANGE, deal)
    return deal


def _in_row(form: LineValuesForm, line: DealLine) -> None:
    # A row's inputs sit in table cells; the `form` attribute ties them to the row's form.
    for name, field in form.fields.items():
        field.widget.attrs["form"] = f"deal-line-{line.pk}"
        field.help_text = ""
        field.label = f"{field.label} of {line.product.name}"
        field.widget.attrs.setdefault("class", f"deal-line-{name}")


def lines_context(request, deal: Deal, *, form=None, row_forms=None) -> dict:
    """What `sales/deals/_lines.html` shows: the lines, their total, and for those who may
    change the deal the add form and each line's form (a failed one keeps its input)."""
    may_change = not deal.is_archived and access.can(request.user, Action.CHANGE, deal)
    row_forms = row_forms or {}
    lines = list(deal.lines.select_related("product").order_by("position", "id"))
    rows = []
    for line in lines:
        row_form = row_forms.get(line.pk)
        if row_form is None and may_change:
            row_form = LineValuesForm(
                initial={
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "discount": line.discount,
                },
                prefix=f"line-{line.pk}",
            )
        if row_form is not None:
            _in_row(row_form, line)
        rows.append({"line": line, "form": row_form})
    return {
        "deal": deal,
        "rows": rows,
        "may_change": may_change,
        "line_form": form if form is not None else (DealLineForm() if may_change else None),
    }


def _answer(request, deal: Deal, *, form=None, row_forms=None, failed: bool = False):
    deal.refresh_from_db(fields=["amount", "updated_at"])
    if is_htmx(request):
        response = render(
            request,
            "sales/deals/_lines_answer.html",
            lines_context(request, deal, form=form, row_forms=row_forms),
            status=422 if failed else 200,
        )
        patch_vary_headers(response, ["HX-Request"])
        return response
    if not failed:
        return redirect("sales:deal_detail", deal.pk)
    from rapport.sales.views.deals import render_deal

    return render_deal(
        request,
        deal,
        lines=lines_context(request, deal, form=form, row_forms=row_forms),
        status=422,
    )


@login_required
@require_GET
def deal_lines(request, deal_id: int):
    """The lines fragment alone (HTMX reloads it)."""
    deal = _deal(request.user, deal_id)
    return render(request, "sales/deals/_lines.html", lines_context(request, deal))


@login_required
@require_POST
def deal_line_add(request, deal_id: int):
    deal = _deal_to_change(request.user, deal_id)
    form = DealLineForm(request.POST)
    if form.is_valid():
        try:
            services.add_deal_line(actor=request.user, deal=deal, **form.values())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _answer(request, deal)
    return _answer(request, deal, form=form, failed=True)


def _line(deal: Deal, line_id: int) -> DealLine:
    return get_object_or_404(deal.lines.select_related("deal", "product"), pk=line_id)


@login_required
@require_POST
def deal_line_edit(request, deal_id: int, line_id: int):
    deal = _deal_to_change(request.user, deal_id)
    line = _line(deal, line_id)
    form = LineValuesForm(request.POST, prefix=f"line-{line.pk}")
    if form.is_valid():
        values = form.values()
        # An emptied unit price goes back to the product's list price.
        values.setdefault("unit_price", None)
        try:
            services.update_deal_line(actor=request.user, line=line, **values)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _answer(request, deal)
    return _answer(request, deal, row_forms={line.pk: form}, failed=True)


@login_required
@require_POST
def deal_line_remove(request, deal_id: int, line_id: int):
    deal = _deal_to_change(request.user, deal_id)
    services.remove_deal_line(actor=request.user, line=_line(deal, line_id))
    return _answer(request, deal)
