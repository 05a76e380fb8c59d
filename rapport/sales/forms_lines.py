"""The forms of a deal's product lines. They parse input; `sales.services.deal_lines` validates
and writes, and its errors are put back beside the fields (`forms.add_service_errors`)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse_lazy

from rapport.core.ids import id_from_text
from rapport.core.widgets import RecordPicker
from rapport.sales.services.deal_lines import MAX_QUANTITY, product_model


def _product_label(pk: int) -> str:
    product = product_model().objects.filter(pk=pk).only("name").first()
    return product.name if product else ""


class LineValuesForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1)
    unit_price = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text="Before the discount; empty for the list price.",
    )
    discount = forms.DecimalField(
        label="Discount %", required=False, min_value=0, max_value=100, decimal_places=2
    )

    def values(self) -> dict:
        data = self.cleaned_data
        values = {"quantity": data["quantity"], "discount": data.get("discount") or 0}
        if data.get("unit_price") is not None:
            values["unit_price"] = data["unit_price"]
        return values


class DealLineForm(LineValuesForm):
    """A new line: a product of the catalogue picked by name or SKU with type-ahead."""

    product = forms.CharField(
        max_length=200,
        widget=RecordPicker(
            suggest_url=reverse_lazy("commerce:product_suggestions"),
            label_for=_product_label,
            attrs={"placeholder": "Type a product name or SKU"},
        ),
    )
    field_order = ["product", "quantity", "unit_price", "discount"]

    def clean_product(self):
        """The picker posts the product's id; without JavaScript the typed text must be a
        product's exact name or SKU."""
        value = self.cleaned_data["product"].strip()
        products = product_model().objects.active()
        if (product_id := id_from_text(value)) is not None:
            found = products.filter(pk=product_id).first()
        else:
            found = products.filter(Q(name__iexact=value) | Q(sku__iexact=value)).first()
        if found is None:
            raise ValidationError("No product of the catalogue has this name or SKU.")
        return found

    def values(self) -> dict:
        return {"product": self.cleaned_data["product"], **super().values()}
