from django.db import models

# Part of the importer contract, which every app's importer uses: defined in core.
from rapport.core.importing import ImportPolicy, RowAction  # noqa: F401


class Entity(models.TextChoices):
    CONTACT = "contact", "Contacts"
    ORGANIZATION = "organization", "Organizations"


class MatchMethod(models.TextChoices):
    EXACT = "exact", "Exact"
    FUZZY = "fuzzy", "Fuzzy (similar text)"
    PHONETIC = "phonetic", "Sounds alike"


class MatchField(models.TextChoices):
    EXTERNAL_ID = "external_id", "External id"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    NAME = "name", "Name"
    ORGANIZATION = "organization", "Organization"
    DOMAIN = "domain", "Web domain"
    CITY = "city", "City"
    POSTCODE = "postcode", "Postcode"
    COUNTRY = "country", "Country"


class DuplicateStatus(models.TextChoices):
    PENDING = "pending", "To review"
    DISMISSED = "dismissed", "Not a duplicate"


class DetectionTrigger(models.TextChoices):
    """What started a duplicate-detection run (shown on the Duplicates page)."""

    MANUAL = "manual", "started by hand"
    IMPORT = "import", "after an import"
    DEMO = "demo", "after the demo was built"
    NIGHTLY = "nightly", "nightly run"


class AliasKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    EXTERNAL_ID = "external_id", "External id"
    RECORD = "record", "Former record id"
    DOMAIN = "domain", "Web domain"


class ImportStatus(models.TextChoices):
    NEW = "new", "Waiting to start"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    UNDOING = "undoing", "Undoing"
    UNDONE = "undone", "Undone"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
