"""Importing orders: rows of one order id are one order, re-runs add nothing, errors name the
column, dry runs write nothing, undo takes the orders away."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from rapport.commerce.models import Order, OrderLine
from rapport.commerce.tests.factories import make_order, make_product
from rapport.contacts.models import Contact, ExternalId
from rapport.contacts.tests.factories import make_contact
from rapport.core.importing import auto_map, get_importer
from rapport.data_exchange.choices import ImportStatus, RowAction
from rapport.data_exchange.forms import ImportUploadForm
from rapport.data_exchange.importing import jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Uploaded import files land in a fresh directory per test."""
    settings.MEDIA_ROOT = tmp_path / "media"


HEADER = ["Order ID", "Order Date", "Customer Email", "Status", "Currency", "SKU", "Qty", "Price"]


def orders_csv(rows, header=HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def import_orders(actor, rows, header=HEADER, **kwargs):
    upload = SimpleUploadedFile("orders.csv", orders_csv(rows, header), content_type="text/csv")
    job = jobs.create_import(actor=actor, entity="order", upload=upload, **kwargs)
    return jobs.run_import(job.pk)


@pytest.fixture
def shop(owner):
    ana = make_contact(
        actor=owner, owner=owner, first_name="Ana", last_name="Silva", emails=["ana@example.com"]
    )
    ben = make_contact(
        actor=owner, owner=owner, first_name="Ben", last_name="Okafor", emails=["ben@example.com"]
    )
    tea = make_product(actor=owner, name="Green tea", sku="TEA-01", price="29.90")
    pot = make_product(actor=owner, name="Tea pot", sku="POT-01", price="45.00")
    return {"ana": ana, "ben": ben, "tea": tea, "pot": pot}


ROWS = [
    ["1001", "2026-03-01", "ana@example.com", "paid", "EUR", "TEA-01", "2", "29.90"],
    ["1001", "2026-03-01", "ana@example.com", "paid", "EUR", "POT-01", "1", ""],
    ["1002", "2026-03-04", "BEN@example.com", "shipped", "EUR", "TEA-01", "1", "27.00"],
]


def test_headers_of_a_shop_export_are_recognised():
    mapping = auto_map(get_importer("order"), HEADER)
    assert mapping == {
        "Order ID": "order_id",
        "Order Date": "ordered_at",
        "Customer Email": "email",
        "Status": "status",
        "Currency": "currency",
        "SKU": "sku",
        "Qty": "quantity",
        "Price": "unit_price",
    }


def test_rows_of_one_order_id_make_one_order(owner, shop):
    job = import_orders(owner, ROWS)
    assert (job.status, job.created_count, job.error_count) == (ImportStatus.COMPLETED, 3, 0)
    first = Order.objects.get(external_id="1001")
    assert first.contact == shop["ana"] and first.source == "import"
    assert first.external_system == "import"
    assert first.total == Decimal("104.80")  # 2 × 29.90 + the pot at its catalogue price
    assert sorted(first.lines.values_list("product__sku", "quantity")) == [
        ("POT-01", 1),
        ("TEA-01", 2),
    ]
    second = Order.objects.get(external_id="1002")
    assert (second.contact, second.status, second.total) == (
        shop["ben"],
        "shipped",
        Decimal("27.00"),
    )
    assert set(job.rows.filter(row_number__in=[2, 3]).values_list("object_id", flat=True)) == {
        first.pk
    }


def test_an_order_split_across_batches_is_still_one_order(owner, shop):
    job = import_orders(owner, ROWS, batch_size=1)
    assert (job.created_count, job.error_count) == (3, 0)
    order = Order.objects.get(external_id="1001")
    assert order.lines.count() == 2 and order.total == Decimal("104.80")
    assert Order.objects.count() == 2


def test_importing_the_same_file_again_changes_nothing(owner, shop):
    import_orders(owner, ROWS)
    lines = OrderLine.objects.count()
    again = import_orders(owner, ROWS)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 3)
    assert Order.objects.count() == 2 and OrderLine.objects.count() == lines


def test_a_later_file_moves_a_status_forward_unless_told_to_skip(
    owner, shop, django_capture_on_commit_callbacks
):
    import_orders(owner, ROWS)
    refunded = [["1002", "2026-03-04", "ben@example.com", "refunded", "EUR", "TEA-01", "1", "27"]]
    skipped = import_orders(owner, refunded, policy="skip")
    assert skipped.skipped_count == 1
    assert Order.objects.get(external_id="1002").status == "shipped"
    updated = import_orders(owner, refunded, policy="overwrite")
    assert updated.updated_count == 1
    assert Order.objects.get(external_id="1002").status == "refunded"
    backwards = [["1002", "2026-03-04", "ben@example.com", "placed", "EUR", "TEA-01", "1", "27"]]
    refused = import_orders(owner, backwards, policy="overwrite")
    error = refused.rows.get(action=RowAction.ERROR).errors[0]
    assert error["column"] == "Status" and "refunded order" in error["message"]
    # Undo puts the status the import moved back.
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=updated)
    assert Order.objects.get(external_id="1002").status == "shipped"


def test_row_errors_name_the_column_and_good_rows_still_land(owner, shop):
    rows = [
        ["2001", "2026-03-01", "nobody@example.com", "paid", "EUR", "TEA-01", "1", ""],
        ["2002", "yesterday", "ana@example.com", "paid", "EUR", "TEA-01", "1", ""],
        ["2003", "2026-03-02", "ana@example.com", "paid", "EUR", "NOPE-9", "1", "5"],
        ["2003", "2026-03-02", "ana@example.com", "paid", "EUR", "TEA-01", "x", "5"],
        ["", "2026-03-02", "ana@example.com", "paid", "EUR", "TEA-01", "1", "5"],
        ["2004", "2026-03-02", "ana@example.com", "paid", "EUR", "TEA-01", "1", "5"],
    ]
    job = import_orders(owner, rows)
    assert (job.created_count, job.error_count) == (1, 5)
    assert list(Order.objects.values_list("external_id", flat=True)) == ["2004"]
    problems = {
        (row, column): message for row, column, _field, message, _value in jobs.error_rows(job)
    }
    assert "No contact has this email" in problems[2, "Customer Email"]
    assert (3, "Order Date") in problems
    assert problems[4, "SKU"] == "No product has this SKU."
    assert problems[5, "Qty"] == "Give a whole number."
    assert (6, "Order ID") in problems


def test_the_customer_is_found_by_their_id_in_the_files_system(owner, shop):
    ExternalId.objects.create(contact=shop["ben"], system="shopify", value="c-77")
    header = ["Order", "Date", "Customer", "Total", "Currency"]
    job = import_orders(
        owner,
        [["#5001", "2026-03-05T10:15:00Z", "c-77", "59.80", "EUR"]],
        header=header,
        options={"external_id_system": "shopify"},
    )
    assert job.created_count == 1, list(jobs.error_rows(job))
    order = Order.objects.get(external_system="shopify", external_id="#5001")
    assert (order.contact, order.total, order.lines.count()) == (shop["ben"], Decimal("59.80"), 0)


def test_an_order_the_webhook_recorded_is_not_imported_twice(owner, shop):
    make_order(contact=shop["ana"], external_system="import", external_id="1001", total="10.00")
    job = import_orders(owner, ROWS[:2])
    assert job.created_count == 0 and Order.objects.filter(external_id="1001").count() == 1


def test_dry_run_writes_nothing_and_counts_like_the_real_run(owner, shop):
    rows = [*ROWS, ["1003", "2026-03-05", "ana@example.com", "paid", "EUR", "NOPE-9", "1", "5"]]
    dry = import_orders(owner, rows, dry_run=True, batch_size=2)
    assert not Order.objects.exists()
    real = import_orders(owner, rows, batch_size=2)
    assert (dry.created_count, dry.error_count) == (real.created_count, real.error_count) == (3, 1)


def test_undo_removes_the_orders_the_import_created(
    owner, shop, django_capture_on_commit_callbacks
):
    kept = make_order(contact=shop["ben"], total="5.00")
    job = import_orders(owner, ROWS)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE and job.undo_report["deleted"] == 2
    assert list(Order.objects.all()) == [kept]


def test_orders_are_offered_on_the_import_page():
    choices = dict(ImportUploadForm().fields["entity"].choices)
    assert {"contact", "organization", "order"} <= set(choices)


def test_the_command_imports_orders(owner, shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(orders_csv(ROWS))
    out = io.StringIO()
    call_command("import", "orders", str(path), "--as", owner.username, stdout=out)
    assert "3 were created" in out.getvalue()
    assert Order.objects.count() == 2


def test_an_import_neither_writes_on_nor_reveals_customers_outside_the_access(
    owner, outsider, shop
):
    make_order(contact=shop["ana"], external_system="import", external_id="1001", total="10.00")
    job = import_orders(outsider, ROWS, policy="overwrite")
    assert job.created_count == 0
    problems = {(number, field): message for number, _c, field, message, _v in jobs.error_rows(job)}
    assert problems[2, "order_id"] == "This order exists and is outside your access."
    assert problems[4, "email"].startswith("No contact has this email")
    assert Order.objects.filter(contact=shop["ben"]).count() == 0
    assert Order.objects.get(external_id="1001").status == "paid"


def test_undo_keeps_an_order_now_outside_the_undoers_access(
    owner, outsider, shop, django_capture_on_commit_callbacks
):
    job = import_orders(owner, ROWS)
    # Ben's contact moves to another team after the import, without touching his order.
    Contact.objects.filter(pk=shop["ben"].pk).update(owner=outsider)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.undo_import(actor=owner, job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE
    assert (job.undo_report["deleted"], job.undo_report["kept_changed_since"]) == (1, 1)
    assert list(Order.objects.values_list("contact", flat=True)) == [shop["ben"].pk]
