import pytest
from django.core.exceptions import ValidationError

from rapport.audit.models import ChangeRecord
from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization


@pytest.mark.django_db
def test_create_contact_normalizes_identity_and_writes_audit(owner):
    org = make_organization(
        actor=owner, owner=owner, name="Acme GmbH", domain="https://www.Acme.de/"
    )
    contact = make_contact(
        actor=owner,
        owner=owner,
        emails=[" Ada@Example.COM "],
        phones=["+49 30 1234567"],
        organization=org,
        tags=["VIP", "vip"],
    )
    contact.refresh_from_db()
    assert contact.primary_email == "ada@example.com"
    assert contact.primary_phone == "+49301234567"
    assert org.domain == "acme.de"
    assert list(contact.tags.values_list("name", flat=True)) == ["VIP"]
    assert "acme gmbh" in contact.search_text
    assert Contact.objects.search("acme ada").get() == contact
    assert (
        ChangeRecord.objects.filter(entity="contacts.contact", object_id=str(contact.pk)).count()
        == 1
    )


@pytest.mark.django_db
def test_invalid_email_names_the_field_and_writes_nothing(owner):
    with pytest.raises(ValidationError) as excinfo:
        make_contact(actor=owner, emails=["ok@example.com", "not-an-email"])
    assert "emails[1].email" in excinfo.value.message_dict
    assert Contact.objects.count() == 0
