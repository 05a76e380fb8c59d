import json

import pytest

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact
from rapport.core.tests.pages import page_with_panels
from rapport.privacy.models import Erasure, RetentionSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(owner):
    return make_contact(
        actor=owner, owner=owner, first_name="Mira", emails=[{"email": "mira@okonkwo.example"}]
    )


def test_the_privacy_panel_offers_the_export_to_viewers_and_erasure_to_administrators(
    contact, web_client_for, owner, admin_user
):
    page = page_with_panels(web_client_for(owner), contact.get_absolute_url())
    assert f"/privacy/contacts/{contact.pk}/export/" in page
    assert f"/privacy/contacts/{contact.pk}/erase/" not in page

    page = page_with_panels(web_client_for(admin_user), contact.get_absolute_url())
    assert f"/privacy/contacts/{contact.pk}/erase/" in page


def test_the_export_downloads_a_json_file(contact, web_client_for, owner, outsider):
    response = web_client_for(owner).get(f"/privacy/contacts/{contact.pk}/export/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="contact-{contact.pk}-export.json"'
    )
    assert json.loads(response.content)["emails"][0]["email"] == "mira@okonkwo.example"
    assert (
        web_client_for(outsider).get(f"/privacy/contacts/{contact.pk}/export/").status_code == 404
    )


def test_erasing_needs_an_administrator(contact, web_client_for, owner, outsider):
    url = f"/privacy/contacts/{contact.pk}/erase/"
    data = {"reason": "Request", "confirmation": "ERASE"}
    assert web_client_for(owner).post(url, data).status_code == 403
    assert web_client_for(outsider).post(url, data).status_code == 404
    assert not Erasure.objects.exists()


def test_erasing_needs_the_typed_confirmation_and_a_reason(contact, web_client_for, admin_user):
    client = web_client_for(admin_user)
    url = f"/privacy/contacts/{contact.pk}/erase/"
    assert "Type ERASE to confirm" in client.get(url).content.decode()

    response = client.post(url, {"reason": "Request", "confirmation": "erase"})
    assert response.status_code == 422
    assert "Type ERASE in capitals to confirm." in response.content.decode()
    assert client.post(url, {"reason": "", "confirmation": "ERASE"}).status_code == 422
    assert not Erasure.objects.exists()

    response = client.post(url, {"reason": "Request", "confirmation": "ERASE"})

    assert response.status_code == 302
    assert str(Contact.objects.get(pk=contact.pk)) == "Erased contact"
    page = page_with_panels(client, contact.get_absolute_url())
    assert "This person was erased" in page


def test_the_retention_page_is_for_administrators(web_client_for, owner, admin_user):
    assert web_client_for(owner).get("/privacy/retention/").status_code == 403
    client = web_client_for(admin_user)
    assert 'href="/privacy/retention/"' in client.get("/accounts/admin/").content.decode()

    response = client.post("/privacy/retention/", {"interaction_months": "24", "audit_months": ""})

    assert response.status_code == 302
    settings = RetentionSettings.objects.get()
    assert (settings.interaction_months, settings.audit_months) == (24, None)
    assert client.post("/privacy/retention/", {"interaction_months": "0"}).status_code == 422
