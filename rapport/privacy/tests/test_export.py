import pytest
from django.core.exceptions import PermissionDenied

from rapport.accounts.tests.factories import RoleFactory, UserFactory
from rapport.audit.models import ChangeRecord
from rapport.privacy import services
from rapport.privacy.tests.conftest import EMAIL, PHONE

pytestmark = pytest.mark.django_db


def test_the_export_holds_everything_about_the_person(person, admin_user):
    document = services.export_contact(actor=admin_user, contact=person.contact)

    assert document["format"] == "rapport.subject-access-export/1"
    assert document["contact"]["id"] == person.contact.pk
    assert (document["contact"]["first_name"], document["contact"]["city"]) == ("Zelda", "Bremen")
    assert [e["email"] for e in document["emails"]] == [EMAIL]
    assert [p["number"] for p in document["phones"]] == [PHONE]
    assert document["external_ids"] == [{"system": "shop", "value": "SHOP-ZQ-7781"}]
    assert document["tags"] == ["Quintrell family", "VIP"]
    assert [m["organization"] for m in document["memberships"]] == ["Hollow Works"]
    assert [(c["channel"], c["status"]) for c in document["consent"]] == [("email", "granted")]
    assert document["consent_history"][0]["after"]["consent.email"] == "granted"
    assert [i["subject"] for i in document["interactions"]] == ["Call with Zelda"]
    assert [d["name"] for d in document["deals"]] == ["Renewal for Zelda Quintrell"]
    assert [o["total"] for o in document["orders"]] == ["250.00"]
    assert [t["title"] for t in document["tasks"]] == ["Call Zelda Quintrell back"]
    assert document["lead_scores"]["current"]["score"] == 80
    assert [p["product"] for p in document["product_interests"]] == ["Hiking boots"]
    assert len(document["web_form_submissions"]) == 1
    assert document["web_form_submissions"][0]["form"] == "Newsletter"
    assert [r["action"] for r in document["audit_trail"]][:2] == ["create", "update"]
    assert document["left_out"] == {"deals": 0, "orders": 0, "tasks": 0}
    assert document["erased"] is False
    # It is a file: it survives a JSON round trip.
    assert services.export_json(document).startswith("{")


def test_the_export_is_audited_without_personal_data(person, owner):
    before = ChangeRecord.objects.count()

    services.export_contact(actor=owner, contact=person.contact)

    assert ChangeRecord.objects.count() == before + 1
    record = ChangeRecord.objects.latest("id")
    assert (record.entity, record.object_id, record.actor) == (
        "privacy.export",
        str(person.contact.pk),
        owner,
    )
    assert "Zelda" not in f"{record.object_repr} {record.after} {record.message}"


def test_anyone_who_may_view_may_export_and_no_one_else(person, teammate, outsider, people):
    assert services.export_contact(actor=teammate, contact=person.contact)["contact"]["id"]
    assert services.export_contact(actor=people["read_only"], contact=person.contact)
    before = ChangeRecord.objects.count()
    with pytest.raises(PermissionDenied):
        services.export_contact(actor=outsider, contact=person.contact)
    assert ChangeRecord.objects.count() == before


def test_deals_outside_the_sales_scope_are_counted_not_shown(person, other_team):
    role = RoleFactory(name="Service", scopes={"contacts": "all", "sales": "own"})
    agent = UserFactory(username="agent", role=role, teams=[other_team])

    document = services.export_contact(actor=agent, contact=person.contact)

    assert document["deals"] == []
    assert document["left_out"]["deals"] == 1
    assert document["tasks"] == []
    assert document["left_out"]["tasks"] == 1


def test_an_erased_persons_export_holds_only_the_tombstone(person, admin_user):
    services.erase_contact(actor=admin_user, contact=person.contact, reason="Request")

    document = services.export_contact(actor=admin_user, contact=person.contact)

    assert document["erased"] is True
    assert document["emails"] == document["phones"] == []
    assert "Zelda" not in services.export_json(document)
