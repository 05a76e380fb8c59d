import json

import pytest
from django.core.management import CommandError, call_command

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.privacy.models import Erasure

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(owner):
    return make_contact(
        actor=owner, owner=owner, first_name="Mira", emails=[{"email": "mira@okonkwo.example"}]
    )


def test_erase_contact_needs_yes(contact, capsys):
    call_command("erase-contact", str(contact.pk), "--reason", "Request")

    assert "add --yes" in capsys.readouterr().out
    assert not Erasure.objects.exists()


def test_erase_contact(contact, admin_user, capsys):
    call_command(
        "erase-contact",
        str(contact.pk),
        "--reason",
        "Request",
        "--yes",
        "--as",
        admin_user.username,
    )

    assert f"Erased contact #{contact.pk}" in capsys.readouterr().out
    assert str(Contact.objects.get(pk=contact.pk)) == "Erased contact"
    assert Erasure.objects.get().erased_by == admin_user


def test_erase_contact_as_a_non_administrator_is_refused(contact, owner):
    with pytest.raises(CommandError, match="Only administrators"):
        call_command(
            "erase-contact", str(contact.pk), "--reason", "R", "--yes", "--as", owner.username
        )
    assert not Erasure.objects.exists()


def test_export_contact_writes_the_file(contact, tmp_path):
    target = tmp_path / "mira.json"

    call_command("export-contact", str(contact.pk), "--output", str(target))

    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["contact"]["id"] == contact.pk
    assert document["emails"][0]["email"] == "mira@okonkwo.example"


def test_unknown_contact(db):
    with pytest.raises(CommandError, match="No contact #999"):
        call_command("export-contact", "999", "--output", "-")
