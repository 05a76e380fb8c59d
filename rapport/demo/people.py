"""The first demo part: the staff, their roles and teams, custom fields, organizations, contacts.

Everything is created through the real services, so the demo data obeys the same rules as data
a user enters (normalized emails and phones, audit records, events). The services stamp "now" on
what they create; the demo then moves the business's own dates (when a contact arrived, when it
changed stage, when consent was given) into the past so two years of history exist. The audit
records are left as they are: they truthfully say the demo loader wrote them today.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field

import phonenumbers
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils.text import slugify

from rapport.accounts import services as accounts
from rapport.accounts.models import Role, Team, User
from rapport.contacts import services as contacts
from rapport.contacts.models import Consent, Contact, LifecycleChange, Organization
from rapport.customfields import services as customfields
from rapport.customfields.choices import Entity, FieldType
from rapport.customfields.models import CustomFieldDefinition
from rapport.demo import vocabulary as words
from rapport.demo.context import (
    HISTORY_DAYS,
    MARKETING,
    ROLE_ADMINISTRATOR,
    ROLE_MANAGER,
    ROLE_MARKETER,
    ROLE_READ_ONLY,
    ROLE_SALES_REP,
    ROLE_SERVICE_AGENT,
    SALES_NORTH,
    SALES_SOUTH,
    SERVICE,
    DemoContext,
)
from rapport.demo.promise import lead_promise, odds
from rapport.interactions.services import log_interactions

ROLES = {
    ROLE_ADMINISTRATOR: dict(
        name="Administrator",
        is_admin=True,
        scopes={},
        description="Manages users, roles, teams and custom fields; sees everything.",
    ),
    ROLE_SALES_REP: dict(
        name="Sales rep",
        scopes={"contacts": "team", "sales": "team", "service": "own", "marketing": "own"},
        description="Works the team's contacts and deals.",
    ),
    ROLE_MARKETER: dict(
        name="Marketer",
        scopes={"contacts": "all", "marketing": "all", "sales": "own", "analytics": "all"},
        description="Builds segments and campaigns across all contacts.",
    ),
    ROLE_SERVICE_AGENT: dict(
        name="Service agent",
        scopes={"contacts": "all", "service": "team", "sales": "own"},
        description="Answers customers; sees every contact, works the team's tickets.",
    ),
    ROLE_MANAGER: dict(
        name="Manager",
        is_read_only=True,
        scopes={
            "contacts": "all",
            "sales": "all",
            "service": "all",
            "marketing": "all",
            "analytics": "all",
        },
        description="Reads everything to steer the business; changes nothing.",
    ),
    ROLE_READ_ONLY: dict(
        name="Read-only",
        is_read_only=True,
        scopes={"contacts": "team", "sales": "team"},
        description="Looks up the team's records without changing them.",
    ),
}

TEAMS = {
    SALES_NORTH: ("Sales North", "sales", "Germany, the UK, the Netherlands, Sweden, the US."),
    SALES_SOUTH: ("Sales South", "sales", "France, Spain, Italy, Austria, Switzerland."),
    MARKETING: ("Marketing", "marketing", "Campaigns, events and the newsletter."),
    SERVICE: ("Service", "service", "Onboarding and customer support."),
}

# (role key, team keys) of the twelve staff beside the administrator; names in STAFF_NAMES.
STAFF = [
    (ROLE_SALES_REP, [SALES_NORTH]),
    (ROLE_SALES_REP, [SALES_NORTH]),
    (ROLE_SALES_REP, [SALES_NORTH]),
    (ROLE_SALES_REP, [SALES_SOUTH]),
    (ROLE_SALES_REP, [SALES_SOUTH]),
    (ROLE_SALES_REP, [SALES_SOUTH]),
    (ROLE_MARKETER, [MARKETING]),
    (ROLE_MARKETER, [MARKETING]),
    (ROLE_SERVICE_AGENT, [SERVICE]),
    (ROLE_SERVICE_AGENT, [SERVICE]),
    (ROLE_MANAGER, [SALES_NORTH, SALES_SOUTH]),
    (ROLE_READ_ONLY, [SALES_NORTH]),
]
STAFF_NAMES = [
    ("Lena", "Hoffmann"),
    ("Oliver", "Brooks"),
    ("Maarten", "de Vries"),
    ("Camille", "Laurent"),
    ("Javier", "Ortega"),
    ("Giulia", "Ferraro"),
    ("Priya", "Raman"),
    ("Tom", "Becker"),
    ("Sofia", "Lindqvist"),
    ("Daniel", "Weber"),
    ("Hannah", "Keller"),
    ("Marco", "Bianchi"),
]

CONTACT_FIELDS = [
    dict(
        key="preferred_language",
        label="Preferred language",
        field_type=FieldType.CHOICE,
        choices=words.LANGUAGES,
        position=10,
    ),
    dict(
        key="newsletter_topics",
        label="Newsletter topics",
        field_type=FieldType.MULTI_CHOICE,
        choices=words.NEWSLETTER_TOPICS,
        position=20,
    ),
    dict(
        key="customer_since",
        label="Customer since",
        field_type=FieldType.DATE,
        help_text="The day of the first order.",
        position=30,
    ),
]
ORGANIZATION_FIELDS = [
    dict(
        key="annual_budget",
        label="Annual budget",
        field_type=FieldType.DECIMAL,
        help_text="Their yearly IT budget in EUR, as they told us.",
        min_value=0,
        position=10,
    ),
    dict(
        key="key_account",
        label="Key account",
        field_type=FieldType.BOOLEAN,
        default=False,
        position=20,
    ),
]


def weighted(ctx: DemoContext, pairs):
    """One value from [(value, weight), ...]."""
    values, weights = zip(*pairs, strict=True)
    return ctx.rng.choices(values, weights=weights, k=1)[0]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _phone(ctx: DemoContext, country: str, *, mobile: bool) -> str:
    """A valid number in `country`'s plan: its example number with random trailing digits."""
    kind = (
        phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    )
    example = phonenumbers.example_number_for_type(country, kind) or (
        phonenumbers.example_number(country)
    )
    national = str(example.national_number)
    keep = max(2, len(national) - 6)
    for _ in range(25):
        digits = national[:keep] + "".join(
            str(ctx.rng.randrange(10)) for _ in range(len(national) - keep)
        )
        candidate = phonenumbers.parse(f"+{example.country_code}{digits}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _street(faker) -> str:
    return " ".join(faker.street_address().split())[:200]


def _fill(ctx: DemoContext, template: str, **known) -> str:
    values = {
        "first": "",
        "company": "the company",
        "product": ctx.rng.choice(words.PRODUCTS),
        "seats": ctx.rng.choice([10, 15, 25, 40, 60, 120, 250]),
        "weekday": ctx.rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]),
        "me": "",
        **known,
    }
    return template.format(**values)


# -- staff ----------------------------------------------------------------------------------


def _ensure_role(ctx: DemoContext, key: str, actor) -> Role:
    spec = ROLES[key]
    role = Role.objects.filter(name=spec["name"]).first()
    if role is None:
        role = accounts.create_role(actor=actor, **spec)
    return role


def _ensure_team(ctx: DemoContext, key: str) -> Team:
    name, kind, description = TEAMS[key]
    team = Team.objects.filter(name=name).first()
    if team is None:
        team = accounts.create_team(actor=ctx.admin, name=name, kind=kind, description=description)
    return team


def ensure_administrator(*, username: str, password: str) -> tuple[User, bool]:
    """The demo administrator, created when missing. Returns (user, created)."""
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing, False
    role = Role.objects.filter(name=ROLES[ROLE_ADMINISTRATOR]["name"]).first()
    if role is None:
        # Nobody can administer yet, so the first role and user are created by the system.
        role = accounts.create_role(actor=None, **ROLES[ROLE_ADMINISTRATOR])
    user = accounts.create_user(
        actor=None,
        username=username,
        email=f"{slugify(username) or 'demo'}@{words.STAFF_DOMAIN}",
        password=password,
        role=role,
        first_name="Alex",
        last_name="Morgan",
    )
    return user, True


def build_staff(ctx: DemoContext, password: str) -> None:
    """Roles, teams and the twelve people who work at the demo company."""
    for key in ROLES:
        ctx.roles[key] = _ensure_role(ctx, key, ctx.admin)
    for key in TEAMS:
        ctx.teams[key] = _ensure_team(ctx, key)
        ctx.team_members.setdefault(key, [])
    new_staff = []
    for (role_key, team_keys), (first, last) in zip(STAFF, STAFF_NAMES, strict=True):
        username = _ascii(f"{first}.{last}".replace(" ", "")).lower()
        user = User.objects.filter(username=username).first()
        if user is None:
            user = accounts.create_user(
                actor=ctx.admin,
                username=username,
                email=f"{username}@{words.STAFF_DOMAIN}",
                role=ctx.roles[role_key],
                teams=[ctx.teams[k] for k in team_keys],
                first_name=first,
                last_name=last,
                open_lead_capacity=60 if role_key == ROLE_SALES_REP else None,
            )
            new_staff.append(user.pk)
        ctx.users.append(user)
        # Only people who work records (not the manager or the read-only seat) own them.
        if role_key not in (ROLE_MANAGER, ROLE_READ_ONLY):
            for key in team_keys:
                ctx.team_members[key].append(user)
    if new_staff:
        # One shared password, hashed once: a PBKDF2 hash costs about a third of a second.
        validate_password(password)
        User.objects.filter(pk__in=new_staff).update(password=make_password(password))
    ctx.extras["manager"] = next(
        u for u, (role, _t) in zip(ctx.users, STAFF, strict=True) if role == ROLE_MANAGER
    )


def build_custom_fields(ctx: DemoContext) -> None:
    """The demo's custom fields, defined once (a second run finds them and adds nothing)."""
    for entity, specs in (
        (Entity.CONTACT, CONTACT_FIELDS),
        (Entity.ORGANIZATION, ORGANIZATION_FIELDS),
    ):
        for spec in specs:
            if not CustomFieldDefinition.objects.filter(entity=entity, key=spec["key"]).exists():
                customfields.create_definition(actor=ctx.admin, entity=entity, **spec)


# -- organizations --------------------------------------------------------------------------


def _territory_team(country: str) -> str:
    return SALES_NORTH if words.COUNTRIES[country][2] == "north" else SALES_SOUTH


def _domain_for(name: str, tld: str, taken: set[str]) -> str:
    parts = [p for p in slugify(_ascii(name)).split("-") if p and p not in words.LEGAL_SUFFIXES]
    stem = "-".join(parts[:2]) or "company"
    domain = f"{stem}.{tld}"
    counter = 2
    while domain in taken:
        domain = f"{stem}{counter}.{tld}"
        counter += 1
    taken.add(domain)
    return domain


def company_name(ctx: DemoContext, country: str, industry: str, taken: set[str]) -> str:
    """A name that reads like a company of that country and industry, unique in this demo:
    "Hoffmann Logistik GmbH", "Northwind Retail Ltd", "Laurent & Martin SAS"."""
    faker = ctx.faker[words.COUNTRIES[country][0]]
    language = words.ORG_LANGUAGE.get(country, "en")
    sectors = words.SECTOR_WORDS.get(industry, {})
    sector_words = sectors.get(language) or sectors.get("en") or ["Group"]
    name = ""
    for attempt in range(30):
        form = weighted(ctx, words.ORG_FORMS[country])
        roll = ctx.rng.random()
        surname = faker.last_name().split()[-1] if attempt < 20 else faker.last_name()
        sector = ctx.rng.choice(sector_words)
        if roll < 0.5:
            name = f"{surname} {sector} {form}"
        elif roll < 0.8:
            name = f"{ctx.rng.choice(words.BRANDS[country])} {sector} {form}"
        else:
            other = faker.last_name().split()[-1]
            name = f"{surname} & {other} {form}" if other != surname else f"{surname} {form}"
        if language == "es" and roll < 0.5:
            name = f"{sector} {surname} {form}"  # "Logística Ortega S.L."
        if name.lower() not in taken:
            break
    taken.add(name.lower())
    return name[:200]


def build_organizations(ctx: DemoContext) -> None:
    """Organizations across countries, industries and sizes, owned by the territory's reps."""
    count = max(12, ctx.scale // 8)
    countries = [(code, spec[1]) for code, spec in words.COUNTRIES.items()]
    taken = set(Organization.objects.values_list("domain", flat=True))
    # Unique within this run (not against the database, so a seed builds the same names again).
    names: set[str] = set()
    created_at: dict[int, dt.datetime] = {}
    with ctx.progress("Organizations", count) as advance:
        for start in range(0, count, ctx.batch_size):
            with transaction.atomic():
                for _ in range(start, min(count, start + ctx.batch_size)):
                    country = weighted(ctx, countries)
                    faker = ctx.faker[words.COUNTRIES[country][0]]
                    industry = weighted(ctx, words.INDUSTRIES)
                    name = company_name(ctx, country, industry, names)
                    domain = _domain_for(name, words.COUNTRIES[country][4], taken)
                    size = weighted(ctx, [(s, spec[0]) for s, spec in words.SIZES.items()])
                    _w, low, high = words.SIZES[size]
                    budget = round(ctx.rng.uniform(low, high), -2)
                    owner = ctx.pick_user(_territory_team(country))
                    tags = []
                    if ctx.rng.random() < 0.35:
                        tags.append(weighted(ctx, words.ORGANIZATION_TAGS))
                    is_key = size in ("201-1000", "1001+") and ctx.rng.random() < 0.4
                    if is_key:
                        tags.append("Key account")
                    org = contacts.create_organization(
                        actor=owner,
                        name=name,
                        owner=owner,
                        domain=domain,
                        website=f"https://www.{domain}/",
                        industry=industry,
                        size=size,
                        phone=_phone(ctx, country, mobile=False),
                        street=_street(faker),
                        city=faker.city()[:100],
                        postcode=faker.postcode()[:20],
                        country=country,
                        tags=tags,
                        custom_fields={
                            "annual_budget": f"{budget:.2f}" if ctx.rng.random() < 0.7 else None,
                            "key_account": is_key,
                        },
                    )
                    # Older accounts are the bigger ones: they have had time to grow with us.
                    created_at[org.pk] = ctx.moment(HISTORY_DAYS, 20)
                    ctx.organizations.append(org)
                    advance(1)
            _backdate(Organization, created_at)
            created_at.clear()
    _build_relationships(ctx)


def _build_relationships(ctx: DemoContext) -> None:
    """Groups (parent and subsidiaries), partners, suppliers and distributors: the network."""
    orgs = ctx.organizations
    if len(orgs) < 4:
        return
    big = [o for o in orgs if o.size in ("201-1000", "1001+")]
    small = [o for o in orgs if o.size not in ("201-1000", "1001+")]
    pairs = []
    # A company has one parent: each subsidiary is taken once.
    taken: set[int] = set()
    for parent in ctx.rng.sample(big, k=min(len(big), max(1, len(orgs) // 25))):
        same_country = [
            o
            for o in small
            if o.country == parent.country and o is not parent and o.pk not in taken
        ]
        for child in ctx.rng.sample(same_country, k=min(len(same_country), ctx.rng.randint(1, 3))):
            taken.add(child.pk)
            pairs.append((parent, child, "parent", ""))
    for kind, notes, share in (
        ("partner", words.PARTNER_NOTES, 40),
        ("supplier", words.SUPPLIER_NOTES, 30),
        ("distributor", ["Regional distributor"], 80),
    ):
        for _ in range(max(1, len(orgs) // share)):
            a, b = ctx.rng.sample(orgs, 2)
            pairs.append((a, b, kind, ctx.rng.choice(notes)))
    with ctx.progress("Relationships", len(pairs)) as advance, transaction.atomic():
        for a, b, kind, note in pairs:
            contacts.add_relationship(
                actor=a.owner or ctx.admin,
                from_organization=a,
                to_organization=b,
                kind=kind,
                note=note,
            )
            advance(1)


# -- contacts -------------------------------------------------------------------------------


# Final stages a contact reaches only by becoming an opportunity: the lead converted.
BOUGHT = frozenset({"opportunity", "customer", "loyal", "advocate", "churned"})


@dataclass
class Story:
    """One contact's history: its path through the lifecycle and when each step happened."""

    final_stage: str
    created_at: dt.datetime
    steps: list[tuple[str, dt.datetime]] = field(default_factory=list)

    @property
    def stage_at_creation(self) -> str:
        return self.steps[0][0]

    def stage_on(self, moment: dt.datetime) -> str:
        stage = self.steps[0][0]
        for name, at in self.steps:
            if at <= moment:
                stage = name
        return stage

    def reached(self, stage: str) -> dt.datetime | None:
        return next((at for name, at in self.steps if name == stage), None)


def _path(ctx: DemoContext, final: str) -> list[str]:
    if final == "churned":
        end = words.FUNNEL.index(ctx.rng.choice(["customer", "customer", "loyal"]))
        path = [*words.FUNNEL[: end + 1], "churned"]
    else:
        path = words.FUNNEL[: words.FUNNEL.index(final) + 1]
    # Most people arrive as leads; only newsletter sign-ups start as subscribers.
    if path[0] == "subscriber" and len(path) > 1 and ctx.rng.random() < 0.7:
        path = path[1:]
    # Some qualified leads skip marketing qualification (sales found them directly).
    if (
        "marketing_qualified" in path
        and path[-1] != "marketing_qualified"
        and ctx.rng.random() < 0.3
    ):
        path.remove("marketing_qualified")
    return path


def sales_cycle(size: str | None) -> tuple[int, int]:
    """Days from opportunity to signature for a buyer of that organization size (None: a person
    buying for themselves)."""
    shape = words.DEAL_SHAPE.get(size or "", words.INDIVIDUAL_SHAPE)
    return shape[3], shape[4]


def _story(ctx: DemoContext, size: str | None = None, promise: float = 0.0) -> Story:
    # A promising lead is likelier to end up buying (and a poor one to stay a lead).
    tilt = odds(promise)
    final = weighted(
        ctx,
        [(stage, w * tilt if stage in BOUGHT else w) for stage, w in words.FINAL_STAGES],
    )
    path = _path(ctx, final)
    cycle_low, cycle_high = sales_cycle(size)
    # Time the whole path needs, with each stage's dwell time drawn around its typical value;
    # an opportunity takes the sales cycle of the buyer's size.
    gaps = [
        ctx.rng.uniform(cycle_low, cycle_high)
        if stage == "opportunity"
        else words.STAGE_DWELL_DAYS.get(stage, 60) * ctx.rng.uniform(0.3, 1.8)
        for stage in path[:-1]
    ]
    needed = sum(gaps)
    # More contacts arrive recently (the business grows), but a long path needs an early start.
    earliest = min(HISTORY_DAYS, needed * 1.1 + 3)
    days_ago = earliest + (HISTORY_DAYS - earliest) * (ctx.rng.random() ** 1.6)
    if ctx.rng.random() < 0.5:
        days_ago = max(earliest, min(HISTORY_DAYS, days_ago * ctx.rng.uniform(0.4, 1.0)))
    if final == "opportunity":
        # Still in play: the opportunity is younger than a slow cycle of its size (an older one
        # would have been decided by now).
        days_ago = min(HISTORY_DAYS, needed + ctx.rng.uniform(2, cycle_high * 1.1))
    created = ctx.moment(days_ago, max(0.0, days_ago - 1))
    available = (ctx.now - created).total_seconds() / 86400
    if needed > available * 0.95 and needed > 0:
        gaps = [g * available * 0.95 / needed for g in gaps]
    steps = [(path[0], created)]
    at = created
    for stage, gap in zip(path[1:], gaps, strict=True):
        at = min(ctx.now, at + dt.timedelta(days=gap, hours=ctx.rng.uniform(0, 8)))
        steps.append((stage, at))
    return Story(final_stage=final, created_at=created, steps=steps)


def _contact_owner(ctx: DemoContext, story: Story, organization: Organization | None, country: str):
    stage = story.final_stage
    if stage in ("subscriber", "lead"):
        if ctx.rng.random() < 0.12:
            return None  # waiting in the unassigned-leads queue
        return (
            ctx.pick_user(MARKETING)
            if ctx.rng.random() < 0.5
            else ctx.pick_user(_territory_team(country))
        )
    if stage == "marketing_qualified":
        return ctx.pick_user(MARKETING)
    if organization is not None and organization.owner is not None and ctx.rng.random() < 0.8:
        return organization.owner
    return ctx.pick_user(_territory_team(country))


def _tags_for(ctx: DemoContext, story: Story) -> list[str]:
    tags = set()
    for _ in range(ctx.rng.choice([0, 0, 1, 1, 1, 2, 2, 3])):
        tags.add(weighted(ctx, words.TAGS))
    if story.final_stage == "advocate":
        tags.add("Reference customer")
    if story.final_stage == "churned":
        tags.discard("Upsell potential")
    return sorted(tags)


def _email_for(ctx: DemoContext, first: str, last: str, domain: str | None, faker) -> str:
    first_part = slugify(_ascii(first)).replace("-", "") or "info"
    last_part = slugify(_ascii(last)).replace("-", "") or "contact"
    if domain:
        pattern = ctx.rng.choice(["{f}.{l}", "{f}.{l}", "{i}{l}", "{f}"])
        local = pattern.format(f=first_part, l=last_part, i=first_part[0])
        return f"{local}@{domain}"
    suffix = ctx.rng.choice(["", "", str(ctx.rng.randint(1, 99)), str(ctx.rng.randint(1960, 2002))])
    return f"{first_part}.{last_part}{suffix}@{faker.free_email_domain()}"


def build_contacts(ctx: DemoContext) -> None:
    """Contacts with a believable funnel, each with its dated stage history and timeline."""
    employers = ctx.organizations
    weights = [
        {"1-10": 1, "11-50": 2, "51-200": 4, "201-1000": 7, "1001+": 10}.get(o.size, 1)
        for o in employers
    ]
    countries = [(code, spec[1]) for code, spec in words.COUNTRIES.items()]
    for stage, _weight in words.FINAL_STAGES:
        ctx.contacts_by_stage.setdefault(stage, [])
    with ctx.progress("Contacts and timelines", ctx.scale) as advance:
        for start in range(0, ctx.scale, ctx.batch_size):
            with transaction.atomic():
                for _ in range(start, min(ctx.scale, start + ctx.batch_size)):
                    _one_contact(ctx, employers, weights, countries)
                    advance(1)


def _one_contact(ctx: DemoContext, employers, weights, countries) -> Contact:
    # The employer is drawn first: the size of the company sets the length of its sales cycle.
    b2b_roll, subscriber_roll = ctx.rng.random(), ctx.rng.random()
    organization = (
        ctx.rng.choices(employers, weights=weights, k=1)[0]
        if employers and b2b_roll < 0.85
        else None
    )
    # What the lead is like comes first: it tilts how far along the funnel it gets.
    source = weighted(ctx, words.SOURCES)
    job_title = weighted(ctx, words.JOB_TITLES) if organization else ""
    wants_phone = ctx.rng.random() < (0.75 if organization else 0.4)
    size = organization.size if organization else None
    promise = lead_promise(source=source, job_title=job_title, has_phone=wants_phone)
    story = _story(ctx, size, promise)
    if story.final_stage == "subscriber" and subscriber_roll >= 0.4:
        organization, job_title = None, ""  # most newsletter subscribers sign up privately
    country = organization.country if organization else weighted(ctx, countries)
    faker = ctx.faker[words.COUNTRIES[country][0]]
    first, last = faker.first_name()[:100], faker.last_name()[:100]
    emails = []
    if organization or ctx.rng.random() < 0.9:
        emails.append(
            {
                "email": _email_for(
                    ctx, first, last, organization.domain if organization else None, faker
                ),
                "label": "work" if organization else "home",
                "is_primary": True,
            }
        )
    if organization and ctx.rng.random() < 0.12:
        emails.append({"email": _email_for(ctx, first, last, None, faker), "label": "home"})
    phones = []
    if wants_phone:
        phones.append(
            {
                "number": _phone(ctx, country, mobile=not organization or ctx.rng.random() < 0.4),
                "label": "work" if organization else "mobile",
                "is_primary": True,
            }
        )
        if organization and ctx.rng.random() < 0.2:
            phones.append({"number": _phone(ctx, country, mobile=True), "label": "mobile"})
    if story.stage_at_creation == "subscriber":
        source = ctx.rng.choice(["web_form", "campaign", "social"])
    owner = _contact_owner(ctx, story, organization, country)
    language = words.COUNTRIES[country][3]
    customer_day = story.reached("customer")
    custom = {
        "preferred_language": language
        if ctx.rng.random() < 0.85
        else ctx.rng.choice(words.LANGUAGES),
        "customer_since": customer_day.date().isoformat() if customer_day else None,
    }
    wants_newsletter = bool(emails) and (
        story.stage_at_creation == "subscriber" or ctx.rng.random() < 0.35
    )
    if wants_newsletter:
        custom["newsletter_topics"] = ctx.rng.sample(
            words.NEWSLETTER_TOPICS, k=ctx.rng.randint(1, 3)
        )
    address = {}
    if not organization or ctx.rng.random() < 0.3:
        address = {
            "street": _street(faker),
            "city": faker.city()[:100],
            "postcode": faker.postcode()[:20],
        }
    creator = owner or ctx.pick_user(MARKETING)
    contact = contacts.create_contact(
        actor=creator,
        first_name=first,
        last_name=last,
        job_title=job_title,
        emails=emails,
        phones=phones,
        organization=organization,
        organization_role=ctx.rng.choice(
            ["", "", "Main contact", "Billing", "Technical contact", "Decision maker"]
        )
        if organization
        else "",
        lifecycle_stage=story.stage_at_creation,
        owner=owner,
        tags=_tags_for(ctx, story),
        custom_fields=custom,
        source=source,
        source_detail=ctx.rng.choice(words.SOURCE_DETAILS.get(source, [""])),
        country=country,
        **address,
    )
    for stage, _at in story.steps[1:]:
        contacts.set_lifecycle_stage(
            actor=owner or creator,
            contact=contact,
            stage=stage,
            reason=ctx.rng.choice(words.STAGE_REASONS.get(stage, [""])),
        )
    _backdate_contact(contact, story)
    _consents(ctx, contact, story, wants_newsletter, bool(phones), organization is not None)
    _timeline(ctx, contact, story, owner or creator, organization, first)
    ctx.contacts.append(contact)
    ctx.contacts_by_stage[story.final_stage].append(contact.pk)
    return contact


def _backdate(model, moments: dict[int, dt.datetime]) -> None:
    for pk, at in moments.items():
        model.objects.filter(pk=pk).update(created_at=at, updated_at=at)


def _backdate_contact(contact: Contact, story: Story) -> None:
    last_at = story.steps[-1][1]
    Contact.objects.filter(pk=contact.pk).update(
        created_at=story.created_at, updated_at=last_at, lifecycle_changed_at=last_at
    )
    contact.created_at, contact.lifecycle_changed_at = story.created_at, last_at
    # The n-th change (in the order written) happened at the story's n-th step: one UPDATE.
    LifecycleChange.objects.filter(contact=contact).update(
        changed_at=Case(
            *[When(to_stage=stage, then=Value(at)) for stage, at in story.steps],
            default=F("changed_at"),
            output_field=DateTimeField(),
        )
    )


def _consents(
    ctx: DemoContext, contact: Contact, story: Story, newsletter: bool, has_phone: bool, b2b: bool
) -> None:
    customer_at = story.reached("customer")
    if contact.primary_email:
        if newsletter:
            withdrawn = ctx.rng.random() < 0.08
            consent = contacts.set_consent(
                actor=contact.owner,
                contact=contact,
                channel="email",
                status="withdrawn" if withdrawn else "granted",
                lawful_basis="consent",
                source=ctx.rng.choice(
                    ["Newsletter sign-up form", "Webinar registration", "Trade show badge scan"]
                ),
            )
            _backdate_consent(ctx, consent, story.created_at)
        elif customer_at is not None:
            consent = contacts.set_consent(
                actor=contact.owner,
                contact=contact,
                channel="email",
                status="granted",
                lawful_basis="contract",
                source="Customer contract",
            )
            _backdate_consent(ctx, consent, customer_at)
        elif b2b and ctx.rng.random() < 0.5:
            consent = contacts.set_consent(
                actor=contact.owner,
                contact=contact,
                channel="email",
                status="granted",
                lawful_basis="legitimate_interests",
                source="Business contact",
            )
            _backdate_consent(ctx, consent, story.created_at)
    if has_phone and ctx.rng.random() < 0.45:
        consent = contacts.set_consent(
            actor=contact.owner,
            contact=contact,
            channel="phone",
            status="granted" if ctx.rng.random() < 0.93 else "withdrawn",
            lawful_basis="legitimate_interests" if b2b else "consent",
            source="Asked on first call",
        )
        _backdate_consent(ctx, consent, story.created_at)


def _backdate_consent(ctx: DemoContext, consent: Consent, start: dt.datetime) -> None:
    at = ctx.moment_after(start, 10)
    Consent.objects.filter(pk=consent.pk).update(recorded_at=at)


def _phase(stage: str) -> str:
    if stage in ("customer", "loyal", "advocate", "churned"):
        return "customer"
    if stage in ("sales_qualified", "opportunity"):
        return "deal"
    return "early"


def _timeline(
    ctx: DemoContext, contact: Contact, story: Story, owner: User, organization, first: str
) -> None:
    """Calls, meetings, emails and notes between arrival and today, clustered around the steps."""
    low, high = words.INTERACTION_COUNTS[story.final_stage]
    count = ctx.rng.randint(low, high)
    end = story.reached("churned") or ctx.now
    moments = []
    # Every move into a qualified stage comes with the conversation that caused it.
    for stage, at in story.steps[1:]:
        if (
            stage in ("sales_qualified", "opportunity", "customer", "churned")
            and len(moments) < count
        ):
            moments.append(
                (ctx.working_time(at - dt.timedelta(hours=ctx.rng.uniform(1, 30))), stage)
            )
    span_days = max(0.5, (end - story.created_at).total_seconds() / 86400)
    while len(moments) < count:
        at = ctx.moment_after(story.created_at, span_days)
        moments.append((min(at, end), None))
    company = organization.name if organization else "their company"
    entries = []
    for at, caused in sorted(moments, key=lambda m: m[0]):
        at = min(ctx.now, max(at, story.created_at + dt.timedelta(minutes=5)))
        # The conversation that moved the contact on belongs to the stage it led to.
        phase = _phase(caused or story.stage_on(at))
        actor = owner
        if phase == "customer" and caused is None and ctx.rng.random() < 0.3:
            actor = ctx.pick_user(SERVICE)
        fill = dict(first=first, company=company, me=actor.first_name or actor.username)
        entries.append(
            dict(
                actor=actor,
                contact=contact,
                organization=organization,
                occurred_at=at,
                **_interaction(ctx, _kind_for(ctx, phase, caused), phase, caused, fill),
            )
        )
    # One contact's whole history in one batch: the same entries, checks, audit records and
    # events as one call each, in a handful of statements instead of four per entry.
    log_interactions(entries=entries)


def _interaction(ctx: DemoContext, kind: str, phase: str, caused: str | None, fill: dict) -> dict:
    """What was said: subject, body, outcome and duration for one timeline entry."""

    def text(options) -> str:
        return _fill(ctx, ctx.rng.choice(options), **fill)

    if kind == "call":
        outcome = "connected" if caused else weighted(ctx, words.CALL_OUTCOMES)
        return dict(
            kind="call",
            direction="inbound" if ctx.rng.random() < 0.2 else "outbound",
            subject=text(words.CALL_SUBJECTS[phase]),
            body=text(words.CALL_NOTES[outcome]),
            outcome=outcome,
            duration_minutes=(
                ctx.rng.randint(4, 45) if outcome == "connected" else ctx.rng.randint(0, 1)
            ),
        )
    if kind == "meeting":
        outcome = "completed" if caused else weighted(ctx, words.MEETING_OUTCOMES)
        return dict(
            kind="meeting",
            channel="video" if ctx.rng.random() < 0.6 else "in_person",
            subject=text(words.MEETING_SUBJECTS[phase]),
            body=text(words.MEETING_NOTES[phase]) if outcome == "completed" else "",
            outcome=outcome,
            duration_minutes=ctx.rng.choice([30, 45, 60, 60, 90]),
        )
    if kind == "email":
        inbound = ctx.rng.random() < (0.5 if phase == "customer" else 0.35)
        subjects = words.EMAIL_IN_SUBJECTS if inbound else words.EMAIL_OUT_SUBJECTS
        return dict(
            kind="email",
            direction="inbound" if inbound else "outbound",
            subject=text(subjects[phase]),
            body=text(words.EMAIL_IN_BODIES if inbound else words.EMAIL_OUT_BODIES),
        )
    return dict(kind="note", body=text(words.NOTES))


def _kind_for(ctx: DemoContext, phase: str, caused: str | None) -> str:
    if caused in ("sales_qualified", "churned"):
        return "call"
    if caused == "opportunity":
        # Usually a demo meeting, but a proposal asked for by phone or email is as good; a lead
        # whose every opportunity began with a meeting would make a meeting certain conversion.
        return weighted(ctx, [("meeting", 55), ("call", 25), ("email", 20)])
    if caused == "customer":
        return ctx.rng.choice(["meeting", "email"])
    weights = {
        "early": [("email", 50), ("call", 30), ("note", 15), ("meeting", 5)],
        "deal": [("call", 35), ("email", 35), ("meeting", 20), ("note", 10)],
        "customer": [("email", 35), ("call", 30), ("meeting", 15), ("note", 20)],
    }[phase]
    return weighted(ctx, weights)


def build_organization_notes(ctx: DemoContext) -> None:
    """Account-level notes and reviews that concern a whole organization, not one person."""
    chosen = [o for o in ctx.organizations if ctx.rng.random() < 0.3]
    with ctx.progress("Account notes", len(chosen)) as advance:
        entries = []
        for org in chosen:
            entries.append(
                dict(
                    actor=org.owner or ctx.admin,
                    kind="note",
                    organization=org,
                    occurred_at=ctx.moment(HISTORY_DAYS * 0.8, 1),
                    body=ctx.rng.choice(words.ORGANIZATION_NOTES),
                )
            )
            advance(1)
        log_interactions(entries=entries)


def build_extras(ctx: DemoContext) -> None:
    """What a real database has too: people who changed jobs, left, or were entered twice."""
    pool = ctx.contacts
    if len(pool) < 20:
        return
    movers = ctx.rng.sample(pool, k=max(1, len(pool) // 25))
    duplicates = ctx.rng.sample(pool, k=max(1, len(pool) // 70))
    leavers = ctx.rng.sample(pool, k=max(1, len(pool) // 50))
    with (
        ctx.progress(
            "Job changes, duplicates", len(movers) + len(duplicates) + len(leavers)
        ) as advance,
        transaction.atomic(),
    ):
        for contact in movers:
            other = ctx.rng.choice(ctx.organizations)
            contacts.add_membership(
                actor=contact.owner or ctx.admin,
                contact=contact,
                organization=other,
                role=ctx.rng.choice(["Advisory board", "Former employer", "Consultant"]),
            )
            advance(1)
        for contact in duplicates:
            # The same person entered again from an event list: same name and phone or email.
            first = contact.first_name
            if ctx.rng.random() < 0.4 and len(first) > 3:
                first = first[0] + "."
            emails = (
                [contact.primary_email.upper()]
                if contact.primary_email and ctx.rng.random() < 0.6
                else []
            )
            phones = (
                [contact.primary_phone]
                if contact.primary_phone and (not emails or ctx.rng.random() < 0.5)
                else []
            )
            advance(1)
            if not emails and not phones:
                continue
            copy = contacts.create_contact(
                actor=ctx.pick_user(MARKETING),
                first_name=first,
                last_name=contact.last_name,
                emails=emails,
                phones=phones,
                lifecycle_stage="lead",
                owner=contact.owner,
                source="import",
                source_detail="Event attendee list",
                country=contact.country,
            )
            at = ctx.moment(60, 1)
            Contact.objects.filter(pk=copy.pk).update(
                created_at=at, updated_at=at, lifecycle_changed_at=at
            )
            LifecycleChange.objects.filter(contact=copy).update(changed_at=at)
            ctx.contacts.append(copy)
            ctx.contacts_by_stage["lead"].append(copy.pk)
        for contact in leavers:
            advance(1)
            if not contact.is_archived:
                contacts.archive_contact(actor=contact.owner or ctx.admin, contact=contact)


def build(ctx: DemoContext) -> None:
    """The people part: staff, custom fields, organizations, contacts and their timelines."""
    build_staff(ctx, ctx.extras["password"])
    build_custom_fields(ctx)
    build_organizations(ctx)
    build_contacts(ctx)
    build_organization_notes(ctx)
    build_extras(ctx)
