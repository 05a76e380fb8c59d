"""A task in two fields from the Tasks panel of a contact's or organization's page."""

import datetime as dt

from django.utils import timezone

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.core.tests.pages import page_with_panels
from rapport.sales.models import Task

URL = "/sales/tasks/quick/"


def test_the_panel_offers_the_quick_form_to_writers_only(web_client_for, owner, teammate):
    from rapport.accounts.tests.factories import RoleFactory

    contact = make_contact(actor=owner, owner=owner)
    assert 'action="/sales/tasks/quick/"' in page_with_panels(
        web_client_for(owner), f"/contacts/{contact.pk}/"
    )
    teammate.role = RoleFactory(name="Viewer", is_read_only=True, scopes={"contacts": "team"})
    teammate.save()
    page = page_with_panels(web_client_for(teammate), f"/contacts/{contact.pk}/")
    assert 'action="/sales/tasks/quick/"' not in page


def test_a_quick_task_is_mine_linked_and_due_at_the_end_of_the_day(web_client_for, owner):
    contact = make_contact(actor=owner, owner=owner)
    back = f"/contacts/{contact.pk}/"

    response = web_client_for(owner).post(
        URL, {"title": "Call back", "when": "tomorrow", "contact": contact.pk, "next": back}
    )

    assert response.status_code == 302 and response["Location"] == back
    task = Task.objects.get()
    assert (task.title, task.assignee, task.contact) == ("Call back", owner, contact)
    due = timezone.localtime(task.due_at)
    assert due.date() == timezone.localdate() + dt.timedelta(days=1)
    assert (due.hour, due.minute) == (17, 0)


def test_a_record_outside_the_users_access_gets_no_task(web_client_for, owner, outsider):
    theirs = make_organization(actor=outsider, owner=outsider)

    web_client_for(owner).post(URL, {"title": "Peek", "when": "today", "organization": theirs.pk})

    assert not Task.objects.exists()


def test_an_empty_title_is_refused_with_the_field_named(web_client_for, owner):
    contact = make_contact(actor=owner, owner=owner)

    response = web_client_for(owner).post(
        URL, {"title": " ", "when": "today", "contact": contact.pk}, follow=True
    )

    assert not Task.objects.exists()
    assert "New task: This field is required." in response.content.decode()


def test_next_never_leaves_the_site(web_client_for, owner):
    contact = make_contact(actor=owner, owner=owner)
    for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        response = web_client_for(owner).post(
            URL, {"title": "x", "when": "today", "contact": contact.pk, "next": target}
        )
        assert response["Location"] == "/sales/my-day/"
