from django.db import models

from rapport.analytics.metrics.pareto import TIER_NAMES
from rapport.analytics.metrics.rfm import NO_ORDERS, SEGMENT_NAMES


class RunStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    INSUFFICIENT_DATA = "insufficient_data", "Too little data"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.INSUFFICIENT_DATA, RunStatus.FAILED)


class RunTrigger(models.TextChoices):
    NIGHTLY = "nightly", "Nightly"
    ON_DEMAND = "on_demand", "On demand"


class FitModel(models.TextChoices):
    BG_NBD = "bg_nbd", "BG/NBD (purchase frequency, P(alive))"
    GAMMA_GAMMA = "gamma_gamma", "Gamma-Gamma (spend per purchase)"
    BG_NBD_HOLDOUT = "bg_nbd_holdout", "BG/NBD calibration / holdout check"


class FitStatus(models.TextChoices):
    FITTED = "fitted", "Fitted"
    NOT_CONVERGED = "not_converged", "Did not converge"
    INSUFFICIENT_DATA = "insufficient_data", "Too little data"
    UNUSABLE = "unusable", "Fitted but unusable"


# The RFM segments in display order, named as the metrics module names them (so the segment
# map lives in one place).
SEGMENT_ORDER = [name for name in SEGMENT_NAMES if name != NO_ORDERS] + [NO_ORDERS]


class ValueTier(models.TextChoices):
    PLATINUM = "platinum", "Platinum"
    GOLD = "gold", "Gold"
    SILVER = "silver", "Silver"
    BRONZE = "bronze", "Bronze"


# The metrics module names the tiers; the two lists must agree.
assert tuple(ValueTier.values) == TIER_NAMES
# Tiers worth watching when they slip: the at-risk list shows these.
VALUABLE_TIERS = ("platinum", "gold", "silver")


class TierBasis(models.TextChoices):
    CLV = "clv", "Predicted CLV"
    REVENUE = "revenue", "Historical revenue (CLV could not be computed)"


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic (saved conditions)"
    STATIC = "static", "Static list"
