"""In a real browser: choose a model through the guide, set an objective, see it on the
scorecard — with no JavaScript error and no CSP violation on the way."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from rapport.frameworks import snapshots
from rapport.frameworks.models import ModelChoice, Objective
from rapport.frameworks.tests.conftest import customer, touch


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_choose_a_model_set_an_objective_and_see_it(signed_in_page, manager, owner):
    ann = customer(name="Ann", orders=[(10, 100), (40, 80)], owner=owner)
    customer(name="Ben", orders=[(20, 50)], owner=owner)
    touch(ann, 3, actor=owner)
    snapshots.backfill(days=60, every=20)
    snapshots.take_snapshot()

    page = signed_in_page(manager)
    page.goto("/")
    page.get_by_role("link", name="Help me choose").click()
    page.get_by_label("1–10 people").check()
    page.get_by_label("complex, solving a need specific to each customer").check()
    page.get_by_label("Email", exact=True).check()
    page.get_by_label("Sales", exact=True).check()
    page.get_by_label("Personalize offers and service for each customer").check()
    page.get_by_role("button", name="Recommend a model").click()
    page.get_by_role("heading", name="Recommended: IDIC").wait_for()
    assert page.get_by_text("What would change the answer").is_visible()
    page.get_by_role("button", name="Use IDIC").click()
    page.wait_for_url(re.compile(r"/models/idic/$"))
    assert ModelChoice.objects.get().model_key == "idic"

    stage = page.locator("#stage-customize")
    stage.get_by_role("link", name="Set an objective").click()
    page.select_option("#id_kpi", "repeat_purchase_rate")
    page.get_by_label("Change by an amount (in the KPI's unit)").check()
    page.fill("#id_target_input", "10")
    page.fill("#id_deadline", (timezone.localdate() + dt.timedelta(days=180)).isoformat())
    page.get_by_role("button", name="Set objective").click()
    page.wait_for_url(re.compile(r"/models/idic/#stage-customize$"))
    objective = Objective.objects.get()
    assert (objective.baseline, objective.target) == (50.0, 60.0)
    assert page.locator("#stage-customize").get_by_role("link", name=objective.title).is_visible()
    # The sparklines drew (the chart library and the data block both loaded).
    page.wait_for_function("document.querySelectorAll('canvas[data-sparkline]').length > 0")

    page.goto("/")
    assert page.get_by_role("link", name=objective.title).is_visible()
