"""Decay, the learned model and its explanations: pure NumPy / scikit-learn."""

import numpy as np
import pytest

from rapport.sales.scoring import model as learned
from rapport.sales.scoring.decay import decay_factor, decayed_points


def test_decay_halves_every_half_life():
    assert decay_factor(0, 14) == 1.0
    assert decay_factor(14, 14) == 0.5
    assert decay_factor(28, 14) == 0.25
    assert decay_factor(-3, 14) == 1.0  # an anchor in the future does not inflate points
    assert decay_factor(100, None) == 1.0
    assert list(decay_factor(np.array([0, 7, 14]), 7)) == [1.0, 0.5, 0.25]


def test_decayed_points_hand_computed():
    # 10 × 2^(−7/14) = 7.0710678… → 7.07
    assert decayed_points(10, 7, 14) == 7.07
    assert decayed_points(-20, 30, 30) == -10.0


def test_too_little_history_says_why():
    message = learned.too_little_history(np.ones(199), min_labelled=200, min_per_class=20)
    assert "Only 199 leads" in message and "rules carry the score" in message
    labels = np.array([1] * 10 + [0] * 300)
    message = learned.too_little_history(labels, min_labelled=200, min_per_class=20)
    assert message.startswith("10 leads converted and 300 did not")
    labels = np.array([1] * 20 + [0] * 180)
    assert learned.too_little_history(labels, min_labelled=200, min_per_class=20) is None


def synthetic(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 3] = 1.0  # a constant column: carries nothing and must not break standardization
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.0 * x[:, 2] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def test_training_reports_quality_on_held_out_leads():
    x, y = synthetic()
    report = learned.train(x, y, ["a", "b", "noise", "constant"], seed=0)
    assert report.n_train == 2250 and report.n_test == 750
    assert report.n_positive + report.n_negative == 3000
    assert 0.78 < report.roc_auc < 0.95
    assert 0 < report.brier_score < 0.25
    model = report.model
    assert model.coef[0] > 0.5 and model.coef[1] < -0.3
    assert abs(model.coef[3]) < 1e-12  # the constant column has no weight
    assert sum(row["count"] for row in report.calibration) == 750
    for row in report.calibration:
        assert abs(row["mean_predicted"] - row["observed_rate"]) < 0.2


def test_prediction_from_stored_numbers_equals_scikit_learn():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import train_test_split

    x, y = synthetic(1200, seed=3)
    report = learned.train(x, y, ["a", "b", "c", "d"], seed=5)
    restored = learned.CalibratedLogit.from_json(report.model.to_json())
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=5, stratify=y)
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale < 1e-12] = 1.0
    reference = CalibratedClassifierCV(
        learned.base_estimator(), method="sigmoid", cv=3, ensemble=True
    ).fit((x_train - mean) / scale, y_train)
    expected = reference.predict_proba((x_test - mean) / scale)[:, 1]
    assert np.allclose(restored.predict_proba(x_test), expected, atol=1e-10)


def test_reasons_add_up_to_the_logit():
    x, y = synthetic(900, seed=11)
    model = learned.train(x, y, ["a", "b", "c", "d"], seed=1).model
    terms = model.contributions(x[:50])
    assert np.allclose(terms.sum(axis=1) + model.intercept, model.logit(x[:50]), atol=1e-9)
    top = learned.top_reasons(model, terms[0], count=2)
    assert len(top) == 2
    assert abs(top[0][1]) >= abs(top[1][1])
    assert {name for name, _ in top} <= {"a", "b", "c"}


def test_calibration_table_hand_computed():
    rows = learned.calibration_table(
        np.array([0, 1, 1, 0, 1]), np.array([0.05, 0.15, 0.95, 0.12, 1.0])
    )
    assert rows == [
        {"lower": 0.0, "upper": 0.1, "count": 1, "mean_predicted": 0.05, "observed_rate": 0.0},
        {
            "lower": 0.1,
            "upper": 0.2,
            "count": 2,
            "mean_predicted": pytest.approx(0.135),
            "observed_rate": 0.5,
        },
        {
            "lower": 0.9,
            "upper": 1.0,
            "count": 2,
            "mean_predicted": pytest.approx(0.975),
            "observed_rate": 1.0,
        },
    ]


@pytest.mark.parametrize(
    ("name", "value", "has_email", "words"),
    [
        ("has_job_title", 0.0, True, "No job title"),
        ("has_job_title", 1.0, True, "Job title given"),
        ("business_email", 0.0, True, "Free email domain"),
        ("business_email", 0.0, False, "No business email domain"),
        ("business_email", 1.0, True, "Business email domain"),
        ("log_meetings", 0.0, True, "No meetings"),
        ("log_meetings", float(np.log1p(1)), True, "1 meeting"),
        ("log_form_submissions", float(np.log1p(3)), True, "3 form submissions"),
        ("organization_size", 3.0, True, "Organization of 51-200 people"),
        ("organization_size", 0.0, True, "Organization size unknown"),
        ("country=DE", 1.0, True, "In Germany"),
        ("country=DE", 0.0, True, "Not in Germany"),
        ("country=other", 1.0, True, "In another country"),
        ("country=GB", 1.0, True, "In the United Kingdom"),
        ("country=GB", 0.0, True, "Not in the United Kingdom"),
        ("source=web_form", 1.0, True, "Came in through a web form"),
        ("source=web_form", 0.0, True, "Not from a web form"),
        ("source=manual", 1.0, True, "Entered by hand"),
        ("source=referral", 0.0, True, "Not referred"),
        ("industry=other", 0.0, True, "In one of the main industries"),
        ("industry=software", 1.0, True, "Industry: software"),
        ("industry=software", 0.0, True, "Not in software"),
        ("title_executive", 1.0, True, "Senior job title"),
        ("title_executive", 0.0, True, "No senior job title"),
        ("has_phone", 0.0, True, "No phone number"),
        ("has_email", 0.0, False, "No email address"),
    ],
)
def test_reasons_say_what_this_lead_has(name, value, has_email, words):
    from rapport.sales.scoring.features import reason_label

    assert reason_label(name, value, has_email=has_email) == words


def leads_like(n=6000, seed=21):
    """Noisy leads: a few binary traits and counts tilt the odds of converting (~20 %), no trait
    decides it. What a CRM's history looks like, and what the demo builds."""
    rng = np.random.default_rng(seed)
    referral = rng.random(n) < 0.1
    senior = rng.random(n) < 0.25
    free_mail = rng.random(n) < 0.3
    bought_list = rng.random(n) < 0.15
    touches = rng.poisson(1.5, n)
    logit = (
        -1.9
        + 1.0 * referral
        + 0.7 * senior
        - 0.6 * free_mail
        - 0.9 * bought_list
        + 0.45 * touches
        + rng.normal(0, 0.5, n)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    x = np.column_stack([referral, senior, free_mail, bought_list, np.log1p(touches)])
    return x.astype(float), y


def test_a_noisy_history_gives_probabilities_that_spread_and_mean_what_they_say():
    x, y = leads_like()
    assert 0.15 < y.mean() < 0.35
    report = learned.train(x, y, ["referral", "senior", "free", "list", "touches"], seed=0)
    # Scores of the whole history: spread over the range, not piled up at either end.
    predicted = report.model.predict_proba(x)
    low, high = np.percentile(predicted, [10, 90])
    assert high - low > 0.3, (low, high)
    assert (predicted >= 0.95).mean() < 0.01
    assert (predicted <= 0.02).mean() < 0.05
    assert abs(predicted.mean() - y.mean()) < 0.02
    # Calibrated on the held-out leads: in every well-filled bin, predicted ≈ observed.
    filled = [row for row in report.calibration if row["count"] >= 60]
    assert len(filled) >= 4
    for row in filled:
        assert abs(row["mean_predicted"] - row["observed_rate"]) < 0.08, row
    assert report.left_out == []


def test_a_feature_that_is_the_outcome_is_left_out():
    x, y = leads_like(3000, seed=4)
    # "Converted" and a stage set on conversion (wrong for 0.5 % of leads): the label again.
    flipped = np.random.default_rng(5).random(y.size) < 0.005
    stage = np.where(flipped, 1 - y, y)
    matrix = np.column_stack([x, y, stage])
    names = ["referral", "senior", "free", "list", "touches", "converted", "stage"]
    report = learned.train(matrix, y, names, seed=0)
    assert report.left_out == ["converted", "stage"]
    model = report.model
    assert model.coef[5] == 0.0 and model.coef[6] == 0.0
    for coef, *_ in model.members:
        assert coef[5] == 0.0 and coef[6] == 0.0
    assert not np.any(model.contributions(matrix[:20])[:, 5:])
    # Without the giveaways the scores still spread instead of sitting at 0 and 100.
    predicted = model.predict_proba(matrix)
    assert np.percentile(predicted, 90) < 0.9
    assert (predicted >= 0.95).mean() < 0.01
    # The honest predictors keep their weight.
    assert model.coef[0] > 0.1 and model.coef[4] > 0.1


def test_giveaway_features_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 1])
    matrix = np.column_stack(
        [
            labels,  # the outcome itself
            1 - labels,  # its negation gives it away just as well
            [0, 1, 0, 1, 0, 1],  # tells nothing
            [1, 1, 1, 1, 1, 1],  # constant
            [1, 2, 3, 4, 5, 6],  # orders them perfectly too
        ]
    )
    assert learned.giveaway_features(matrix, labels) == [0, 1, 4]
    assert learned.giveaway_features(matrix, np.zeros(6)) == []


def test_score_distribution_hand_computed():
    spread = learned.score_distribution({3: 2, 15: 1, 50: 4, 96: 2, 100: 1})
    assert spread["total"] == 10
    counts = [row["count"] for row in spread["bins"]]
    assert counts == [2, 1, 0, 0, 0, 4, 0, 0, 0, 3]
    assert spread["bins"][0] == {"lower": 0, "upper": 9, "count": 2, "share": 0.2}
    assert spread["bins"][-1]["lower"] == 90 and spread["bins"][-1]["upper"] == 100
    # Nearest rank: 1 of 10 leads is at or below the 1st decile, 5 at or below the median.
    assert spread["deciles"] == [3, 3, 15, 50, 50, 50, 50, 96, 96]
    assert spread["share_95_or_more"] == pytest.approx(0.3)
    assert learned.score_distribution({})["deciles"] == []


def lead_facts(**values):
    import datetime as dt

    from rapport.sales.scoring.features import LeadFacts

    return LeadFacts(contact_id=1, as_of=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), **values)


def reasons_of(lead, vocabulary):
    """Every feature's reason for this lead, as the lead page would word it."""
    from rapport.sales.scoring.features import build_matrix, feature_names, reason_label

    row = build_matrix([lead], vocabulary)[0]
    names = feature_names(vocabulary)
    return {name: reason_label(name, row[i], lead=lead) for i, name in enumerate(names)}


def test_a_lead_without_a_job_title_on_free_mail_is_described_as_it_is():
    from rapport.sales.scoring.features import Vocabulary

    vocabulary = Vocabulary(sources=("referral", "web_form"), countries=("DE",), industries=())
    lead = lead_facts(
        email_domain="gmail.com",
        has_email=True,
        source="web_form",
        country="FR",
        form_submissions=2,
    )
    reasons = reasons_of(lead, vocabulary)
    assert reasons["has_job_title"] == "No job title"
    assert reasons["title_executive"] == "No senior job title"
    assert reasons["business_email"] == "Free email domain"
    assert reasons["has_email"] == "Email address given"
    assert reasons["has_organization"] == "No organization"
    assert reasons["organization_size"] == "No organization"
    assert reasons["source=web_form"] == "Came in through a web form"
    assert reasons["source=referral"] == "Not referred"
    assert reasons["country=DE"] == "Not in Germany"
    assert reasons["country=other"] == "In France, a less common country"
    assert reasons["log_form_submissions"] == "2 form submissions"
    assert reasons["log_meetings"] == "No meetings"
    # Nothing said of this lead that is not so.
    assert not {"Job title given", "Business email domain", "Came from web form"} & set(
        reasons.values()
    )


def test_a_senior_lead_at_a_known_company_is_described_as_it_is():
    from rapport.sales.scoring.features import Vocabulary

    vocabulary = Vocabulary(sources=("referral",), countries=("DE",), industries=("software",))
    lead = lead_facts(
        job_title="Head of IT",
        email_domain="acme.example",
        has_email=True,
        has_phone=True,
        has_organization=True,
        organization_size="51-200",
        industry="Software",
        country="de",
        source="referral",
        meetings=1,
    )
    reasons = reasons_of(lead, vocabulary)
    assert reasons["has_job_title"] == "Job title given"
    assert reasons["title_executive"] == "Senior job title"
    assert reasons["business_email"] == "Business email domain"
    assert reasons["has_phone"] == "Phone number given"
    assert reasons["organization_size"] == "Organization of 51-200 people"
    assert reasons["industry=software"] == "Industry: software"
    assert reasons["industry=other"] == "In one of the main industries"
    assert reasons["country=DE"] == "In Germany"
    assert reasons["country=other"] == "In one of the main countries"
    assert reasons["source=referral"] == "Referred to us"
    assert reasons["log_meetings"] == "1 meeting"
    # A lead without a country or an industry is not said to be in one.
    bare = reasons_of(lead_facts(), vocabulary)
    assert bare["country=DE"] == bare["country=other"] == "No country given"
    assert bare["industry=other"] == "No industry known"
    assert bare["business_email"] == "No business email domain"
    assert bare["has_email"] == "No email address"


def test_every_contact_source_has_words():
    from rapport.contacts.choices import ContactSource
    from rapport.sales.scoring.features import _SOURCE_REASONS, SOURCE_LABELS

    assert set(SOURCE_LABELS) == set(ContactSource.values)
    assert dict(ContactSource.choices) == SOURCE_LABELS
    assert set(_SOURCE_REASONS) == set(ContactSource.values)
