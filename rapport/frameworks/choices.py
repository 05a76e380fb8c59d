from django.db import models


class SnapshotSource(models.TextChoices):
    DAILY = "daily", "Daily snapshot"
    BACKFILL = "backfill", "Backfilled from history"
    ON_DEMAND = "on_demand", "Measured on demand"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TargetKind(models.TextChoices):
    ABSOLUTE = "absolute", "Reach a value"
    CHANGE = "change", "Change by an amount (in the KPI's unit)"
    PERCENT = "percent", "Change by a percentage of the baseline"


class ObjectiveStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ACHIEVED = "achieved", "Achieved"
    MISSED = "missed", "Missed"
    ARCHIVED = "archived", "Archived"


class Track(models.TextChoices):
    ACHIEVED = "achieved", "Target reached"
    MISSED = "missed", "Missed"
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    OFF_TRACK = "off_track", "Off track"
    NO_DATA = "no_data", "Not enough data"


class AssessmentStatus(models.TextChoices):
    OPEN = "open", "Open for answers"
    COMPLETED = "completed", "Completed"
