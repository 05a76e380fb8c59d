import decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from rapport.audit.models import ChangeRecord
from rapport.customfields.models import CustomFieldDefinition
from rapport.customfields.services import create_definition, update_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user, web_client_for):
    return web_client_for(admin_user)


@pytest.fixture
def region(admin_user):
    return create_definition(
        actor=admin_user,
        entity="contact",
        key="region",
        label="Region",
        field_type="choice",
        choices=["North", "South"],
        default="North",
    )


def form_data(**overrides):
    data = {
        "entity": "contact",
        "key": "seats",
        "field_type": "number",
        "label": "Seats",
        "help_text": "Licensed seats",
        "position": "10",
    }
    data.update(overrides)
    return data


def create_url():
    return reverse("customfields:definition_create")


def test_pages_are_for_administrators_only(owner, web_client_for, region):
    client = web_client_for(owner)
    urls = [
        ("get", reverse("customfields:definition_list")),
        ("get", create_url()),
        ("post", create_url()),
        ("get", reverse("customfields:definition_edit", args=[region.pk])),
        ("post", reverse("customfields:definition_edit", args=[region.pk])),
        ("post", reverse("customfields:definition_set_active", args=[region.pk])),
    ]
    for method, url in urls:
        data = {**form_data(), "label": "Hijacked", "active": "0"}
        response = client.post(url, data) if method == "post" else client.get(url)
        assert response.status_code == 403, url
        anonymous = getattr(Client(), method)(url)
        assert anonymous.status_code == 302, url
    region.refresh_from_db()
    assert (region.label, region.is_active) == ("Region", True)
    assert not CustomFieldDefinition.objects.filter(key="seats").exists()


def test_the_service_refuses_non_administrators(owner, region):
    with pytest.raises(PermissionDenied):
        create_definition(actor=owner, entity="contact", key="x", label="X", field_type="text")
    with pytest.raises(PermissionDenied):
        update_definition(actor=owner, definition=region, label="Mine")


def test_list_shows_the_fields_of_one_entity(admin_client, admin_user, region):
    create_definition(
        actor=admin_user, entity="organization", key="tier", label="Tier", field_type="text"
    )

    contact_page = admin_client.get(reverse("customfields:definition_list"))
    org_page = admin_client.get(reverse("customfields:definition_list"), {"entity": "organization"})
    odd_page = admin_client.get(reverse("customfields:definition_list"), {"entity": "pets"})

    assert [d.key for d in contact_page.context["definitions"]] == ["region"]
    assert [d.key for d in org_page.context["definitions"]] == ["tier"]
    assert odd_page.context["entity"] == "contact"


def test_create_a_number_field_with_limits(admin_client, admin_user):
    response = admin_client.post(
        create_url(),
        form_data(min_value="0", max_value="500", default="5", is_required="on"),
    )

    assert response.status_code == 302
    assert response["Location"].endswith("?entity=contact")
    field = CustomFieldDefinition.objects.get(key="seats")
    assert (field.field_type, field.label, field.position) == ("number", "Seats", 10)
    assert (field.min_value, field.max_value) == (decimal.Decimal(0), decimal.Decimal(500))
    assert field.default == 5
    assert field.is_required
    record = ChangeRecord.objects.get(entity="customfields.customfielddefinition")
    assert (record.action, record.actor) == ("create", admin_user)


def test_create_a_choice_field_one_choice_per_line(admin_client):
    response = admin_client.post(
        create_url(),
        form_data(
            key="channels",
            field_type="multi_choice",
            label="Channels",
            choices="Email\r\n  Phone \r\n\r\nPost\r\n",
            default="email; post",
            entity="organization",
        ),
    )

    assert response.status_code == 302
    field = CustomFieldDefinition.objects.get(key="channels")
    assert field.entity == "organization"
    assert field.choices == ["Email", "Phone", "Post"]
    assert field.default == ["Email", "Post"]


def test_create_a_boolean_with_a_yes_default(admin_client):
    admin_client.post(
        create_url(), form_data(key="vip", field_type="boolean", label="VIP", default="yes")
    )

    assert CustomFieldDefinition.objects.get(key="vip").default is True


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"key": "Bad Key"}, "key", "lowercase letters"),
        ({"key": "region"}, "key", "already exists"),
        ({"field_type": "colour"}, "field_type", "Select a valid choice"),
        ({"entity": "pets"}, "entity", "Select a valid choice"),
        ({"label": ""}, "label", "required"),
        ({"label": "   "}, "label", "required"),
        ({"label": "x" * 101}, "label", "at most 100"),
        ({"field_type": "choice"}, "choices", "at least one choice"),
        ({"field_type": "choice", "choices": "A\na"}, "choices", "differ"),
        ({"field_type": "multi_choice", "choices": "A;B\nC"}, "choices", "“;”"),
        ({"choices": "A\nB"}, "choices", "Only choice fields"),
        ({"default": "many"}, "default", "whole number"),
        ({"default": "900", "max_value": "500"}, "default", "at most 500"),
        ({"min_value": "10", "max_value": "1"}, "min_value", "above the maximum"),
        ({"min_value": "abc"}, "min_value", "Enter a number"),
        ({"field_type": "text", "min_value": "1"}, "min_value", "Only number fields"),
        ({"max_length": "20"}, "max_length", "Only text fields"),
        ({"field_type": "text", "max_length": "256"}, "max_length", "from 1 to 255"),
        ({"field_type": "boolean", "is_unique": "on"}, "is_unique", "cannot be unique"),
        ({"is_unique": "on", "default": "3"}, "default", "unique field cannot have a default"),
        ({"position": "-1"}, "position", "greater than or equal to 0"),
    ],
)
def test_bad_definitions_show_the_error_beside_the_field_and_save_nothing(
    admin_client, region, overrides, field, message
):
    before = CustomFieldDefinition.objects.count()

    response = admin_client.post(create_url(), form_data(**overrides))

    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]
    assert f'id="id_{field}_error"' in response.content.decode()
    assert CustomFieldDefinition.objects.count() == before


def test_edit_keeps_key_entity_and_type_fixed(admin_client, region):
    url = reverse("customfields:definition_edit", args=[region.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "key" not in page.context["form"].fields
    assert page.context["form"]["choices"].value() == "North\nSouth"
    assert page.context["form"]["default"].value() == "North"

    response = admin_client.post(
        url,
        {
            "key": "hacked",
            "field_type": "text",
            "entity": "deal",
            "label": "Sales region",
            "choices": "North\nSouth\nEast",
            "default": "",
            "position": "3",
        },
    )

    assert response.status_code == 302
    region.refresh_from_db()
    assert (region.key, region.field_type, region.entity) == ("region", "choice", "contact")
    assert region.label == "Sales region"
    assert region.choices == ["North", "South", "East"]
    assert region.default is None


def test_edit_refuses_dropping_the_choice_the_default_uses(admin_client, region):
    response = admin_client.post(
        reverse("customfields:definition_edit", args=[region.pk]),
        {"label": "Region", "choices": "South", "default": "North", "position": "1"},
    )

    assert response.status_code == 422
    assert "default" in response.context["form"].errors
    region.refresh_from_db()
    assert region.choices == ["North", "South"]


def test_deactivate_and_reactivate(admin_client, region):
    url = reverse("customfields:definition_set_active", args=[region.pk])

    response = admin_client.post(url, {"active": "0"})

    assert response.status_code == 302
    region.refresh_from_db()
    assert not region.is_active
    assert CustomFieldDefinition.objects.filter(pk=region.pk).exists()

    admin_client.post(url, {"active": "1"})
    region.refresh_from_db()
    assert region.is_active


def test_labels_with_markup_are_inert(admin_client, admin_user):
    create_definition(
        actor=admin_user,
        entity="contact",
        key="xss",
        label="<script>alert(1)</script>",
        help_text="<img src=x onerror=alert(1)>",
        field_type="choice",
        choices=["<b>bold</b>"],
    )

    body = admin_client.get(reverse("customfields:definition_list")).content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert "<b>bold</b>" not in body
    assert "&lt;script&gt;" in body
