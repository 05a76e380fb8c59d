from django.db import models


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class DealStatus(models.TextChoices):
    """Mirrors the kind of the deal's stage, kept on the deal so lists filter without a join."""

    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class TaskPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


class NotificationKind(models.TextChoices):
    TASK_REMINDER = "task_reminder", "Task reminder"
    TASK_ASSIGNED = "task_assigned", "Task assigned to you"
    LEAD_ASSIGNED = "lead_assigned", "Lead assigned to you"
    RECORD_ASSIGNED = "record_assigned", "Record assigned to you"
    ASSIGNMENT_BLOCKED = "assignment_blocked", "A rule could not place a record"
    MODEL_TRAINED = "model_trained", "Scoring model retrained"


class DecayAnchor(models.TextChoices):
    """The moment a scoring rule's points start to fade from."""

    NONE = "none", "Never decays"
    CREATED = "created", "When the lead was created"
    LAST_FORM_SUBMISSION = "last_form_submission", "The last form submission"
    LAST_INBOUND = "last_inbound", "The last inbound interaction"
    LAST_TOUCH = "last_touch", "The last interaction of any kind"


class ScoreBasis(models.TextChoices):
    MODEL = "model", "Learned model"
    RULES = "rules", "Rules"


class ModelStatus(models.TextChoices):
    READY = "ready", "Ready"
    INSUFFICIENT = "insufficient", "Too little history"
    FAILED = "failed", "Failed"


class AssignmentMethod(models.TextChoices):
    RULE_USER = "rule_user", "Rule → person"
    ROUND_ROBIN = "round_robin", "Rule → team round robin"
    KEPT = "kept", "Kept with current owner"
    FALLBACK = "fallback", "Fallback owner"
    MANUAL = "manual", "Assigned by hand"
    UNASSIGNED = "unassigned", "Nobody available"


class RecordKind(models.TextChoices):
    """What an assignment rule applies to. A contact in a lead stage is a lead; the other
    contacts (customers, partners …) are "contacts"."""

    LEAD = "lead", "Leads"
    CONTACT = "contact", "Contacts that are not leads"
    ORGANIZATION = "organization", "Organizations"
    DEAL = "deal", "Deals"
