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
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = synthetic(1200, seed=3)
    report = learned.train(x, y, ["a", "b", "c", "d"], seed=5)
    restored = learned.CalibratedLogit.from_json(report.model.to_json())
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=5, stratify=y)
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale < 1e-12] = 1.0
    reference = CalibratedClassifierCV(
        LogisticRegression(C=1.0, max_iter=2000), method="sigmoid", cv=3, ensemble=True
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
        ("country=DE", 1.0, True, "In DE"),
        ("country=DE", 0.0, True, "Not in DE"),
        ("source=web_form", 1.0, True, "Came from web form"),
        ("industry=other", 0.0, True, "In one of the main industries"),
    ],
)
def test_reasons_say_what_this_lead_has(name, value, has_email, words):
    from rapport.sales.scoring.features import reason_label

    assert reason_label(name, value, has_email=has_email) == words
