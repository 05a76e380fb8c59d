"""The quotas page: attainment for everyone in scope, the grid and the single form for
managers, errors beside the cell, no inline styles, labels rather than keys."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.sales import quota_periods, quotas
from rapport.sales.models import Quota
from rapport.sales.tests.quota_helpers import MARCH

pytestmark = pytest.mark.django_db

PAGE = "/sales/quotas/"


def set_march(admin_user, user, amount="2000"):
    return quotas.set_quota(
        actor=admin_user, user=user, amount=amount, period_start=MARCH[0], period_end=MARCH[1]
    )


def test_a_rep_sees_attainment_within_their_scope_and_no_way_to_set_quotas(
    web_client_for, admin_user, owner, southerner, close_deal
):
    set_march(admin_user, owner)
    set_march(admin_user, southerner)
    close_deal(owner, "500.00", on=dt.date(2025, 3, 9))

    response = web_client_for(owner).get(PAGE, {"period": "2025-03"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Attainment, March 2025" in html
    assert str(owner) in html
    assert str(southerner) not in html
    assert "25.0 %" in html
    assert 'class="quota-bar" min="0" max="2000.00" value="500.00"' in html
    assert "Save quotas" not in html and "Set one quota" not in html
    assert "style=" not in html


def test_a_rep_may_not_post_quotas(web_client_for, owner):
    response = web_client_for(owner).post(
        f"{PAGE}?period=2025-03", {"action": "grid", f"quota-u{owner.pk}-2025-03": "1000000"}
    )
    assert response.status_code == 403
    assert not Quota.objects.exists()


def test_without_quotas_the_page_says_so(web_client_for, owner):
    html = web_client_for(owner).get(PAGE, {"period": "2025-03"}).content.decode()
    assert "No quotas you may see are set for March 2025." in html
    assert "A sales manager or an administrator sets them." in html


def test_a_manager_saves_the_grid_of_the_quarter(web_client_for, admin_user, owner, teammate):
    client = web_client_for(admin_user)
    page = client.get(PAGE, {"period": "2025-03"})
    html = page.content.decode()
    assert "Set quotas for Q1 2025" in html
    names = set(re.findall(r'name="(quota-[^"]+)"', html))
    assert f"quota-u{owner.pk}-2025-01" in names
    assert f"quota-u{owner.pk}-2025-Q1" in names
    assert f"quota-u{admin_user.pk}-2025-01" not in names  # not in a sales team
    assert any(name.startswith("quota-t") for name in names)  # Sales North

    response = client.post(
        f"{PAGE}?period=2025-03",
        {
            "action": "grid",
            f"quota-u{owner.pk}-2025-03": "1,500",
            f"quota-u{owner.pk}-2025-Q1": "4000",
            f"quota-u{teammate.pk}-2025-03": "",
        },
    )

    assert response.status_code == 302
    assert sorted(Quota.objects.values_list("period", "amount")) == [
        ("month", Decimal("1500.00")),
        ("quarter", Decimal("4000.00")),
    ]
    again = client.get(PAGE, {"period": "2025-03"}).content.decode()
    assert f'name="quota-u{owner.pk}-2025-03" value="1500"' in again


def test_a_bad_cell_is_refused_beside_it_and_nothing_is_saved(web_client_for, admin_user, owner):
    response = web_client_for(admin_user).post(
        f"{PAGE}?period=2025-03",
        {
            "action": "grid",
            f"quota-u{owner.pk}-2025-01": "1000",
            f"quota-u{owner.pk}-2025-02": "-3",
        },
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "No quota was saved." in html
    assert (
        f'<p class="field-error" id="quota-u{owner.pk}-2025-02-error" role="alert">'
        "Must not be negative.</p>"
    ) in html
    assert f'name="quota-u{owner.pk}-2025-02" value="-3"' in html
    assert not Quota.objects.exists()


def test_the_single_form_picks_people_by_name_and_reports_a_zero_amount(
    web_client_for, admin_user, owner
):
    client = web_client_for(admin_user)
    html = client.get(PAGE).content.decode()
    assert f'<option value="u{owner.pk}">{owner}</option>' in html
    quarter = quota_periods.quarter_bounds(timezone.localdate())
    key = quota_periods.key_of(*quarter)
    assert f'<option value="{key}">{quota_periods.label(*quarter)} (the quarter)</option>' in html

    refused = client.post(
        PAGE, {"action": "one", "assignee": f"u{owner.pk}", "period": key, "amount": "0"}
    )
    assert refused.status_code == 422
    assert "Must be greater than zero." in refused.content.decode()
    assert not Quota.objects.exists()

    saved = client.post(
        PAGE, {"action": "one", "assignee": f"u{owner.pk}", "period": key, "amount": "900"}
    )
    assert saved.status_code == 302
    quota = Quota.objects.get()
    assert (quota.user, quota.period, quota.amount) == (owner, "quarter", Decimal("900.00"))


def test_an_unknown_period_falls_back_to_this_month_and_says_so(web_client_for, owner):
    html = web_client_for(owner).get(PAGE, {"period": "someday"}).content.decode()
    assert "That period is not one we know; this month instead." in html
