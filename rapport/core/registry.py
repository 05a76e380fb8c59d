"""Extension points other apps fill in from their AppConfig.ready().

- navigation: the main menu shows only what exists.
- panels: the 360° pages of contacts and organizations are sets of panels, so `contacts` never
  imports the apps that add to it.
- timeline sources: apps that hold dated facts about a contact (orders, deal changes) add them
  to its timeline.
- merge relations: when two records merge, each app moves its own rows that point at the loser.
- contact checks: warnings shown before a contact is saved (likely duplicates).
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url_name: str
    order: int = 100
    permission: Callable | None = None  # (user) -> bool
    section: str = "main"


@dataclass(frozen=True)
class Panel:
    """A block on a 360° page. `context(request, obj)` returns the template context or None to hide."""

    key: str
    title: str
    template: str
    context: Callable
    order: int = 100
    column: str = "main"  # "main" or "side"; on Home also "top" (full width, above the rest)


@dataclass(frozen=True)
class TimelineSource:
    """`entries(contact_ids, organization_ids, limit)` returns TimelineEntry items, newest first."""

    key: str
    entries: Callable


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: object
    kind: str
    title: str
    body: str = ""
    url: str = ""
    icon: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MergeRelation:
    """`move(loser, survivor, actor)` re-points the app's rows from loser to survivor."""

    key: str
    entity: str  # "contact" or "organization"
    move: Callable


@dataclass(frozen=True)
class ContactCheck:
    """`warnings(data, exclude_pk)` looks at a contact about to be saved (a dict of first_name,
    last_name, emails, phones, organization name) and returns warnings such as likely duplicates:
    [{"message": str, "url": str, "score": float}]. The form shows them before saving."""

    key: str
    warnings: Callable


navigation: list[NavItem] = []
contact_checks: list[ContactCheck] = []
panels: dict[str, list[Panel]] = {"contact": [], "organization": []}
timeline_sources: list[TimelineSource] = []
merge_relations: list[MergeRelation] = []


def register_nav(item: NavItem) -> None:
    if all(existing.key != item.key for existing in navigation):
        navigation.append(item)
        navigation.sort(key=lambda nav: nav.order)


def register_panel(entity: str, panel: Panel) -> None:
    entries = panels.setdefault(entity, [])
    if all(existing.key != panel.key for existing in entries):
        entries.append(panel)
        entries.sort(key=lambda p: p.order)


def register_timeline_source(source: TimelineSource) -> None:
    if all(existing.key != source.key for existing in timeline_sources):
        timeline_sources.append(source)


def register_contact_check(check: ContactCheck) -> None:
    if all(existing.key != check.key for existing in contact_checks):
        contact_checks.append(check)


def register_merge_relation(relation: MergeRelation) -> None:
    if all(existing.key != relation.key for existing in merge_relations):
        merge_relations.append(relation)
