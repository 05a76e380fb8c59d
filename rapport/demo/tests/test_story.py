"""The demo tells one story: a B2B software vendor whose deals, prices, win rates, sales cycles,
stalled deals, orders and customers' names fit together (issue 15)."""

import io
import itertools
import statistics

import pytest
from django.core.management import call_command
from django.utils import timezone

from rapport.accounts.models import User
from rapport.commerce.models import Order, OrderLine, Product
from rapport.contacts.models import Contact, Organization
from rapport.demo import mail as demo_mail
from rapport.demo import vocabulary as words
from rapport.interactions.models import Interaction
from rapport.mail.models import (
    EmailMessage,
    EmailTemplate,
    Mailbox,
    Participant,
    TrackingEvent,
)
from rapport.mail.sink import read_delivered
from rapport.mail.templating import render_for
from rapport.sales import reports
from rapport.sales.models import Deal, Pipeline, SalesSettings, Task

pytestmark = pytest.mark.django_db

CATALOGUE_NAMES = {name for _sku, name, _category, _price, _unit in words.CATALOGUE}
LIST_PRICE = {sku: price for sku, _name, _category, price, _unit in words.CATALOGUE}


@pytest.fixture
def demo(mail_sink_of_its_own):
    out = io.StringIO()
    call_command("demo", "--contacts", "150", "--seed", "5", "--no-progress", stdout=out)
    assert "Demo ready" in out.getvalue()
    return User.objects.get(username="demo")


def test_the_demo_tells_one_story(demo, mail_sink_of_its_own):
    # One build, several properties: building the demo is the expensive part.
    _win_rate_and_lost_reasons(demo)
    _stalled_share(demo)
    _only_catalogue_products(demo)
    _company_names()
    _deal_dates_in_order()
    _cycles_grow_with_size()
    _won_deals_are_first_orders()
    _read_only_users_own_nothing()
    _quotas()
    _mail(mail_sink_of_its_own)


def _quotas():
    from rapport.sales.models import Quota

    month = timezone.localdate().replace(day=1)
    current = Quota.objects.filter(period_start=month, user__isnull=False)
    assert current.exists()
    assert not current.filter(user__role__is_read_only=True).exists()
    assert Quota.objects.filter(team__isnull=False).exists()
    assert min(current.values_list("amount", flat=True)) >= 5_000
    from rapport.reports.models import Dashboard

    # The role dashboards exist before anyone opens Home, with their quota widgets.
    manager = Dashboard.objects.get(key="manager")
    assert manager.widgets.filter(list_key="quota_attainment").exists()


def _win_rate_and_lost_reasons(admin):
    report = reports.pipeline_report(Pipeline.objects.get(name="New business"), admin)
    assert 0.20 <= report["win_rate"] <= 0.35, (report["won"], report["lost"])
    lost = Deal.objects.filter(status="lost")
    assert lost.exists() and not lost.filter(lost_reason__isnull=True).exists()
    # Lost for more than one reason, as in life.
    assert lost.values("lost_reason").distinct().count() >= 3


def _stalled_share(admin):
    stalled = open_count = 0
    for pipeline in Pipeline.objects.all():
        report = reports.pipeline_report(pipeline, admin)
        stalled += report["stalled_count"]
        open_count += report["open_count"]
    assert open_count >= 10
    assert 0.10 <= stalled / open_count <= 0.35, (stalled, open_count)


def _only_catalogue_products(admin):
    assert set(Product.objects.values_list("name", flat=True)) == CATALOGUE_NAMES
    for products in Deal.objects.values_list("products", flat=True):
        assert products and set(products) <= CATALOGUE_NAMES, products
    lines = OrderLine.objects.select_related("product")
    assert lines.exists()
    assert not lines.filter(product__isnull=True).exists()
    # Sold at the list price or a discount (volume, negotiation), never above it nor for less
    # than half. (A few cents over: the rounding of a split order total.)
    for line in lines:
        ratio = float(line.unit_price) / LIST_PRICE[line.product.sku]
        assert 0.5 <= ratio <= 1.01, (line.product.sku, line.unit_price)
    amounts = sorted(float(a) for a in Deal.objects.values_list("amount", flat=True))
    assert amounts[0] >= 180
    assert 2_000 <= statistics.median(amounts) <= 60_000


def _company_names():
    surnames_only = []
    every_form = [form for forms in words.ORG_FORMS.values() for form, _weight in forms]
    for name, country in Organization.objects.values_list("name", "country"):
        # Companies a web form named have no country: any legal form will do for those.
        forms = [form for form, _weight in words.ORG_FORMS.get(country, [])] or every_form
        if len(name.split()) < 2 or not any(name.endswith(f" {form}") for form in forms):
            surnames_only.append(name)
    assert surnames_only == []
    names = list(Organization.objects.values_list("name", flat=True))
    # The duplicates part plants a few misspelt twins; the generated names are unique.
    assert len(set(names)) >= len(names) * 0.9


def _deal_dates_in_order():
    now = timezone.now()
    for deal in Deal.objects.prefetch_related("stage_changes"):
        changes = sorted(deal.stage_changes.all(), key=lambda c: (c.changed_at, c.id))
        assert changes[0].from_stage is None
        assert deal.created_at <= changes[0].changed_at + timezone.timedelta(seconds=1)
        for earlier, later in itertools.pairwise(changes):
            assert earlier.changed_at <= later.changed_at
            assert later.from_stage_id == earlier.to_stage_id
        assert changes[-1].to_stage_id == deal.stage_id
        assert changes[-1].changed_at == deal.stage_entered_at <= now
        if deal.status != "open":
            assert deal.closed_at == changes[-1].changed_at
            assert deal.created_at <= deal.closed_at <= now
        else:
            assert deal.closed_at is None
            assert deal.expected_close_date >= timezone.localdate()


def _cycles_grow_with_size():
    cycles: dict[str, list[float]] = {"small": [], "large": []}
    for deal in Deal.objects.filter(status="won", pipeline__name="New business").select_related(
        "organization"
    ):
        days = (deal.closed_at - deal.created_at).total_seconds() / 86400
        assert 1 <= days <= 200, (deal.name, days)
        size = deal.organization.size if deal.organization else "1-10"
        cycles["large" if size in ("201-1000", "1001+") else "small"].append(days)
    assert cycles["small"] and cycles["large"]
    assert statistics.median(cycles["large"]) > statistics.median(cycles["small"])


def _won_deals_are_first_orders():
    won = Deal.objects.filter(status="won", pipeline__name="New business").exclude(contact=None)
    assert won.exists()
    for deal in won:
        first = Order.objects.filter(contact=deal.contact).order_by("ordered_at", "id").first()
        assert first is not None, deal.name
        assert first.total == deal.amount
        assert first.ordered_at == deal.closed_at
        # Winning the deal wrote that order, with the deal's product lines.
        assert (first.kind, first.deal_id) == ("deal", deal.pk)
        assert first.lines.count() == deal.lines.count() > 0


def _read_only_users_own_nothing():
    read_only = [user.pk for user in User.objects.all() if user.is_read_only]
    assert read_only  # the manager and the read-only seat exist
    assert not Contact.objects.filter(owner__in=read_only).exists()
    assert not Organization.objects.filter(owner__in=read_only).exists()
    assert not Deal.objects.filter(owner__in=read_only).exists()
    assert not Task.objects.filter(assignee__in=read_only).exists()
    fallback = SalesSettings.objects.get(pk=1).fallback_owner
    assert fallback is None or not fallback.is_read_only


def _mail(sink_directory):
    mailbox = Mailbox.objects.get(is_local_sink=True)
    assert mailbox.email_address == demo_mail.MAILBOX_ADDRESS
    # The team's templates, shared, each rendering for a real contact with its merge fields.
    templates = EmailTemplate.objects.filter(owner__isnull=True)
    assert set(templates.values_list("name", flat=True)) == {
        spec["name"] for spec in demo_mail.TEMPLATES.values()
    }
    someone = Contact.objects.exclude(first_name="").order_by("pk").first()
    for template in templates:
        rendered = render_for(
            subject=template.subject, body_html=template.body_html, contact=someone, mailbox=mailbox
        )
        assert f"Hello {someone.first_name}," in rendered.text
        assert "{{" not in rendered.subject + rendered.text

    received = EmailMessage.objects.filter(direction="inbound")
    filed = received.filter(triage_state="filed")
    assert filed.count() >= 30
    # Every received message from a contact is on that contact's timeline, dated as sent.
    for message in filed:
        entry = Interaction.objects.get(external_id=f"mail:{message.uuid}:{message.contact_id}")
        assert (entry.direction, entry.occurred_at) == ("inbound", message.occurred_at)
    # Unknown senders wait for a person; the newsletter is set aside by itself.
    assert received.filter(triage_state="pending").count() == len(demo_mail.UNKNOWN_SENDERS)
    assert received.filter(triage_state="ignored", contact__isnull=True).count() == 1

    sent = EmailMessage.objects.filter(direction="outbound")
    assert sent.count() >= 10
    assert set(sent.values_list("status", flat=True)) == {"sent"}
    delivered = read_delivered(sink_directory)
    assert sorted(d.message_id.strip("<>") for d in delivered) == sorted(
        sent.values_list("message_id", flat=True)
    )
    # Nothing goes to a contact without their email consent.
    recipients = Participant.objects.filter(message__in=sent).exclude(role="from")
    assert recipients.count() == sent.count()  # one recipient each, every one a contact
    for recipient in recipients.select_related("contact"):
        consent = recipient.contact.consents.get(channel="email")
        assert consent.status == "granted", recipient.email
    # Answers thread: a customer's reply points at our message, in its thread, marking it replied.
    ours = {message.message_id: message for message in sent}
    replies = [m for m in received if m.in_reply_to.strip("<>") in ours]
    assert replies
    for reply in replies:
        original = ours[reply.in_reply_to.strip("<>")]
        assert reply.thread_id == original.thread_id
        assert original.replied_at == reply.occurred_at >= original.occurred_at
    # Opens and clicks are the tracking service's own records, not numbers written in.
    for message in sent:
        events = TrackingEvent.objects.filter(message=message)
        assert message.open_count == events.filter(kind="open").count()
        assert message.click_count == events.filter(kind="click").count()
    assert sent.filter(open_count__gt=0).exists()
    assert sent.filter(click_count__gt=0, purpose="marketing").exists()
