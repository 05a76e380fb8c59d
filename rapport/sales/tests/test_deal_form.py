"""The deal form speaks the user's words: records picked by name, currencies from a list, the
pipeline's first stage chosen, custom fields judged like everywhere else."""

import pytest

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.customfields.services import create_definition
from rapport.sales.models import Deal

NEW = "/sales/deals/new/"


def deal_post(pipeline, **fields):
    data = {
        "name": "Rollout",
        "pipeline": pipeline.pk,
        "amount": "100",
        "currency": "EUR",
        "expected_close_date": "2030-01-01",
        "source": "manual",
    }
    data.update(fields)
    return data


def test_the_form_offers_pickers_a_currency_list_and_the_first_stage(
    web_client_for, owner, pipeline
):
    response = web_client_for(owner).get(NEW)

    html = response.content.decode()
    form = response.context["form"]
    assert html.count('role="combobox"') == 2
    assert "id or email" not in html and "exact name" not in html
    assert form["currency"].field.widget.input_type == "select"
    assert ("GBP", "GBP") in form.fields["currency"].choices
    assert form.initial["currency"] == "EUR"
    assert form.initial["stage"] == pipeline.stages.order_by("position").first().pk


def test_suggestions_offer_only_what_the_user_may_see(web_client_for, owner, outsider):
    mine = make_contact(actor=owner, owner=owner, first_name="Grace", emails=["g@navy.example"])
    make_contact(actor=outsider, owner=outsider, first_name="Gracia")
    make_organization(actor=owner, owner=owner, name="Navy Yard")
    make_organization(actor=outsider, owner=outsider, name="Navy Theirs")

    contacts = web_client_for(owner).get("/contacts/suggest/", {"q": "grac"}).json()
    organizations = web_client_for(owner).get("/organizations/suggest/", {"q": "navy"}).json()

    assert contacts == [{"id": mine.pk, "label": str(mine), "detail": "g@navy.example"}]
    assert [o["label"] for o in organizations] == ["Navy Yard"]
    assert web_client_for(owner).get("/contacts/suggest/", {"q": "g"}).json() == []


def test_a_picked_contact_is_posted_by_id_and_shown_by_name(web_client_for, owner, pipeline):
    grace = make_contact(actor=owner, owner=owner, first_name="Grace", last_name="Hopper")
    client = web_client_for(owner)

    response = client.post(NEW, deal_post(pipeline, contact=str(grace.pk), contact_label="x"))

    deal = Deal.objects.get()
    assert response.status_code == 302 and deal.contact == grace
    edit = client.get(f"/sales/deals/{deal.pk}/edit/").content.decode()
    assert 'value="Grace Hopper"' in edit


@pytest.mark.parametrize("typed", ["by-id", "by-email"])
def test_a_record_outside_the_users_access_cannot_be_picked(
    web_client_for, owner, outsider, pipeline, typed
):
    theirs = make_contact(actor=outsider, owner=outsider, emails=["theirs@example.com"])
    value = {
        "by-id": {"contact": str(theirs.pk)},
        "by-email": {"contact_label": "theirs@example.com"},
    }

    response = web_client_for(owner).post(NEW, deal_post(pipeline, **value[typed]))

    assert response.status_code == 422
    assert response.context["form"].errors["contact"] == [
        "No such record, or it is outside your access."
    ]
    assert not Deal.objects.exists()


def test_deal_custom_fields_are_judged_like_contacts(web_client_for, owner, pipeline, admin_user):
    create_definition(
        actor=admin_user,
        entity="deal",
        key="tier",
        label="Tier",
        field_type="choice",
        choices=["Gold", "Silver"],
    )
    create_definition(
        actor=admin_user, entity="deal", key="signed", label="Signed", field_type="boolean"
    )

    response = web_client_for(owner).post(
        NEW, deal_post(pipeline, cf_tier="Platinum", cf_signed="true")
    )
    assert response.status_code == 422
    assert response.context["form"].errors["cf_tier"]

    web_client_for(owner).post(NEW, deal_post(pipeline, cf_tier="Gold", cf_signed="true"))
    assert Deal.objects.get().custom_fields == {"tier": "Gold", "signed": True}
