"""The learned lead score: logistic regression, sigmoid-calibrated, explained by its terms. Pure.

Why logistic regression: its logit is a sum of one term per feature (coefficient × standardized
value), so a lead's reasons are exact, signed and add up to its score — no approximation like
SHAP on trees. Calibration (Platt scaling over 3 cross-validated folds) turns the logit into a
probability that means what it says: of leads scored 30 %, about 30 % convert.

Two things keep the probabilities from piling up at 0 and 100 %. A feature that on its own all but
tells converted leads from the others is the outcome recorded another way (a stage, a flag set
on conversion), not a predictor: it is left out of training. And the strength of the L2 penalty
is chosen by cross-validated log loss, so a rare value seen on a handful of converted leads
cannot claim a large weight.

A trained model is stored as plain numbers (`to_json`) and predicts with NumPy alone; the
scikit-learn objects are only used while training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ALGORITHM = "LogisticRegressionCV (L2, C by log loss) + CalibratedClassifierCV(sigmoid, cv=3)"
CALIBRATION_BINS = 10
# Penalty strengths tried (smaller is stronger), on standardized features.
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
# A feature whose values alone order converted above unconverted leads this well (ROC AUC) is the
# outcome itself: no honest signal about a lead that has not converted yet is that sharp.
GIVEAWAY_AUC = 0.99


def too_little_history(labels: np.ndarray, *, min_labelled: int, min_per_class: int) -> str | None:
    """Why a model cannot be trained on these labels, or None when it can."""
    labels = np.asarray(labels)
    total = int(labels.size)
    positive = int(labels.sum()) if total else 0
    negative = total - positive
    if total < min_labelled:
        return (
            f"Only {total} leads have a known outcome; at least {min_labelled} are needed. "
            "The rules carry the score until then."
        )
    if positive < min_per_class or negative < min_per_class:
        return (
            f"{positive} leads converted and {negative} did not; at least {min_per_class} of "
            "each are needed. The rules carry the score until then."
        )
    return None


def _expit(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


@dataclass
class CalibratedLogit:
    """A calibrated logistic-regression ensemble, as numbers.

    `members` are (coef, intercept, a, b) per cross-validation fold: the fold's logit z is
    calibrated as 1 / (1 + exp(a·z + b)) and the probability is the mean over folds.
    `coef` / `intercept` (the fold average) explain a score: term_j = coef_j × standardized x_j,
    and sum(terms) + intercept is the lead's average logit.
    """

    feature_names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    members: list[tuple[np.ndarray, float, float, float]]
    coef: np.ndarray
    intercept: float

    def standardize(self, matrix: np.ndarray) -> np.ndarray:
        return (np.asarray(matrix, dtype=float) - self.mean) / self.scale

    def logit(self, matrix: np.ndarray) -> np.ndarray:
        """The averaged, uncalibrated logit: what the terms add up to."""
        return self.standardize(matrix) @ self.coef + self.intercept

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        z = self.standardize(matrix)
        total = np.zeros(z.shape[0])
        for coef, intercept, a, b in self.members:
            total += _expit(-(a * (z @ coef + intercept) + b))
        return total / len(self.members)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Signed per-feature terms, shape (leads, features)."""
        return self.standardize(matrix) * self.coef

    def to_json(self) -> dict:
        return {
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "members": [
                {"coef": coef.tolist(), "intercept": intercept, "a": a, "b": b}
                for coef, intercept, a, b in self.members
            ],
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict) -> CalibratedLogit:
        return cls(
            feature_names=list(data["feature_names"]),
            mean=np.asarray(data["mean"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            members=[
                (
                    np.asarray(m["coef"], dtype=float),
                    float(m["intercept"]),
                    float(m["a"]),
                    float(m["b"]),
                )
                for m in data["members"]
            ],
            coef=np.asarray(data["coef"], dtype=float),
            intercept=float(data["intercept"]),
        )


def giveaway_features(matrix: np.ndarray, labels: np.ndarray) -> list[int]:
    """Columns that on their own all but separate the two outcomes (ROC AUC ≥ GIVEAWAY_AUC)."""
    from scipy.stats import rankdata

    matrix = np.asarray(matrix, dtype=float)
    labels = np.asarray(labels, dtype=int)
    positive = labels == 1
    n_positive = int(positive.sum())
    n_negative = int(labels.size - n_positive)
    if not n_positive or not n_negative or not matrix.size:
        return []
    # Mann-Whitney: the AUC of each column is its rank sum over the positives, rescaled.
    ranks = rankdata(matrix, axis=0)
    auc = (ranks[positive].sum(axis=0) - n_positive * (n_positive + 1) / 2) / (
        n_positive * n_negative
    )
    separation = np.maximum(auc, 1.0 - auc)
    return [int(j) for j in np.flatnonzero(separation >= GIVEAWAY_AUC)]


def base_estimator(folds: int = 3):
    """The uncalibrated model: L2 logistic regression with its penalty chosen by log loss."""
    import inspect

    from sklearn.linear_model import LogisticRegressionCV

    options = {}
    if "use_legacy_attributes" in inspect.signature(LogisticRegressionCV).parameters:
        # scikit-learn ≥ 1.8 says "plain L2" this way (and warns when it is not said).
        options = {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    return LogisticRegressionCV(
        Cs=list(C_GRID), cv=folds, scoring="neg_log_loss", max_iter=2000, **options
    )


@dataclass
class TrainingReport:
    model: CalibratedLogit
    roc_auc: float | None
    brier_score: float
    base_rate: float
    calibration: list[dict]
    n_train: int
    n_test: int
    n_positive: int
    n_negative: int
    left_out: list[str]


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS):
    """Equal-width probability bins with the mean prediction and the observed rate in each.

    Empty bins are left out. A well-calibrated model has `mean_predicted` ≈ `observed_rate`.
    """
    labels = np.asarray(labels, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        if not count:
            continue
        rows.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_predicted": float(probabilities[mask].mean()),
                "observed_rate": float(labels[mask].mean()),
            }
        )
    return rows


def score_distribution(counts: Mapping[int, int], bins: int = 10) -> dict:
    """How whole-number scores 0–100 spread: `bins` equal bins and the deciles.

    `counts` maps a score to how many leads have it. Deciles are nearest-rank: the k-th is the
    lowest score at or below which at least k tenths of the leads lie.
    """
    total = sum(counts.values())
    width = 100 / bins
    rows = []
    for b in range(bins):
        lower = round(b * width)
        upper = round((b + 1) * width) - (0 if b == bins - 1 else 1)
        count = sum(n for score, n in counts.items() if lower <= score <= upper)
        rows.append(
            {
                "lower": lower,
                "upper": upper,
                "count": count,
                "share": count / total if total else 0.0,
            }
        )
    deciles = []
    if total:
        running, ordered = 0, sorted(counts.items())
        position = 0
        for k in range(1, 10):
            while running < k * total / 10:
                running += ordered[position][1]
                position += 1
            deciles.append(ordered[position - 1][0])
    at_least_95 = sum(n for score, n in counts.items() if score >= 95)
    return {
        "total": total,
        "bins": rows,
        "deciles": deciles,
        "share_95_or_more": at_least_95 / total if total else 0.0,
    }


def train(
    matrix: np.ndarray,
    labels: np.ndarray,
    feature_names: Sequence[str],
    *,
    seed: int = 0,
    test_fraction: float = 0.25,
    folds: int = 3,
) -> TrainingReport:
    """Fit on a stratified 75 % and report quality on the held-out 25 % it never saw.

    The model kept is the one evaluated (not refitted on everything), so the page's AUC and
    calibration describe exactly the model that scores the leads. Features that give the
    outcome away (`giveaway_features` on the training part) get no weight and are named in
    `left_out`.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    matrix = np.asarray(matrix, dtype=float)
    labels = np.asarray(labels, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        matrix, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    # A feature constant in training carries no signal; scale 1 keeps its term at zero.
    scale[scale < 1e-12] = 1.0
    z_train = (x_train - mean) / scale
    left_out = giveaway_features(x_train, y_train)
    used = np.setdiff1d(np.arange(matrix.shape[1]), left_out)
    if not used.size:
        raise ValueError("every feature gives the outcome away; nothing is left to learn from")
    calibrated = CalibratedClassifierCV(
        base_estimator(folds), method="sigmoid", cv=folds, ensemble=True
    )
    calibrated.fit(z_train[:, used], y_train)
    members = []
    for fold in calibrated.calibrated_classifiers_:
        estimator = fold.estimator
        calibrator = fold.calibrators[0]
        coef = np.zeros(matrix.shape[1])
        coef[used] = estimator.coef_[0]
        members.append(
            (
                coef,
                float(estimator.intercept_[0]),
                float(calibrator.a_),
                float(calibrator.b_),
            )
        )
    model = CalibratedLogit(
        feature_names=list(feature_names),
        mean=mean,
        scale=scale,
        members=members,
        coef=np.mean([m[0] for m in members], axis=0),
        intercept=float(np.mean([m[1] for m in members])),
    )
    predicted = model.predict_proba(x_test)
    auc = float(roc_auc_score(y_test, predicted)) if len(set(y_test.tolist())) == 2 else None
    return TrainingReport(
        model=model,
        roc_auc=auc,
        brier_score=float(brier_score_loss(y_test, predicted)),
        base_rate=float(labels.mean()),
        calibration=calibration_table(y_test, predicted),
        n_train=int(y_train.size),
        n_test=int(y_test.size),
        n_positive=int(labels.sum()),
        n_negative=int(labels.size - labels.sum()),
        left_out=[feature_names[j] for j in left_out],
    )


def top_reasons(
    model: CalibratedLogit, contributions_row: np.ndarray, *, count: int = 5
) -> list[tuple[str, float]]:
    """The `count` largest terms by size, with their sign: (feature name, term)."""
    return top_reasons_of_rows(model, np.atleast_2d(contributions_row), count=count)[0]


def top_reasons_of_rows(
    model: CalibratedLogit, contributions: np.ndarray, *, count: int = 5
) -> list[list[tuple[str, float]]]:
    """`top_reasons` of every row of a (leads, features) matrix, sorted in one call.

    Scoring a batch of thousands spent more on one small sort per lead than on the sorting.
    """
    terms = np.asarray(contributions, dtype=float)
    order = np.argsort(-np.abs(terms), axis=1, kind="stable")[:, :count]
    values = np.take_along_axis(terms, order, axis=1).tolist()
    names = model.feature_names
    result = []
    for indexes, row in zip(order.tolist(), values, strict=True):
        reasons = []
        for index, value in zip(indexes, row, strict=True):
            if math.isclose(value, 0.0, abs_tol=1e-9):
                break
            reasons.append((names[index], value))
        result.append(reasons)
    return result
