from django.db import models


class LifecycleStage(models.TextChoices):
    SUBSCRIBER = "subscriber", "Subscriber"
    LEAD = "lead", "Lead"
    MARKETING_QUALIFIED = "marketing_qualified", "Marketing-qualified lead"
    SALES_QUALIFIED = "sales_qualified", "Sales-qualified lead"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    LOYAL = "loyal", "Loyal customer"
    ADVOCATE = "advocate", "Advocate"
    CHURNED = "churned", "Churned"


LEAD_STAGES = (
    LifecycleStage.SUBSCRIBER,
    LifecycleStage.LEAD,
    LifecycleStage.MARKETING_QUALIFIED,
    LifecycleStage.SALES_QUALIFIED,
)
CUSTOMER_STAGES = (LifecycleStage.CUSTOMER, LifecycleStage.LOYAL, LifecycleStage.ADVOCATE)


class ContactSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    WEB_FORM = "web_form", "Web form"
    IMPORT = "import", "Import"
    API = "api", "API"
    EMAIL = "email", "Inbound email"
    CAMPAIGN = "campaign", "Campaign"
    TRADE_SHOW = "trade_show", "Trade show"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social"
    REFERRAL = "referral", "Referral"
    OTHER = "other", "Other"


class ConsentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    POST = "post", "Post"
    MESSAGING = "messaging", "Messaging apps"


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"
    UNKNOWN = "unknown", "Not asked"


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"


class OrganizationSize(models.TextChoices):
    MICRO = "1-10", "1–10"
    SMALL = "11-50", "11–50"
    MEDIUM = "51-200", "51–200"
    LARGE = "201-1000", "201–1,000"
    ENTERPRISE = "1001+", "1,001+"


class RelationshipKind(models.TextChoices):
    """Read as: <from> is the <kind> of <to>."""

    PARENT = "parent", "Parent company of"
    PARTNER = "partner", "Partner of"
    SUPPLIER = "supplier", "Supplier to"
    DISTRIBUTOR = "distributor", "Distributor for"
    CUSTOMER = "customer", "Customer of"


class LabelKind(models.TextChoices):
    WORK = "work", "Work"
    HOME = "home", "Home"
    MOBILE = "mobile", "Mobile"
    OTHER = "other", "Other"
