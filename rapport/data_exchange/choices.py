from django.db import models


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


class AliasKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    EXTERNAL_ID = "external_id", "External id"
    RECORD = "record", "Former record id"
    DOMAIN = "domain", "Web domain"


class ImportPolicy(models.TextChoices):
    SKIP = "skip", "Skip rows that match an existing record"
    UPDATE_EMPTY = "update_empty", "Fill in empty fields of the existing record"
    OVERWRITE = "overwrite", "Overwrite the existing record with the file's values"


class ImportStatus(models.TextChoices):
    NEW = "new", "Waiting to start"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    UNDOING = "undoing", "Undoing"
    UNDONE = "undone", "Undone"


class RowAction(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    SKIPPED = "skipped", "Skipped"
    ERROR = "error", "Error"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
