"""The catalogue holds together: every KPI a model names exists, enough are computed, those
that are not say why and what will feed them, and links into the app resolve or hide."""

import pytest

from rapport.frameworks.catalog import MODELS
from rapport.frameworks.kpis import KPIS, NotMeasurable, measurable_kpis
from rapport.frameworks.kpis.base import Direction, History, Unit
from rapport.frameworks.tests.conftest import measure

NOT_YET = {
    "nps",
    "csat",
    "ticket_first_response_sla",
    "personalized_offer_share",
    "offer_acceptance_rate",
}


def test_every_kpi_a_model_names_is_in_the_catalogue():
    named = {
        stage_kpi.kpi for model in MODELS.values() for s in model.stages for stage_kpi in s.kpis
    }
    assert named <= set(KPIS)
    assert set(KPIS) <= named, "every KPI serves at least one model"


def test_at_least_thirty_kpis_are_computed():
    assert len(measurable_kpis()) >= 30
    assert {kpi.key for kpi in KPIS.values() if not kpi.is_measurable} == NOT_YET


def test_every_kpi_is_fully_described():
    for kpi in KPIS.values():
        assert kpi.name and len(kpi.definition) > 30, kpi.key
        assert kpi.unit in vars(Unit).values(), kpi.key
        assert kpi.direction in vars(Direction).values(), kpi.key
        assert kpi.history in vars(History).values(), kpi.key
        if kpi.is_measurable:
            assert kpi.records is not None, f"{kpi.key} links to no records"


@pytest.mark.django_db
@pytest.mark.parametrize("key", sorted(NOT_YET))
def test_not_measurable_kpis_say_why_and_what_will_feed_them(key):
    result = measure(key)
    assert isinstance(result, NotMeasurable)
    assert "Rapport" in result.reason
    assert result.capability


def test_stage_targets_are_in_the_kpis_range():
    for model in MODELS.values():
        for stage in model.stages:
            for stage_kpi in stage.kpis:
                kpi = KPIS[stage_kpi.kpi]
                if stage_kpi.target is not None and kpi.unit == Unit.PERCENT:
                    assert 0 <= stage_kpi.target <= 100, (model.key, stage.key, kpi.key)
                assert 0 <= stage_kpi.tolerance <= 1


def test_assessed_stages_have_questions():
    for model in MODELS.values():
        for stage in model.stages:
            if stage.assessed:
                assert stage.questions, (model.key, stage.key)
            for question in stage.questions:
                assert question.action, (model.key, stage.key, question.key)


@pytest.mark.django_db
def test_feature_links_resolve_or_hide():
    from rapport.frameworks.scorecards import safe_url

    assert safe_url("contacts:contact_list") == "/contacts/"
    assert safe_url("nowhere:page") is None
