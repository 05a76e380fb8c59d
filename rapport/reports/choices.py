from django.db import models


class Source(models.TextChoices):
    """The records a report counts."""

    CONTACTS = "contacts", "Contacts"
    LEADS = "leads", "Leads"
    ORGANIZATIONS = "organizations", "Organizations"
    DEALS = "deals", "Deals"
    ORDERS = "orders", "Orders"
    ORDER_LINES = "order_lines", "Order lines"
    TASKS = "tasks", "Tasks"
    INTERACTIONS = "interactions", "Interactions"


class Measure(models.TextChoices):
    COUNT = "count", "Number of records"
    SUM = "sum", "Sum"
    AVERAGE = "average", "Average"
    MIN = "min", "Minimum"
    MAX = "max", "Maximum"


class Period(models.TextChoices):
    """How a date is grouped."""

    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"


class Chart(models.TextChoices):
    BAR = "bar", "Bar"
    LINE = "line", "Line"
    AREA = "area", "Area"
    PIE = "pie", "Pie"
    DONUT = "donut", "Donut"
    FUNNEL = "funnel", "Funnel"
    TABLE = "table", "Table only"


# A pie, donut or funnel shows one grouping: a second one has no place in it.
ONE_GROUPING_CHARTS = frozenset({Chart.PIE, Chart.DONUT, Chart.FUNNEL})
