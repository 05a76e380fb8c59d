"""What the learned lead score looks at, turned into numbers. Pure: no Django, NumPy arrays.

`LeadFacts` is one lead as the scoring code sees it. For training, the behaviour counts are
measured between the lead's entry and its outcome (conversion or the end of the window), never
after, so the model cannot learn from what happened because a lead converted.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "yandex.com",
        "t-online.de",
        "orange.fr",
        "free.fr",
        "libero.it",
    }
)
ORG_SIZE_ORDER = {"1-10": 1, "11-50": 2, "51-200": 3, "201-1000": 4, "1001+": 5}
EXECUTIVE = re.compile(
    r"\b(chief|ceo|cto|cfo|coo|cmo|cio|founder|co-founder|owner|president|vp|vice president|"
    r"director|head|partner|managing director|geschäftsführer|gerente general)\b",
    re.IGNORECASE,
)
MANAGER = re.compile(r"\b(manager|lead|principal|supervisor|leiter|leiterin)\b", re.IGNORECASE)
TOP_COUNTRIES = 12
TOP_INDUSTRIES = 10
TOP_SOURCES = 12


@dataclass
class LeadFacts:
    """One lead: its attributes and its behaviour up to `as_of`."""

    contact_id: int
    as_of: dt.datetime
    job_title: str = ""
    country: str = ""
    region: str = ""
    postcode: str = ""
    city: str = ""
    source: str = ""
    source_detail: str = ""
    lifecycle_stage: str = ""
    email_domain: str = ""
    has_email: bool = False
    has_phone: bool = False
    organization_size: str = ""
    industry: str = ""
    has_organization: bool = False
    products: tuple[str, ...] = ()
    custom_fields: dict = field(default_factory=dict)
    created_at: dt.datetime | None = None
    lead_since: dt.datetime | None = None
    form_submissions: int = 0
    inbound_interactions: int = 0
    interactions: int = 0
    meetings: int = 0
    last_form_submission_at: dt.datetime | None = None
    last_inbound_at: dt.datetime | None = None
    last_touch_at: dt.datetime | None = None
    score: int | None = None
    owner_id: int | None = None

    def days_since(self, moment: dt.datetime | None) -> float | None:
        if moment is None:
            return None
        return max(0.0, (self.as_of - moment).total_seconds() / 86400.0)

    @property
    def is_business_email(self) -> bool:
        return bool(self.email_domain) and self.email_domain not in FREE_MAIL

    @property
    def seniority(self) -> str:
        if EXECUTIVE.search(self.job_title or ""):
            return "executive"
        if MANAGER.search(self.job_title or ""):
            return "manager"
        return "other" if self.job_title else ""


@dataclass(frozen=True)
class Vocabulary:
    """The category values the model knows, learned from its training leads."""

    sources: tuple[str, ...]
    countries: tuple[str, ...]
    industries: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "sources": list(self.sources),
            "countries": list(self.countries),
            "industries": list(self.industries),
        }

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        return cls(
            sources=tuple(data.get("sources", ())),
            countries=tuple(data.get("countries", ())),
            industries=tuple(data.get("industries", ())),
        )


def learn_vocabulary(leads: Sequence[LeadFacts]) -> Vocabulary:
    """The most common sources, countries and industries (rarer ones share an 'other' column)."""

    def top(values, n):
        counts = Counter(v for v in values if v)
        return tuple(sorted(v for v, _ in counts.most_common(n)))

    return Vocabulary(
        sources=top((lead.source for lead in leads), TOP_SOURCES),
        countries=top((lead.country.upper() for lead in leads), TOP_COUNTRIES),
        industries=top((lead.industry.casefold() for lead in leads), TOP_INDUSTRIES),
    )


def feature_names(vocabulary: Vocabulary) -> list[str]:
    names = [
        "title_executive",
        "title_manager",
        "has_job_title",
        "has_email",
        "business_email",
        "has_phone",
        "has_organization",
        "organization_size",
        "log_form_submissions",
        "log_inbound_interactions",
        "log_interactions",
        "log_meetings",
        "log_products_of_interest",
    ]
    names += [f"source={value}" for value in vocabulary.sources]
    names += [f"country={value}" for value in vocabulary.countries] + ["country=other"]
    names += [f"industry={value}" for value in vocabulary.industries] + ["industry=other"]
    return names


_LABELS = {
    "title_executive": "Senior job title (director, head, C-level)",
    "title_manager": "Manager-level job title",
    "has_job_title": "Job title given",
    "has_email": "Has an email address",
    "business_email": "Business email domain",
    "has_phone": "Has a phone number",
    "has_organization": "Linked to an organization",
    "organization_size": "Organization size",
    "log_form_submissions": "Form submissions",
    "log_inbound_interactions": "Inbound interactions (replies, calls in)",
    "log_interactions": "Interactions of any kind",
    "log_meetings": "Meetings",
    "log_products_of_interest": "Products of interest",
}


# A contact's source as the contact forms name it (ContactSource; this module has no Django).
SOURCE_LABELS = {
    "manual": "Entered by hand",
    "web_form": "Web form",
    "import": "Import",
    "api": "API",
    "email": "Inbound email",
    "campaign": "Campaign",
    "trade_show": "Trade show",
    "chat": "Chat",
    "social": "Social",
    "referral": "Referral",
    "other": "Other",
}
# A lead's source said of that lead: (it came from there, it did not).
_SOURCE_REASONS = {
    "manual": ("Entered by hand", "Not entered by hand"),
    "web_form": ("Came in through a web form", "Not from a web form"),
    "import": ("Came from an imported list", "Not from an imported list"),
    "api": ("Came in through the API", "Not from the API"),
    "email": ("Wrote in by email", "Not from an inbound email"),
    "campaign": ("Came from a campaign", "Not from a campaign"),
    "trade_show": ("Met at a trade show", "Not from a trade show"),
    "chat": ("Came in through chat", "Not from chat"),
    "social": ("Came from social media", "Not from social media"),
    "referral": ("Referred to us", "Not referred"),
    "other": ("Came from an unlisted source", "Not from an unlisted source"),
}


@functools.cache
def country_name(code: str) -> str:
    """A country's English name from its two-letter code (the code itself when unknown)."""
    from babel import Locale

    code = (code or "").upper()
    return Locale("en").territories.get(code, code)


# Countries whose English name takes "the" after "in".
_WITH_THE = frozenset({"AE", "BS", "CF", "DO", "FO", "GB", "KY", "MH", "NL", "PH", "SB", "US"})


def _in_country(code: str, words: str = "In") -> str:
    code = (code or "").upper()
    the = "the " if code in _WITH_THE else ""
    return f"{words} {the}{country_name(code)}"


def feature_label(name: str) -> str:
    """Words for a feature itself (the model page's weights), not for one lead's value of it."""
    if name in _LABELS:
        return _LABELS[name]
    column, _, value = name.partition("=")
    if column == "source":
        return f"Source: {SOURCE_LABELS.get(value, value.replace('_', ' '))}"
    if column == "country":
        return "Country: any other" if value == "other" else f"Country: {country_name(value)}"
    if column == "industry":
        return "Industry: any other" if value == "other" else f"Industry: {value}"
    return name


# What a lead has, said of that lead: (when the feature is 1, when it is 0).
_HAS = {
    "title_executive": ("Senior job title", "No senior job title"),
    "title_manager": ("Manager-level job title", "No manager-level job title"),
    "has_job_title": ("Job title given", "No job title"),
    "has_email": ("Email address given", "No email address"),
    "business_email": ("Business email domain", "No business email domain"),
    "has_phone": ("Phone number given", "No phone number"),
    "has_organization": ("Works at a known organization", "No organization"),
}
# Counts stored as log1p(n): (one, many, none).
_COUNTED = {
    "log_form_submissions": ("form submission", "form submissions"),
    "log_inbound_interactions": ("inbound interaction", "inbound interactions"),
    "log_interactions": ("interaction", "interactions"),
    "log_meetings": ("meeting", "meetings"),
    "log_products_of_interest": ("product of interest", "products of interest"),
}
_SIZE_NAMES = {rank: size for size, rank in ORG_SIZE_ORDER.items()}


def reason_label(
    name: str, value: float, *, has_email: bool = True, lead: LeadFacts | None = None
) -> str:
    """A feature's part in one lead's score, in words about that lead.

    `value` is the lead's own value of the feature (its column in `build_matrix`), so a lead
    without a job title reads "No job title", never "Job title given" with a negative weight.
    With the `lead` itself a reason can also say what the lead has instead (its country when a
    country column is 0, "No country given" when it has none).
    """
    present = value > 0.5
    if lead is not None:
        has_email = lead.has_email
    if name == "business_email" and not present and has_email:
        return "Free email domain"
    if name == "organization_size" and round(value) == 0:
        if lead is not None and not lead.has_organization:
            return "No organization"
        return "Organization size unknown"
    if name in _HAS:
        return _HAS[name][0 if present else 1]
    if name in _COUNTED:
        count = round(math.expm1(value))
        one, many = _COUNTED[name]
        if count == 0:
            return f"No {many}"
        return f"1 {one}" if count == 1 else f"{count} {many}"
    if name == "organization_size":
        size = _SIZE_NAMES.get(round(value))
        return f"Organization of {size} people" if size else "Organization size unknown"
    column, _, option = name.partition("=")
    if column == "source":
        words = _SOURCE_REASONS.get(option)
        if words is None:
            label = option.replace("_", " ")
            words = (f"Came from {label}", f"Not from {label}")
        return words[0 if present else 1]
    if column == "country":
        own = (lead.country or "").upper() if lead is not None else None
        if own == "" and not present:
            return "No country given"
        if option == "other":
            if present:
                if not own:
                    return "In another country"
                return f"{_in_country(own)}, a less common country"
            return "In one of the main countries"
        return _in_country(option) if present else _in_country(option, "Not in")
    if column == "industry":
        own = (lead.industry or "").casefold() if lead is not None else None
        if own == "" and not present:
            return "No industry known"
        if option == "other":
            if present:
                return f"Industry: {own}, a less common one" if own else "In another industry"
            return "In one of the main industries"
        return f"Industry: {option}" if present else f"Not in {option}"
    return feature_label(name)


def build_matrix(leads: Sequence[LeadFacts], vocabulary: Vocabulary) -> np.ndarray:
    """One row per lead, one column per `feature_names(vocabulary)`, as float64."""
    names = feature_names(vocabulary)
    column = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(leads), len(names)), dtype=float)
    countries = set(vocabulary.countries)
    industries = set(vocabulary.industries)
    for row, lead in enumerate(leads):
        values = matrix[row]
        seniority = lead.seniority
        values[column["title_executive"]] = seniority == "executive"
        values[column["title_manager"]] = seniority == "manager"
        values[column["has_job_title"]] = bool(lead.job_title)
        values[column["has_email"]] = lead.has_email
        values[column["business_email"]] = lead.is_business_email
        values[column["has_phone"]] = lead.has_phone
        values[column["has_organization"]] = lead.has_organization
        values[column["organization_size"]] = ORG_SIZE_ORDER.get(lead.organization_size, 0)
        values[column["log_form_submissions"]] = math.log1p(max(lead.form_submissions, 0))
        values[column["log_inbound_interactions"]] = math.log1p(max(lead.inbound_interactions, 0))
        values[column["log_interactions"]] = math.log1p(max(lead.interactions, 0))
        values[column["log_meetings"]] = math.log1p(max(lead.meetings, 0))
        values[column["log_products_of_interest"]] = math.log1p(len(lead.products))
        source_column = column.get(f"source={lead.source}")
        if source_column is not None:
            values[source_column] = 1.0
        country = (lead.country or "").upper()
        if country:
            key = f"country={country}" if country in countries else "country=other"
            values[column[key]] = 1.0
        industry = (lead.industry or "").casefold()
        if industry:
            key = f"industry={industry}" if industry in industries else "industry=other"
            values[column[key]] = 1.0
    return matrix
