"""Orders, products and shops in the web UI. Thin: scoped reads, services for writes."""

from __future__ import annotations

import re

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from rapport.accounts import access
from rapport.accounts.access import can_write
from rapport.commerce import services
from rapport.commerce.choices import STATUS_TRANSITIONS, OrderKind, OrderStatus
from rapport.commerce.forms import OrderForm, ProductForm, ShopForm, posted_lines
from rapport.commerce.models import Order, OrderLine, Product, Shop
from rapport.contacts.models import Contact, Organization
from rapport.core.htmx import render_page_or_fragment
from rapport.core.ids import id_from_text
from rapport.core.pagination import CursorError, keyset_page

PAGE_SIZE = 50


def _require_write(request) -> None:
    access.require_write(request.user)


def _require_admin(request) -> None:
    access.require_admin(request.user)


# --------------------------------------------------------------------------- orders


@login_required
@require_GET
def order_list(request):
    """Orders in the user's access, newest first, filtered by customer and status."""
    orders = (
        Order.objects.visible_to(request.user)
        .select_related("contact", "organization")
        .annotate(line_count=Count("lines"))
    )
    params = {}
    contact = organization = None
    if (contact_id := id_from_text(request.GET.get("contact"))) is not None:
        contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_id)
        orders = orders.filter(contact=contact)
        params["contact"] = contact_id
    if (organization_id := id_from_text(request.GET.get("organization"))) is not None:
        organization = get_object_or_404(
            Organization.objects.visible_to(request.user), pk=organization_id
        )
        orders = orders.filter(organization=organization)
        params["organization"] = organization_id
    status = request.GET.get("status") or ""
    if status in OrderStatus.values:
        orders = orders.filter(status=status)
        params["status"] = status
    try:
        page = keyset_page(
            orders,
            order_field="ordered_at",
            descending=True,
            cursor=request.GET.get("after") or None,
            limit=PAGE_SIZE,
        )
    except CursorError:
        page = keyset_page(
            orders, order_field="ordered_at", descending=True, cursor=None, limit=PAGE_SIZE
        )
    return render_page_or_fragment(
        request,
        "commerce/order_list.html",
        "commerce/_order_results.html",
        {
            "page": page,
            "params": params,
            "statuses": OrderStatus.choices,
            "contact": contact,
            "organization": organization,
            "can_write": can_write(request.user),
        },
    )


@login_required
@require_GET
def order_detail(request, pk):
    order = get_object_or_404(
        Order.objects.visible_to(request.user)
        .select_related("contact", "organization", "shop")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.select_related("product"))),
        pk=pk,
    )
    transitions = sorted(STATUS_TRANSITIONS[OrderStatus(order.status)])
    deal_visible = False
    if order.kind == OrderKind.DEAL:
        # A won deal's order follows its deal; only a refund is recorded here.
        transitions = [value for value in transitions if value == OrderStatus.REFUNDED]
        # The customer's owner may see the order without seeing the deal: link it only when
        # the deal would open (sales is named through the app registry: commerce sits below).
        deals = apps.get_model("sales", "Deal").objects.visible_to(request.user)
        deal_visible = deals.filter(pk=order.deal_id).exists()
    return render(
        request,
        "commerce/order_detail.html",
        {
            "order": order,
            "transitions": [(value, OrderStatus(value).label) for value in transitions],
            "deal_visible": deal_visible,
            "can_write": can_write(request.user),
        },
    )


def _order_form_page(request, form, rows, customer, status=200, general_errors=None):
    return render(
        request,
        "commerce/order_form.html",
        {
            "form": form,
            "rows": rows or [{"key": "0", "sku": "", "quantity": "1", "unit_price": ""}],
            "customer": customer,
            "products": Product.objects.active().order_by("name")[:500],
            "general_errors": general_errors or {},
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request):
    """Record an order by hand for a contact or organization (opened from its 360° page)."""
    _require_write(request)
    source = request.POST if request.method == "POST" else request.GET
    contact = organization = None
    if (contact_id := id_from_text(source.get("contact"))) is not None:
        contact = get_object_or_404(Contact.objects.visible_to(request.user), pk=contact_id)
    if (organization_id := id_from_text(source.get("organization"))) is not None:
        organization = get_object_or_404(
            Organization.objects.visible_to(request.user), pk=organization_id
        )
    customer = contact or organization
    if customer is None:
        messages.info(request, "Open a contact or organization and add the order from there.")
        return redirect("commerce:order_list")
    if request.method == "GET":
        form = OrderForm(
            initial={
                "contact": contact.pk if contact else None,
                "organization": organization.pk if organization else None,
                "status": OrderStatus.PAID,
            }
        )
        return _order_form_page(request, form, None, customer)
    form = OrderForm(request.POST)
    lines, rows = posted_lines(request.POST)
    if not form.is_valid():
        return _order_form_page(request, form, rows, customer, status=422)
    data = form.cleaned_data
    try:
        order = services.place_order(
            actor=request.user,
            contact=contact,
            organization=organization,
            ordered_at=data["ordered_at"],
            status=data["status"],
            currency=data["currency"] or None,
            lines=lines or None,
            total=data["total"],
            note=data["note"],
        )
    except ValidationError as exc:
        leftovers = {
            _line_label(name): errors for name, errors in form.add_service_errors(exc).items()
        }
        return _order_form_page(request, form, rows, customer, status=422, general_errors=leftovers)
    messages.success(request, f"Order {order.reference} recorded.")
    return redirect(order)


def _line_label(name: str) -> str:
    """'lines[1].sku' -> 'Line 2, SKU': the error list names the row a person sees."""
    match = re.fullmatch(r"lines\[(\d+)\](?:\.(\w+))?", name)
    if not match:
        return name
    column = {"sku": "SKU", "product_id": "product", "unit_price": "unit price"}.get(
        match.group(2) or "", (match.group(2) or "").replace("_", " ")
    )
    return f"Line {int(match.group(1)) + 1}" + (f", {column}" if column else "")


@login_required
@require_POST
def order_status(request, pk):
    order = get_object_or_404(Order.objects.visible_to(request.user), pk=pk)
    _require_write(request)
    try:
        services.set_order_status(
            actor=request.user, order=order, status=request.POST.get("status", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    else:
        messages.success(request, "Status changed.")
    return redirect(order)


@login_required
@require_POST
def order_delete(request, pk):
    order = get_object_or_404(Order.objects.visible_to(request.user), pk=pk)
    _require_write(request)
    target = order.contact or order.organization
    services.delete_order(actor=request.user, order=order)
    messages.success(request, "Order deleted.")
    return redirect(target) if target else redirect("commerce:order_list")


# --------------------------------------------------------------------------- products


@login_required
@require_GET
def product_list(request):
    query = (request.GET.get("q") or "").strip()[:100]
    products = Product.objects.search(query).annotate(lines_sold=Count("order_lines"))
    try:
        page = keyset_page(
            products, order_field="name", cursor=request.GET.get("after") or None, limit=PAGE_SIZE
        )
    except CursorError:
        page = keyset_page(products, order_field="name", cursor=None, limit=PAGE_SIZE)
    return render_page_or_fragment(
        request,
        "commerce/product_list.html",
        "commerce/_product_results.html",
        {"page": page, "q": query, "can_write": can_write(request.user)},
    )


@login_required
@require_GET
def product_detail(request, pk):
    product = get_object_or_404(Product, pk=pk)
    return render(
        request,
        "commerce/product_detail.html",
        {"product": product, "can_write": can_write(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def product_create(request):
    _require_write(request)
    form = ProductForm(request.POST or None, initial={"currency": services.business_currency()})
    if request.method == "POST" and form.is_valid():
        try:
            product = services.create_product(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Product “{product.name}” added.")
            return redirect(product)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "commerce/product_form.html", {"form": form, "product": None}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request, pk):
    _require_write(request)
    product = get_object_or_404(Product, pk=pk)
    form = ProductForm(request.POST or None, instance=Product.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            product = services.update_product(
                actor=request.user, product=product, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Product “{product.name}” saved.")
            return redirect(product)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "commerce/product_form.html", {"form": form, "product": product}, status=status
    )


# --------------------------------------------------------------------------- shops


@login_required
@require_http_methods(["GET", "POST"])
def shop_list(request):
    """Administrators register shops; a new shop's secret is shown once, here."""
    _require_admin(request)
    form = ShopForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.create_shop(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            form = ShopForm()
    status = 422 if request.method == "POST" and created is None else 200
    return render(
        request,
        "commerce/shop_list.html",
        {
            "shops": Shop.objects.all(),
            "form": form,
            "revealed": created,
            "webhook_base": request.build_absolute_uri("/api/v1/webhooks/shops/"),
        },
        status=status,
    )


@login_required
@require_POST
def shop_rotate(request, pk):
    _require_admin(request)
    shop = services.rotate_shop_secret(actor=request.user, shop=get_object_or_404(Shop, pk=pk))
    return render(
        request,
        "commerce/shop_list.html",
        {
            "shops": Shop.objects.all(),
            "form": ShopForm(),
            "revealed": shop,
            "webhook_base": request.build_absolute_uri("/api/v1/webhooks/shops/"),
        },
    )


@login_required
@require_POST
def shop_toggle(request, pk):
    _require_admin(request)
    shop = get_object_or_404(Shop, pk=pk)
    services.set_shop_active(actor=request.user, shop=shop, is_active=not shop.is_active)
    messages.success(request, f"Shop “{shop.name}” {'enabled' if shop.is_active else 'disabled'}.")
    return redirect("commerce:shop_list")


SUGGESTIONS = 8


@login_required
@require_GET
def product_suggestions(request):
    """Active products matching a few letters of their name or SKU, for the type-ahead product
    pickers (`core.widgets.RecordPicker`): JSON `[{"id", "label", "detail"}]`. The catalogue is
    open to everyone signed in, like the product list."""
    text = (request.GET.get("q") or "").strip()[:100]
    products = []
    if len(text) >= 2:
        products = Product.objects.active().search(text).order_by("name", "pk")[:SUGGESTIONS]
    response = JsonResponse(
        [
            {"id": p.pk, "label": p.name, "detail": f"{p.sku} · {p.price} {p.currency}"}
            for p in products
        ],
        safe=False,
    )
    response["Cache-Control"] = "private, no-store"
    return response
