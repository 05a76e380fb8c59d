"""The model recommendation: pure scoring from answers and facts, and the facts read from the
data — concentrate revenue in a few customers and the Value Chain moves up."""

import pytest

from rapport.frameworks.recommendation import Answers, Facts, recommend, score

NEUTRAL = Answers(
    team_size="11-50",
    product_complexity="moderate",
    channels=("email", "phone"),
    departments=("sales", "service"),
    goals=("retention",),
)


def test_every_point_has_a_reason():
    result = score(NEUTRAL, Facts(customers=500, top20_share=0.45, gini=0.4, channels=2))
    for key, reasons in result.reasons.items():
        assert result.scores[key] == pytest.approx(sum(r.points for r in reasons))
        assert all(r.text for r in reasons)


def test_small_team_personalizing_a_complex_product_gets_idic():
    answers = Answers(
        team_size="1-10",
        product_complexity="complex",
        channels=("email",),
        departments=("sales",),
        goals=("personalize",),
    )
    result = recommend(answers, Facts(customers=300, top20_share=0.5, gini=0.45))
    assert result.recommended == "idic"
    assert result.scores["idic"] == pytest.approx(2 + 2 + 0.5 + 1 + 2)


def test_many_channels_and_departments_get_payne_and_frow():
    answers = Answers(
        team_size="11-50",
        product_complexity="simple",
        channels=("email", "phone", "web", "chat", "social"),
        departments=("sales", "marketing", "service", "operations"),
        goals=("consistent_experience",),
    )
    result = recommend(answers, Facts(customers=5000, top20_share=0.55, channels=5))
    assert result.recommended == "payne_frow"


def test_concentrated_revenue_moves_the_answer_to_the_value_chain():
    spread = recommend(NEUTRAL, Facts(customers=500, top20_share=0.45, gini=0.4))
    concentrated = recommend(NEUTRAL, Facts(customers=500, top20_share=0.9, gini=0.82))
    assert spread.recommended != "value_chain"
    assert concentrated.recommended == "value_chain"
    assert concentrated.scores["value_chain"] - spread.scores["value_chain"] == pytest.approx(4.0)
    assert any("90 %" in r.text for r in concentrated.reasons["value_chain"])


def test_what_would_change_the_answer():
    result = recommend(NEUTRAL, Facts(customers=500, top20_share=0.45, gini=0.4))
    assert result.changes
    for change in result.changes:
        assert change.model != result.recommended
    # The runner-up's ways to the top come first.
    assert result.changes[0].model == result.runner_up
    assert any("top 20 %" in change.text for change in result.changes)


def test_without_revenue_the_recommendation_says_so():
    result = recommend(NEUTRAL, Facts())
    assert any("No revenue" in note for note in result.notes)


@pytest.mark.django_db
def test_recommendation_follows_the_data(owner):
    """Spread revenue over many customers, then let a few carry it: the facts read from the
    orders change, and the recommendation moves to the Value Chain."""
    from rapport.frameworks.facts import read_facts
    from rapport.frameworks.tests.conftest import customer

    for index in range(10):
        customer(name=f"Even{index}", orders=[(20 + index, 100)], owner=owner)
    before = read_facts(fresh=True)
    assert before.customers == 10
    assert before.top20_share == pytest.approx(0.2)
    assert recommend(NEUTRAL, before).recommended != "value_chain"

    customer(name="Whale", orders=[(5, 20000)], owner=owner)
    customer(name="Orca", orders=[(6, 15000)], owner=owner)
    after = read_facts(fresh=True)
    assert after.customers == 12
    assert after.top20_share > 0.8
    result = recommend(NEUTRAL, after)
    assert result.recommended == "value_chain"
    assert result.scores["value_chain"] > recommend(NEUTRAL, before).scores["value_chain"]
