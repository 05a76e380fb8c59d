"""The sales part of `rapport demo`: pipelines, deals with dated histories, leads from every
source, tasks and a lead model (or the reason there is none)."""

import io
import itertools

import pytest
from django.core.management import call_command

from rapport.contacts.models import Contact
from rapport.sales.models import (
    Deal,
    DealStageChange,
    LeadScore,
    LeadScoringModel,
    Pipeline,
    Task,
    WebFormSubmission,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    out = io.StringIO()
    call_command(
        "demo",
        "--contacts",
        "150",
        "--seed",
        "5",
        "--no-progress",
        "--parts",
        "people,sales",
        stdout=out,
    )
    return out.getvalue()


def test_the_sales_demo(demo):
    assert "Demo ready" in demo
    assert set(Pipeline.objects.values_list("name", flat=True)) == {
        "New business",
        "Renewals & upsell",
    }
    statuses = set(Deal.objects.values_list("status", flat=True))
    assert statuses == {"open", "won", "lost"}
    for deal in Deal.objects.filter(status="won").select_related("contact")[:20]:
        changes = list(deal.stage_changes.order_by("changed_at", "id"))
        assert changes[0].from_stage is None
        assert changes[-1].to_stage.kind == "won"
        assert all(a.changed_at <= b.changed_at for a, b in itertools.pairwise(changes))
        assert deal.contact.lifecycle_stage in {"customer", "loyal", "advocate", "churned"}
    lost = Deal.objects.filter(status="lost")
    assert lost.exists() and not lost.filter(lost_reason__isnull=True).exists()
    # histories reach back months, so analytics have something to measure
    oldest = DealStageChange.objects.order_by("changed_at").first().changed_at
    assert (Deal.objects.order_by("-stage_entered_at").first().stage_entered_at - oldest).days > 60
    sources = set(
        Contact.objects.filter(lifecycle_stage__in=["lead", "subscriber"]).values_list(
            "source", flat=True
        )
    )
    assert {
        "web_form",
        "trade_show",
        "api",
        "email",
        "campaign",
        "chat",
        "social",
        "referral",
        "import",
        "manual",
    } <= sources
    assert WebFormSubmission.objects.exists()
    assert Task.objects.filter(status="open").exists()
    assert Task.objects.filter(title__endswith="is considering an upgrade").exists()
    run = LeadScoringModel.objects.get(trigger="demo")
    assert run.status == "ready" or "rules carry the score" in run.message
    assert LeadScore.objects.count() >= Contact.objects.filter(lifecycle_stage="lead").count()
