"""Forms of the commerce pages. They collect input; the services validate and write."""

from __future__ import annotations

from django import forms

from rapport.commerce.choices import OrderStatus
from rapport.commerce.models import Product


class ServiceErrorsMixin:
    """Place a service's ValidationError (keyed by field path) beside the matching fields."""

    def add_service_errors(self, exc) -> dict:
        leftovers = {}
        for name, messages in exc.message_dict.items():
            if name in self.fields:
                self.add_error(name, messages)
            else:
                leftovers[name] = messages
        return leftovers


class ProductForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = Product
        fields = ["name", "sku", "category", "price", "currency", "description", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def validate_unique(self):
        # The service checks SKU uniqueness and names the field; the model's constraint check
        # would only give a form-wide message.
        return


class OrderForm(ServiceErrorsMixin, forms.Form):
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    organization = forms.IntegerField(required=False, widget=forms.HiddenInput)
    ordered_at = forms.DateTimeField(
        label="Ordered at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty for now.",
    )
    status = forms.ChoiceField(choices=OrderStatus.choices, initial=OrderStatus.PAID)
    currency = forms.CharField(
        max_length=3, required=False, help_text="Empty for the business currency."
    )
    total = forms.DecimalField(
        required=False,
        max_digits=14,
        decimal_places=2,
        help_text="Only for an order without lines.",
    )
    note = forms.CharField(max_length=500, required=False)


class ShopForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=100)
    key = forms.SlugField(max_length=50, help_text="Part of the webhook URL, e.g. web-shop.")
    default_currency = forms.CharField(max_length=3, required=False)


def posted_lines(data) -> tuple[list[dict], list[dict]]:
    """The order lines of a posted form (rows named lines-<key>-sku/quantity/unit_price).

    Returns (lines for the service, rows for re-rendering the form). Blank rows are skipped.
    """
    keys = []
    for name in data:
        if name.startswith("lines-") and name.endswith("-sku"):
            keys.append(name[len("lines-") : -len("-sku")])
    lines, rows = [], []
    for key in keys[:500]:
        sku = (data.get(f"lines-{key}-sku") or "").strip()
        quantity = (data.get(f"lines-{key}-quantity") or "").strip()
        unit_price = (data.get(f"lines-{key}-unit_price") or "").strip()
        rows.append({"key": key, "sku": sku, "quantity": quantity, "unit_price": unit_price})
        if not (sku or unit_price):
            continue
        line = {"sku": sku, "quantity": int(quantity) if quantity.isdigit() else quantity or 1}
        if unit_price:
            line["unit_price"] = unit_price
        lines.append(line)
    return lines, rows
