"""Which CRM model fits: points per model from the business's answers and its data, each with
the reason it was given, the runner-up, and what would change the answer. Pure: no Django.

The rules follow the source documents: deep personalization with a small team or a complex
product → IDIC; revenue carried by a handful of customers → the CRM Value Chain; many channels
and departments → Payne & Frow's five processes; an end-to-end audit of customer management →
QCI; a CRM program across a larger organization, where vision and collaboration matter → Gartner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rapport.core import display
from rapport.frameworks.catalog import MODELS

MODEL_ORDER = tuple(MODELS)  # ties go to the earlier model: the simpler one comes first

TEAM_SIZES = {
    "1-10": "1–10 people",
    "11-50": "11–50 people",
    "51-200": "51–200 people",
    "201+": "more than 200 people",
}
COMPLEXITY = {
    "simple": "simple, bought without much advice",
    "moderate": "moderately complex",
    "complex": "complex, solving a need specific to each customer",
}
CHANNELS = {
    "email": "Email",
    "phone": "Phone",
    "in_person": "In person / field sales",
    "web": "Website and web forms",
    "chat": "Chat",
    "social": "Social media",
    "shop": "Online shop",
    "partners": "Partners and resellers",
}
DEPARTMENTS = {
    "sales": "Sales",
    "marketing": "Marketing",
    "service": "Customer service",
    "operations": "Operations and delivery",
    "finance": "Finance",
    "partners": "Partner management",
}
GOALS = {
    "personalize": "Personalize offers and service for each customer",
    "key_accounts": "Grow and keep our key accounts",
    "consistent_experience": "One consistent experience across channels and teams",
    "retention": "Keep more customers for longer",
    "audit_improve": "Audit customer management and improve it area by area",
    "align_organization": "Align the whole organization behind a CRM vision and strategy",
    "measure_performance": "Measure whether our customer strategy pays",
}


@dataclass(frozen=True)
class Answers:
    """What the business says about itself on the guide page."""

    team_size: str = "11-50"
    product_complexity: str = "moderate"
    channels: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    """What Rapport's data says: customers who bought, revenue concentration (top-20 % share and
    Gini, 0–1, None without revenue), channels used with contacts in 90 days, users and teams,
    and how many kinds of team (sales, marketing, service, …) there are."""

    customers: int = 0
    top20_share: float | None = None
    gini: float | None = None
    channels: int = 0
    users: int = 0
    teams: int = 0
    team_kinds: int = 0


@dataclass(frozen=True)
class Reason:
    model: str
    points: float
    text: str
    source: str  # "answers" or "data"


@dataclass(frozen=True)
class Change:
    """A different answer or different data under which another model would come first."""

    text: str
    model: str


@dataclass
class Recommendation:
    scores: dict[str, float]
    ranking: list[str]
    reasons: dict[str, list[Reason]]
    notes: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def recommended(self) -> str:
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        return self.ranking[1]

    @property
    def margin(self) -> float:
        return self.scores[self.recommended] - self.scores[self.runner_up]


def _name(key: str) -> str:
    return MODELS[key].name


# --------------------------------------------------------------------------- the rules


def _concentration(facts: Facts) -> list[Reason]:
    if facts.top20_share is None:
        return []
    share = facts.top20_share
    reasons = []
    if share >= 0.80:
        reasons.append(
            Reason(
                "value_chain",
                3.0,
                f"The top 20 % of customers bring {share * 100:.0f} % of revenue: a handful of customers "
                "carry the business, which is what the Value Chain is built around.",
                "data",
            )
        )
    elif share >= 0.65:
        reasons.append(
            Reason(
                "value_chain",
                1.5,
                f"Revenue is fairly concentrated: the top 20 % of customers bring {share * 100:.0f} %.",
                "data",
            )
        )
    elif share < 0.50:
        reasons.append(
            Reason(
                "idic",
                1.0,
                f"Revenue is spread widely (the top 20 % bring only {share * 100:.0f} %): value comes "
                "from many individual relationships to identify and differentiate.",
                "data",
            )
        )
    if facts.gini is not None and facts.gini >= 0.70:
        reasons.append(
            Reason(
                "value_chain",
                1.0,
                f"Revenue is very unequal between customers (Gini {facts.gini:.2f}).",
                "data",
            )
        )
    return reasons


def _customers(facts: Facts) -> list[Reason]:
    if facts.customers and facts.customers < 100 and (facts.top20_share or 0) >= 0.65:
        return [
            Reason(
                "value_chain",
                1.0,
                f"Only {facts.customers} customers, with revenue concentrated in a few: "
                "key-account management pays off.",
                "data",
            )
        ]
    if facts.customers >= 10_000:
        return [
            Reason(
                "idic",
                1.0,
                f"{display.number_text(facts.customers)} customers to tell apart by value and need: IDIC's "
                "Differentiate step is where the gain is.",
                "data",
            )
        ]
    return []


def _team_size(answers: Answers) -> list[Reason]:
    size = answers.team_size
    if size == "1-10":
        return [
            Reason(
                "idic",
                2.0,
                "A small team can run IDIC's four steps without a program office.",
                "answers",
            ),
            Reason(
                "gartner",
                -1.0,
                "Gartner's eight building blocks assume a CRM program across a larger organization.",
                "answers",
            ),
        ]
    if size == "11-50":
        return [
            Reason("payne_frow", 1.0, "A mid-size team needs its processes to connect.", "answers"),
            Reason("qci", 1.0, "A mid-size team benefits from improving area by area.", "answers"),
        ]
    if size == "51-200":
        return [
            Reason(
                "qci",
                1.5,
                "At 51–200 people an end-to-end audit of customer management finds the weak areas.",
                "answers",
            ),
            Reason(
                "gartner", 1.0, "At this size vision and collaboration start to matter.", "answers"
            ),
            Reason("payne_frow", 1.0, "Several teams touch each customer.", "answers"),
        ]
    if size == "201+":
        return [
            Reason(
                "gartner",
                2.0,
                "A large organization needs the vision, strategy and collaboration Gartner's model starts from.",
                "answers",
            ),
            Reason("qci", 1.0, "A large organization gains from a structured audit.", "answers"),
        ]
    return []


def _complexity(answers: Answers) -> list[Reason]:
    if answers.product_complexity == "complex":
        return [
            Reason(
                "idic",
                2.0,
                "The product solves a complex need: knowing each customer individually is the "
                "advantage — the case IDIC is made for.",
                "answers",
            ),
            Reason(
                "value_chain",
                1.0,
                "Complex offers are sold as value propositions, often to key accounts.",
                "answers",
            ),
        ]
    if answers.product_complexity == "simple":
        return [
            Reason(
                "payne_frow",
                1.0,
                "A simple product competes on a consistent experience wherever it is bought.",
                "answers",
            )
        ]
    return []


def _channels(answers: Answers, facts: Facts) -> list[Reason]:
    count = len(set(answers.channels))
    reasons = []
    if count >= 4:
        reasons.append(
            Reason(
                "payne_frow",
                2.0,
                f"{count} channels reach customers: multichannel integration is one of Payne & "
                "Frow's five processes.",
                "answers",
            )
        )
    elif count == 3:
        reasons.append(Reason("payne_frow", 1.0, "Three channels reach customers.", "answers"))
    elif count:
        reasons.append(
            Reason("idic", 0.5, "Few channels: attention can go to each relationship.", "answers")
        )
    if facts.channels >= 4:
        reasons.append(
            Reason(
                "payne_frow",
                1.0,
                f"The data shows {facts.channels} channels in use with contacts in the last 90 days.",
                "data",
            )
        )
    return reasons


def _departments(answers: Answers, facts: Facts) -> list[Reason]:
    count = len(set(answers.departments))
    reasons = []
    if count >= 4:
        reasons += [
            Reason(
                "payne_frow",
                1.5,
                f"{count} departments deal with customers and must act as one.",
                "answers",
            ),
            Reason(
                "gartner",
                1.5,
                "Many departments make organizational collaboration a building block of its own.",
                "answers",
            ),
        ]
    elif count == 3:
        reasons += [
            Reason("payne_frow", 1.0, "Three departments deal with customers.", "answers"),
            Reason("gartner", 0.5, "Three departments need to collaborate.", "answers"),
        ]
    elif count == 1:
        reasons.append(
            Reason(
                "idic",
                1.0,
                "One department owns the customer: no cross-department alignment to build first.",
                "answers",
            )
        )
    if facts.team_kinds >= 3:
        reasons.append(
            Reason(
                "gartner",
                0.5,
                f"Rapport's users work in {facts.team_kinds} kinds of team.",
                "data",
            )
        )
    return reasons


GOAL_POINTS: dict[str, list[tuple[str, float, str]]] = {
    "personalize": [("idic", 2.0, "Personalizing for each customer is IDIC's Customize step.")],
    "key_accounts": [
        (
            "value_chain",
            2.0,
            "Growing key accounts is the Value Chain's focus on strategically significant customers.",
        )
    ],
    "consistent_experience": [
        (
            "payne_frow",
            2.0,
            "A consistent experience across channels is Payne & Frow's multichannel integration.",
        )
    ],
    "retention": [
        ("value_chain", 1.0, "Keeping customers is the Value Chain's “managing the relationship”."),
        ("qci", 0.5, "Retention is part of QCI's customer management activity."),
    ],
    "audit_improve": [
        ("qci", 2.0, "Auditing and improving area by area is what the QCI model is for.")
    ],
    "align_organization": [
        (
            "gartner",
            2.0,
            "Aligning the organization behind a vision and strategy is where Gartner's model begins.",
        )
    ],
    "measure_performance": [
        ("payne_frow", 1.0, "Performance assessment is one of Payne & Frow's processes."),
        ("qci", 1.0, "QCI measures the effect of customer management."),
    ],
}


def _goals(answers: Answers) -> list[Reason]:
    reasons = []
    for goal in dict.fromkeys(answers.goals):
        for model, points, text in GOAL_POINTS.get(goal, []):
            reasons.append(Reason(model, points, f"Goal “{GOALS[goal]}”: {text}", "answers"))
    return reasons


RULES: tuple[Callable[[Answers, Facts], list[Reason]], ...] = (
    lambda a, f: _concentration(f),
    lambda a, f: _customers(f),
    lambda a, f: _team_size(a),
    lambda a, f: _complexity(a),
    _channels,
    _departments,
    lambda a, f: _goals(a),
)


def score(answers: Answers, facts: Facts) -> Recommendation:
    """Points per model with their reasons, ranked (without the what-would-change analysis)."""
    scores = dict.fromkeys(MODEL_ORDER, 0.0)
    reasons: dict[str, list[Reason]] = {key: [] for key in MODEL_ORDER}
    for rule in RULES:
        for reason in rule(answers, facts):
            scores[reason.model] += reason.points
            reasons[reason.model].append(reason)
    ranking = sorted(MODEL_ORDER, key=lambda key: (-scores[key], MODEL_ORDER.index(key)))
    notes = []
    if facts.top20_share is None:
        notes.append("No revenue recorded yet, so revenue concentration could not be weighed.")
    if not facts.channels:
        notes.append("No interactions in the last 90 days, so the channels in use are unknown.")
    return Recommendation(scores=scores, ranking=ranking, reasons=reasons, notes=notes)


# --------------------------------------------------------------------------- what would change


def _alternatives(answers: Answers, facts: Facts):
    """(description, answers, facts) for every single change worth trying."""
    for size, label in TEAM_SIZES.items():
        if size != answers.team_size:
            yield f"If your team had {label}", replace(answers, team_size=size), facts
    for level, label in COMPLEXITY.items():
        if level != answers.product_complexity:
            yield f"If your product were {label}", replace(answers, product_complexity=level), facts
    for count in (1, 3, 5):
        if count != len(set(answers.channels)):
            channels = tuple(list(CHANNELS)[:count])
            yield (
                f"If you reached customers on {count} channel{'s' if count > 1 else ''}",
                replace(answers, channels=channels),
                facts,
            )
    for count in (1, 3, 5):
        if count != len(set(answers.departments)):
            departments = tuple(list(DEPARTMENTS)[:count])
            yield (
                f"If {count} department{'s' if count > 1 else ''} dealt with customers",
                replace(answers, departments=departments),
                facts,
            )
    for goal, label in GOALS.items():
        if goal in answers.goals:
            rest = tuple(g for g in answers.goals if g != goal)
            yield f"Without the goal “{label}”", replace(answers, goals=rest), facts
        else:
            yield f"With the goal “{label}”", replace(answers, goals=(*answers.goals, goal)), facts
    for share in (0.40, 0.70, 0.90):
        if facts.top20_share is None or abs(share - facts.top20_share) >= 0.1:
            gini = {0.40: 0.35, 0.70: 0.60, 0.90: 0.80}[share]
            yield (
                f"If the top 20 % of customers brought {share * 100:.0f} % of revenue",
                answers,
                replace(facts, top20_share=share, gini=gini),
            )


def recommend(answers: Answers, facts: Facts, *, max_changes: int = 5) -> Recommendation:
    """The recommendation with the single changes that would put another model first —
    the runner-up's first."""
    result = score(answers, facts)
    changes = []
    for text, changed_answers, changed_facts in _alternatives(answers, facts):
        other = score(changed_answers, changed_facts)
        if other.recommended != result.recommended:
            changes.append(
                Change(f"{text}, {_name(other.recommended)} would come first.", other.recommended)
            )
    changes.sort(
        key=lambda change: (change.model != result.runner_up, MODEL_ORDER.index(change.model))
    )
    seen: dict[str, int] = {}
    kept = []
    for change in changes:
        # At most two per model, so the list shows the different ways the answer can move.
        if seen.get(change.model, 0) >= 2:
            continue
        seen[change.model] = seen.get(change.model, 0) + 1
        kept.append(change)
    result.changes = kept[:max_changes]
    return result
