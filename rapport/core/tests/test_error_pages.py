"""Refusals and missing pages render inside the app shell with a sentence a user can act on."""

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_a_refused_action_renders_the_styled_page_with_its_reason(web_client_for, owner):
    response = web_client_for(owner).get(reverse("analytics:configuration"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not allowed" in body
    assert "Only administrators change the analytics settings." in body
    assert 'class="card empty"' in body


@pytest.mark.django_db
def test_an_unknown_page_is_a_styled_404(web_client_for, owner):
    response = web_client_for(owner).get("/no-such-page/")
    assert response.status_code == 404
    assert "There is no such page" in response.content.decode()
