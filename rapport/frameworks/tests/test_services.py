"""Targets, objectives (baseline, validation, the daily check and its alerts), assessments and
the choice of model — through the services, with their permissions and audit records."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rapport.audit.models import ChangeRecord
from rapport.core import display
from rapport.frameworks import services, snapshots
from rapport.frameworks.models import KpiSnapshot, Objective, StageTarget
from rapport.frameworks.tests.conftest import customer

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.fixture
def shop(owner):
    return [
        customer(name="Ann", orders=[(10, 100), (40, 80)], owner=owner),
        customer(name="Ben", orders=[(20, 50)], owner=owner),
    ]


def objective(actor, **overrides):
    values = dict(
        model_key="payne_frow",
        stage_key="value_creation",
        kpi="repeat_purchase_rate",
        target_kind="change",
        target_input=10,
        deadline=TODAY() + dt.timedelta(days=180),
    )
    values.update(overrides)
    return services.create_objective(actor=actor, **values)


# --------------------------------------------------------------------------- permissions


def test_only_managers_set_goals(shop, owner, reader, manager, admin_user):
    for person in (owner, reader):
        with pytest.raises(PermissionDenied):
            objective(person)
        with pytest.raises(PermissionDenied):
            services.set_stage_target(
                actor=person, model_key="idic", stage_key="identify", kpi="duplicate_rate", target=1
            )
    assert objective(manager).owner == manager
    assert objective(admin_user, target_input=20).created_by == admin_user


def test_writers_answer_assessments_but_read_only_users_do_not(manager, owner, reader):
    assessment = services.create_assessment(actor=manager, model_key="gartner")
    assert (
        services.answer_assessment(
            actor=owner, assessment=assessment, answers={"vision.vision_written": 3}
        )
        == 1
    )
    with pytest.raises(PermissionDenied):
        services.answer_assessment(
            actor=reader, assessment=assessment, answers={"vision.vision_written": 3}
        )
    with pytest.raises(PermissionDenied):
        services.complete_assessment(actor=owner, assessment=assessment)


# --------------------------------------------------------------------------- targets


def test_target_override_and_reset(manager):
    row = services.set_stage_target(
        actor=manager,
        model_key="idic",
        stage_key="identify",
        kpi="duplicate_rate",
        target=1.5,
        tolerance=0.3,
    )
    assert (row.target, row.tolerance) == (1.5, 0.3)
    informational = services.set_stage_target(
        actor=manager, model_key="idic", stage_key="identify", kpi="duplicate_rate", target=None
    )
    assert informational.target is None and informational.tolerance == 0.3
    services.reset_stage_target(
        actor=manager, model_key="idic", stage_key="identify", kpi="duplicate_rate"
    )
    assert not StageTarget.objects.exists()
    assert ChangeRecord.objects.filter(entity="frameworks.stagetarget").count() == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model_key": "nope"}, "model"),
        ({"stage_key": "nope"}, "stage"),
        ({"kpi": "win_rate"}, "kpi"),  # not a KPI of this stage
        ({"target": 120}, "target"),  # a percentage above 100
        ({"target": "lots"}, "target"),
        ({"tolerance": 2}, "tolerance"),
    ],
)
def test_bad_targets_are_refused_by_field(manager, changes, field):
    values = dict(model_key="idic", stage_key="identify", kpi="duplicate_rate", target=2)
    values.update(changes)
    with pytest.raises(ValidationError) as caught:
        services.set_stage_target(actor=manager, **values)
    assert field in caught.value.message_dict
    assert not StageTarget.objects.exists()


# --------------------------------------------------------------------------- objectives


def test_objective_records_its_baseline_now(shop, manager):
    made = objective(manager)
    # Ann bought on two days, Ben on one: 50 %; +10 points → 60 %.
    assert (made.baseline, made.target, made.baseline_day) == (50.0, 60.0, TODAY())
    assert made.title.startswith(f"Raise repeat purchase rate to {display.percent_text(0.6, 1)}")
    assert KpiSnapshot.objects.get(kpi="repeat_purchase_rate", day=TODAY()).value == 50.0
    assert ChangeRecord.objects.filter(entity="frameworks.objective", action="create").count() == 1


def test_relative_and_absolute_targets(shop, manager):
    assert objective(manager, target_kind="percent", target_input=20).target == pytest.approx(60.0)
    assert objective(manager, target_kind="absolute", target_input=75).target == 75.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_kind": "absolute", "target_input": 40}, "target_input"),  # worse than 50 %
        ({"target_kind": "change", "target_input": 60}, "target_input"),  # 110 %: impossible
        ({"target_kind": "sideways"}, "target_kind"),
        ({"deadline": TODAY()}, "deadline"),
        ({"deadline": "soon"}, "deadline"),
        ({"stage_key": "value_creation", "kpi": "win_rate"}, "kpi"),
        ({"kpi": "offer_acceptance_rate"}, "kpi"),  # not measurable yet
        ({"owner": False}, "owner"),
    ],
)
def test_bad_objectives_are_refused_by_field(shop, manager, changes, field):
    if changes.get("owner") is False:
        from rapport.accounts.tests.factories import UserFactory

        changes = {"owner": UserFactory(username="gone", is_active=False)}
    with pytest.raises(ValidationError) as caught:
        objective(manager, **changes)
    assert field in caught.value.message_dict
    assert not Objective.objects.exists()
    assert not KpiSnapshot.objects.exists(), "a refused objective stores nothing"


def test_lower_is_better_objective_needs_a_lower_target(owner, manager, pipeline, stages):
    from rapport.frameworks.tests.conftest import at, deal

    deal(
        owner=owner,
        pipeline=pipeline,
        stage=stages["Qualification"],
        created=at(60),
        moves=[(stages["Won"], at(20))],
    )
    with pytest.raises(ValidationError) as caught:
        objective(
            manager,
            model_key="qci",
            stage_key="process_management",
            kpi="sales_cycle_days",
            target_kind="change",
            target_input=5,
        )
    assert "Lower is better" in caught.value.message_dict["target_input"][0]
    made = objective(
        manager,
        model_key="qci",
        stage_key="process_management",
        kpi="sales_cycle_days",
        target_kind="change",
        target_input=-10,
    )
    assert (made.baseline, made.target) == (40.0, 30.0)


def test_update_and_archive_objective(shop, manager, owner):
    made = objective(manager)
    services.update_objective(
        actor=manager, objective=made, owner=owner, target_kind="absolute", target_input=70
    )
    made.refresh_from_db()
    assert (made.owner, made.target, made.baseline) == (owner, 70.0, 50.0)
    with pytest.raises(ValidationError):
        services.update_objective(actor=manager, objective=made, baseline=10)
    services.archive_objective(actor=manager, objective=made)
    assert Objective.objects.get().status == "archived"


def _history(objective_row, values):
    """Stored values of the objective's KPI: (days ago, value)."""
    for days_ago, value in values:
        KpiSnapshot.objects.update_or_create(
            kpi=objective_row.kpi,
            population=objective_row.population,
            segment=None,
            day=TODAY() - dt.timedelta(days=days_ago),
            defaults={"value": value, "source": "backfill"},
        )


def test_daily_check_alerts_the_owner_once_when_off_track(shop, manager, owner):
    from rapport.sales.models import Notification

    made = objective(manager, owner=owner)
    # Falling 1 point every 10 days: the 60 % target is missed by far.
    _history(made, [(30, 53.0), (20, 52.0), (10, 51.0)])
    counts = services.check_objectives()
    made.refresh_from_db()
    assert made.track == "off_track"
    assert made.projected < 50
    assert counts == {"checked": 1, "alerted": 1}
    note = Notification.objects.get(recipient=owner)
    assert note.title.startswith("Off track:") and note.url == made.get_absolute_url()
    # Checked again the same day and the next: still off track, no second alert.
    services.check_objectives()
    services.check_objectives(today=TODAY() + dt.timedelta(days=1))
    assert Notification.objects.filter(recipient=owner).count() == 1


def test_daily_check_on_track_and_achieved(shop, manager):
    made = objective(manager)
    _history(made, [(20, 40.0), (10, 45.0)])  # +0.5 a day: 60 % well before the deadline
    services.check_objectives()
    made.refresh_from_db()
    assert made.track == "on_track"
    snapshots.store(
        snapshots.Series("repeat_purchase_rate"),
        TODAY(),
        type("M", (), {"value": 61.0})(),
        source="daily",
    )
    services.check_objectives()
    made.refresh_from_db()
    assert (made.track, made.last_value, made.status) == ("achieved", 61.0, "active")


def test_objective_past_its_deadline_is_closed(shop, manager, owner):
    from rapport.sales.models import Notification

    made = objective(manager, owner=owner, deadline=TODAY() + dt.timedelta(days=3))
    services.check_objectives(today=TODAY() + dt.timedelta(days=4))
    made.refresh_from_db()
    assert made.status == "missed"
    assert Notification.objects.filter(recipient=owner, title__startswith="Missed").count() == 1


# --------------------------------------------------------------------------- assessments


def test_assessment_answers_replace_and_complete(manager, owner):
    assessment = services.create_assessment(actor=manager, model_key="value_chain")
    assert assessment.title.startswith("CRM Value Chain maturity")
    services.answer_assessment(
        actor=owner,
        assessment=assessment,
        answers={"leadership_culture.sponsor": 2, "procurement.partner_data": ""},
    )
    services.answer_assessment(
        actor=owner, assessment=assessment, answers={"leadership_culture.sponsor": 4}
    )
    assert assessment.responses.get().score == 4
    with pytest.raises(ValidationError):
        services.complete_assessment(
            actor=manager,
            assessment=services.create_assessment(actor=manager, model_key="value_chain"),
        )  # nobody answered
    services.complete_assessment(actor=manager, assessment=assessment)
    assessment.refresh_from_db()
    assert assessment.status == "completed" and assessment.completed_by == manager
    with pytest.raises(ValidationError):
        services.answer_assessment(
            actor=owner, assessment=assessment, answers={"leadership_culture.sponsor": 5}
        )


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"leadership_culture.sponsor": 6}, "answers.leadership_culture.sponsor"),
        ({"leadership_culture.sponsor": 0}, "answers.leadership_culture.sponsor"),
        ({"leadership_culture.sponsor": "high"}, "answers.leadership_culture.sponsor"),
        ({"leadership_culture.sponsor": True}, "answers.leadership_culture.sponsor"),
        ({"nowhere.nothing": 3}, "answers.nowhere.nothing"),
        ({}, "answers"),
    ],
)
def test_bad_answers_are_refused_by_field(manager, owner, answers, field):
    assessment = services.create_assessment(actor=manager, model_key="value_chain")
    with pytest.raises(ValidationError) as caught:
        services.answer_assessment(actor=owner, assessment=assessment, answers=answers)
    assert field in caught.value.message_dict
    assert not assessment.responses.exists()


# --------------------------------------------------------------------------- model choice


def test_choosing_a_model(manager, owner):
    assert services.current_choice() is None
    services.choose_model(actor=manager, model_key="idic", recommended_key="idic")
    services.choose_model(actor=manager, model_key="qci")
    assert services.current_choice().model_key == "qci"
    with pytest.raises(ValidationError):
        services.choose_model(actor=manager, model_key="crystal_ball")
    with pytest.raises(PermissionDenied):
        services.choose_model(actor=owner, model_key="idic")


# --------------------------------------------------------------------------- objective owners


def test_an_objective_goes_only_to_someone_the_manager_may_give_it(
    shop, manager, reader, owner, outsider
):
    from rapport.accounts.tests.factories import RoleFactory, UserFactory

    team_role = RoleFactory(
        name="Team lead", scopes={"contacts": "all", "sales": "all", "analytics": "team"}
    )
    lead = UserFactory(username="lead", role=team_role, teams=list(owner.teams.all()))

    with pytest.raises(ValidationError) as read_only:
        objective(manager, owner=reader)
    with pytest.raises(ValidationError) as out_of_reach:
        objective(lead, owner=outsider)

    assert read_only.value.message_dict == {
        "owner": [f"{reader} has a read-only role and could not work this record."]
    }
    assert list(out_of_reach.value.message_dict) == ["owner"]
    assert "outside your access" in out_of_reach.value.message_dict["owner"][0]
    assert not Objective.objects.exists()
    assert objective(lead, owner=owner).owner == owner


def test_changing_an_objective_checks_a_new_owner_but_keeps_the_current_one(
    shop, manager, owner, reader, admin_user
):
    from rapport.accounts.services import update_role

    made = objective(manager, owner=owner)
    with pytest.raises(ValidationError) as refused:
        services.update_objective(actor=manager, objective=made, owner=reader)
    assert list(refused.value.message_dict) == ["owner"]
    made.refresh_from_db()
    assert made.owner == owner

    # The owner has since become read-only: editing the title keeps them.
    update_role(actor=admin_user, role=owner.role, is_read_only=True)
    services.update_objective(actor=manager, objective=made, owner=owner, title="Kept")
    made.refresh_from_db()
    assert (made.owner, made.title) == (owner, "Kept")
