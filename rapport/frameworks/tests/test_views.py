"""The CRM-model pages: what each person sees and may do, errors beside the field, the 360°
journey panel and the home dashboard."""

import datetime as dt

import pytest
from django.utils import timezone

from rapport.core.display import percent_text
from rapport.core.tests.pages import page_with_panels
from rapport.frameworks import services, snapshots
from rapport.frameworks.models import KpiSnapshot, ModelChoice, Objective
from rapport.frameworks.tests.conftest import at, customer, deal, touch

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(owner):
    ann = customer(name="Ann", orders=[(10, 100), (40, 80)], owner=owner)
    customer(name="Ben", orders=[(20, 50)], owner=owner)
    touch(ann, 3, actor=owner)
    snapshots.take_snapshot()
    return ann


def test_every_page_renders_for_a_reader(shop, reader, web_client_for, manager):
    objective = services.create_objective(
        actor=manager,
        model_key="payne_frow",
        stage_key="value_creation",
        kpi="repeat_purchase_rate",
        target_kind="change",
        target_input=5,
        deadline=timezone.localdate() + dt.timedelta(days=60),
    )
    assessment = services.create_assessment(actor=manager, model_key="gartner")
    client = web_client_for(reader)
    pages = [
        "/models/",
        "/models/idic/",
        "/models/value_chain/",
        "/models/payne_frow/",
        "/models/qci/",
        "/models/gartner/",
        "/models/kpis/",
        "/models/kpis/nps/",
        "/models/kpis/repeat_purchase_rate/",
        "/models/kpis/repeat_purchase_rate/records/",
        "/models/choose/",
        "/models/gartner/assessments/",
        objective.get_absolute_url(),
        assessment.get_absolute_url(),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert b"style=" not in response.content, page
        assert b"onclick" not in response.content, page
    assert client.get("/models/astrology/").status_code == 404
    assert client.get("/models/kpis/astrology/").status_code == 404


def test_scorecard_shows_values_targets_and_plain_not_measurable_kpis(shop, owner, web_client_for):
    content = web_client_for(owner).get("/models/qci/").content.decode()
    assert "Repeat purchase rate" in content
    assert percent_text(0.5, 1) in content  # Ann bought on two days, Ben on one
    assert "Not measurable yet." in content
    assert "Rapport does not run customer surveys yet" in content
    assert "Will come with: Service: customer surveys" in content


def test_only_managers_reach_the_management_pages(shop, owner, reader, manager, web_client_for):
    pages = [
        "/models/idic/stages/identify/targets/",
        "/models/idic/objectives/new/?stage=identify",
    ]
    for person in (owner, reader):
        client = web_client_for(person)
        for page in pages:
            assert client.get(page).status_code == 403
        assert client.post("/models/measure/").status_code == 403
        assert client.post("/models/choose/confirm/", {"model": "idic"}).status_code == 403
    for page in pages:
        assert web_client_for(manager).get(page).status_code == 200
    assert not ModelChoice.objects.exists()


def test_setting_an_objective_through_the_form(shop, manager, web_client_for):
    client = web_client_for(manager)
    url = "/models/payne_frow/objectives/new/?stage=value_creation"
    form = {
        "stage": "value_creation",
        "kpi": "repeat_purchase_rate",
        "target_kind": "change",
        "target_input": "-5",  # lower: the wrong way for a higher-is-better KPI
        "deadline": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
        "owner": str(manager.pk),
    }
    response = client.post(url, form)
    assert response.status_code == 422
    assert "Higher is better for repeat purchase rate" in response.content.decode()
    assert not Objective.objects.exists()
    response = client.post(url, {**form, "target_input": "10"})
    assert response.status_code == 302
    made = Objective.objects.get()
    assert (made.baseline, made.target) == (50.0, 60.0)
    page = client.get("/models/payne_frow/").content.decode()
    assert made.title in page


def test_targets_form(shop, manager, web_client_for):
    client = web_client_for(manager)
    url = "/models/idic/stages/identify/targets/"
    response = client.post(
        url,
        {
            "identification_rate__target": "95",
            "identification_rate__tolerance": "15",
            "consent_coverage__target": "150",
            "consent_coverage__tolerance": "15",
        },
    )
    assert response.status_code == 422
    assert "A percentage is between 0 and 100." in response.content.decode()
    from rapport.frameworks.models import StageTarget

    assert not StageTarget.objects.exists(), "one refused target leaves all as they were"
    response = client.post(
        url,
        {
            "consent_coverage__target": "",
            "consent_coverage__tolerance": "15",
            "identification_rate__target": "90",
            "identification_rate__tolerance": "15",
            "profile_completeness__target": "70",
            "profile_completeness__tolerance": "15",
            "duplicate_rate__target": "2",
            "duplicate_rate__tolerance": "15",
            "linked_interaction_share__target": "95",
            "linked_interaction_share__tolerance": "15",
        },
    )
    assert response.status_code == 302
    assert list(StageTarget.objects.values_list("kpi", "target")) == [("consent_coverage", None)]


def test_records_behind_a_value_follow_the_users_access(
    owner, teammate, outsider, pipeline, stages, web_client_for
):
    lost = deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Qualification"],
        created=at(30),
        name="Lost to a rival",
        moves=[(stages["Lost"], at(10))],
    )
    url = "/models/kpis/win_rate/records/"
    records = web_client_for(owner).get(url).content.decode()
    assert lost.name in records
    # The records behind the KPI can be acted on (the bar chooses them by the KPI).
    assert 'action="/bulk/deals/"' in records and 'value="kpi_deals"' in records
    assert 'name="filter" value="kpi=win_rate' in records
    assert lost.name in web_client_for(teammate).get(url).content.decode()
    assert lost.name not in web_client_for(outsider).get(url).content.decode()


def test_guide_recommends_and_a_manager_adopts_it(shop, manager, owner, web_client_for):
    answers = {
        "team_size": "1-10",
        "product_complexity": "complex",
        "channels": ["email"],
        "departments": ["sales"],
        "goals": ["personalize"],
    }
    response = web_client_for(owner).post("/models/choose/", answers)
    content = response.content.decode()
    assert "Recommended: IDIC" in content
    assert "Runner-up" in content and "What would change the answer" in content
    assert "A manager or administrator makes the choice." in content
    assert web_client_for(owner).post("/models/choose/", {"team_size": "9000"}).status_code == 422

    client = web_client_for(manager)
    content = client.post("/models/choose/", answers).content.decode()
    assert "Use IDIC" in content
    response = client.post(
        "/models/choose/confirm/",
        {
            "model": "idic",
            "answers": '{"team_size": "1-10", "product_complexity": "complex", "goals": ["personalize"]}',
        },
    )
    assert response.status_code == 302 and response["Location"] == "/models/idic/"
    choice = ModelChoice.objects.get()
    assert (choice.model_key, choice.recommended_key) == ("idic", "idic")
    assert choice.facts["customers"] == 2


def test_home_shows_the_chosen_models_scorecard(shop, manager, owner, web_client_for):
    home = web_client_for(owner).get("/").content.decode()
    assert "No CRM model chosen yet." in home
    services.choose_model(actor=manager, model_key="value_chain")
    home = web_client_for(owner).get("/").content.decode()
    assert "CRM Value Chain" in home
    assert "Customer portfolio analysis" in home
    assert "/models/idic/" in home  # the others one click away


def test_contact_page_shows_the_idic_journey(shop, owner, web_client_for):
    content = page_with_panels(web_client_for(owner), f"/contacts/{shop.pk}/")
    assert "IDIC journey" in content
    # Ann: a name and an email, needs unknown and no analytics yet → identified only.
    assert "Now: <strong>Identified</strong>" in content


def test_answering_and_completing_an_assessment(manager, owner, reader, web_client_for):
    assessment = services.create_assessment(actor=manager, model_key="gartner")
    url = assessment.get_absolute_url()
    response = web_client_for(owner).post(
        url,
        {
            "score__vision.vision_written": "2",
            "comment__vision.vision_written": "Only in the CEO's head",
        },
    )
    assert response.status_code == 302
    assert (
        web_client_for(reader).post(url, {"score__vision.vision_written": "5"}).status_code == 403
    )
    response = web_client_for(manager).post(f"{url}complete/")
    assert response.status_code == 302
    content = web_client_for(reader).get(url).content.decode()
    assert "Write and share a short CRM vision with every team." in content


def test_measure_now_runs_the_snapshot(owner, manager, web_client_for):
    customer(name="Ann", orders=[(10, 100)], owner=owner)
    response = web_client_for(manager).post("/models/measure/", {"next": "/models/qci/"})
    assert response.status_code == 302 and response["Location"] == "/models/qci/"
    assert KpiSnapshot.objects.filter(kpi="revenue_per_customer", value=100.0).exists()


def test_unsafe_next_is_not_followed(manager, web_client_for):
    response = web_client_for(manager).post("/models/measure/", {"next": "https://evil.example/"})
    assert response["Location"] == "/models/"


def test_every_records_page_renders(shop, owner, admin_user, web_client_for):
    from rapport.frameworks.kpis import KPIS
    from rapport.frameworks.tests.conftest import refresh_analytics

    refresh_analytics(admin_user)
    client = web_client_for(admin_user)
    for key, kpi in KPIS.items():
        if kpi.records is None:
            assert client.get(f"/models/kpis/{key}/records/").status_code == 404
            continue
        for query in ("", "?population=significant", "?population=nonsense"):
            response = client.get(f"/models/kpis/{key}/records/{query}")
            assert response.status_code == 200, (key, query)
    lapsed = client.get("/models/kpis/churn_rate_12m/records/").content.decode()
    assert "Customers of the year before who have not bought since" in lapsed
    assert client.get("/models/kpis/win_rate/records/?cursor=garbage").status_code == 200


# --- one status per stage, derived by one rule (issue 15, defect 8) -----------------------------


def _between(content: str, start: str, end: str) -> str:
    head = content.index(start)
    return content[head : content.index(end, head)]


def _stage_header(content: str, stage: str) -> str:
    section = _between(content, f'id="stage-{stage}"', "</section>")
    return _between(section, 'class="stage-title"', "</div>")


def test_a_stage_never_assessed_does_not_say_assessed(owner, web_client_for):
    # Given Payne & Frow's strategy stage, scored by a questionnaire nobody has answered yet
    content = web_client_for(owner).get("/models/payne_frow/").content.decode()
    header = _stage_header(content, "strategy_development")
    # Then it says how it is scored and that it has not been, not "assessed"
    assert ">assessed<" not in content
    assert "scored by assessment" in header
    assert "Not rated yet" in header  # neither its KPIs nor its questions have a value
    assert "not assessed yet" in _between(content, 'id="stage-strategy_development"', "</section>")


def test_a_stage_is_not_on_track_beside_its_own_off_track_assessment(
    owner, manager, web_client_for
):
    # Given Gartner's collaboration stage: its one KPI on track (60 % against a target of 40)
    KpiSnapshot.objects.create(
        kpi="multi_team_touch_rate", day=timezone.localdate(), value=60.0, source="daily"
    )
    # and its own completed assessment at 2.5 / 5 (off track)
    assessment = services.create_assessment(actor=manager, model_key="gartner")
    services.answer_assessment(
        actor=owner,
        assessment=assessment,
        answers={"collaboration.shared_goals": 2, "collaboration.handoffs": 3},
    )
    services.complete_assessment(actor=manager, assessment=assessment)
    content = web_client_for(owner).get("/models/gartner/").content.decode()
    section = _between(content, 'id="stage-collaboration"', "</section>")
    assert "2.5</span> / 5" in section and "status-off_track" in section
    # Then the stage says off track, here and in the stage summary, and why
    assert 'status status-off_track">Off track' in _stage_header(content, "collaboration")
    summary = _between(content, 'href="#stage-collaboration"', "</a>")
    assert "status-off_track" in summary and "status-on_track" not in summary
    assert "the worse of its measured health and its assessed maturity" in section


def test_an_assessment_cannot_be_completed_before_it_was_opened(manager, owner):
    from django.core.exceptions import ValidationError

    opened = timezone.now() - dt.timedelta(days=10)
    assessment = services.create_assessment(actor=manager, model_key="gartner", at=opened)
    assert assessment.created_at == opened
    with pytest.raises(ValidationError):
        services.answer_assessment(
            actor=owner,
            assessment=assessment,
            answers={"vision.vision_written": 3},
            at=opened - dt.timedelta(days=1),
        )
    services.answer_assessment(
        actor=owner, assessment=assessment, answers={"vision.vision_written": 3}
    )
    with pytest.raises(ValidationError):
        services.complete_assessment(
            actor=manager, assessment=assessment, at=opened - dt.timedelta(hours=1)
        )


def test_a_kpi_whose_input_was_never_computed_says_so(shop, owner, web_client_for):
    # Given contacts, no suspected pair, and duplicate detection that has never run (`shop`
    # measured today's KPIs)
    client = web_client_for(owner)
    content = " ".join(client.get("/models/idic/").content.decode().split())
    row = _between(content, 'href="/models/kpis/duplicate_rate/"', "</tr>")
    # Then the suspected-duplicate rate says why it has no value, and shows no 0.0%
    assert "Not computed yet: duplicate detection has not run." in row
    assert percent_text(0, 1) not in row.split("</td>")[1]
    assert "Not measurable: Not computed" not in content
    detail = " ".join(client.get("/models/kpis/duplicate_rate/").content.decode().split())
    assert "Not computed yet: duplicate detection has not run." in detail


def test_the_objective_form_offers_only_owners_the_manager_may_give_it(
    shop, manager, owner, reader, web_client_for
):
    client = web_client_for(manager)
    page = client.get("/models/payne_frow/objectives/new/?stage=value_creation")
    offered = dict(page.context["form"].fields["owner"].choices)
    assert manager.pk in offered and owner.pk in offered
    assert reader.pk not in offered
