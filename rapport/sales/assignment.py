"""Assignment rules: who gets a new lead (or contact, organization, deal), and a record of why.

Each rule applies to one kind of record (`RecordKind`). Rules of a kind are tried in order; the
first whose condition matches *and* can place the record wins. A rule targets one person
(skipped when they are away, deactivated, read-only or, for leads, at capacity) or a team in
round robin (`roundrobin.pick_next`): only people who may write the record are picked. When no
rule places a lead, the fallback owner from the sales settings takes it; without one it stays
unassigned, and that is recorded too. Other kinds: `assignment_records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from rapport.accounts import access
from rapport.accounts.access import Action
from rapport.accounts.choices import Domain
from rapport.accounts.models import Team, User
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change, snapshot
from rapport.contacts.choices import LEAD_STAGES
from rapport.contacts.models import Contact
from rapport.contacts.services import update_contact
from rapport.core.conditions import ConditionError, FieldSet, matches
from rapport.core.conditions import validate as validate_condition
from rapport.core.events import emit
from rapport.sales import assignment_kinds, events
from rapport.sales.choices import AssignmentMethod, NotificationKind, RecordKind
from rapport.sales.models import AssignmentRule, LeadAssignment, RoundRobinState
from rapport.sales.roundrobin import Candidate, pick_next
from rapport.sales.scoring.facts import lead_field_set, load_facts
from rapport.sales.scoring.features import LeadFacts
from rapport.sales.scoring.rules import describe
from rapport.sales.services.settings import get_sales_settings
from rapport.sales.services.validation import actor_id, actor_or_none, clean_text
from rapport.sales.services.work import notify

RULE_FIELDS = {"name", "kind", "condition", "target_user", "target_team", "position", "is_active"}
ARTICLES = {"lead": "a lead", "contact": "a contact", "organization": "an organization"}


# -- rules -------------------------------------------------------------------------------------


def _clean_kind(value, errors: dict) -> str:
    if value not in RecordKind.values:
        labels = ", ".join(str(label).lower() for label in RecordKind.labels)
        errors.setdefault("kind", []).append(f"Choose what the rule applies to: {labels}.")
        return RecordKind.LEAD
    return value


def _clean_rule(values: dict, errors: dict, kind: str = RecordKind.LEAD) -> dict:
    """`kind` is the rule's kind after the change: the condition is checked against its fields."""
    cleaned = {}
    if "kind" in values:
        cleaned["kind"] = kind = _clean_kind(values["kind"], errors)
    if "name" in values:
        cleaned["name"] = clean_text(
            values["name"], field="name", errors=errors, limit=100, required=True
        )
    if "condition" in values:
        if values["condition"] in ({}, None):
            values["condition"] = {"all": []}  # no condition: every record matches
        try:
            validate_condition(values["condition"], assignment_kinds.field_set(kind))
        except ConditionError as exc:
            errors.setdefault("condition", []).append(exc.in_words)
        cleaned["condition"] = values["condition"]
    if "position" in values:
        position = values["position"]
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            errors.setdefault("position", []).append("Give a whole number from 0.")
        cleaned["position"] = position
    if "is_active" in values:
        cleaned["is_active"] = bool(values["is_active"])
    for name in ("target_user", "target_team"):
        if name in values:
            cleaned[name] = values[name]
    return cleaned


def _check_target(rule: AssignmentRule, errors: dict) -> None:
    if (rule.target_user_id is None) == (rule.target_team_id is None):
        errors.setdefault("target", []).append("Choose either a person or a team.")
    elif rule.target_user_id:
        problem = access.owner_problem(
            None, rule.target_user, assignment_kinds.DOMAINS[RecordKind(rule.kind)]
        )
        if problem is not None:
            errors.setdefault("target_user", []).append(problem)


@transaction.atomic
def create_assignment_rule(
    *,
    actor,
    name: str,
    condition: dict,
    target_user: User | None = None,
    target_team: Team | None = None,
    position: int = 100,
    is_active: bool = True,
    kind: str = RecordKind.LEAD,
) -> AssignmentRule:
    """Add a rule for records of `kind`; it applies to those created from now on (or re-run
    by hand)."""
    access.require_admin(actor)
    errors: dict[str, list[str]] = {}
    values = _clean_rule(
        {
            "kind": kind,
            "name": name,
            "condition": condition,
            "target_user": target_user,
            "target_team": target_team,
            "position": position,
            "is_active": is_active,
        },
        errors,
    )
    rule = AssignmentRule(**values)
    _check_target(rule, errors)
    if errors:
        raise ValidationError(errors)
    rule.save()
    record_change(actor=actor, action=ChangeAction.CREATE, instance=rule, after=snapshot(rule))
    return rule


@transaction.atomic
def update_assignment_rule(*, actor, rule: AssignmentRule, **changes) -> AssignmentRule:
    access.require_admin(actor)
    unknown = set(changes) - RULE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
    before = snapshot(rule)
    errors: dict[str, list[str]] = {}
    if "kind" in changes and "condition" not in changes:
        changes["condition"] = rule.condition  # checked again against the new kind's fields
    for key, value in _clean_rule(changes, errors, rule.kind).items():
        setattr(rule, key, value)
    _check_target(rule, errors)
    if errors:
        raise ValidationError(errors)
    rule.save()
    record_change(
        actor=actor, action=ChangeAction.UPDATE, instance=rule, before=before, after=snapshot(rule)
    )
    return rule


@transaction.atomic
def delete_assignment_rule(*, actor, rule: AssignmentRule) -> None:
    access.require_admin(actor)
    record_change(actor=actor, action=ChangeAction.DELETE, instance=rule, before=snapshot(rule))
    rule.delete()


# -- deciding ----------------------------------------------------------------------------------


def open_lead_counts(user_ids) -> dict[int, int]:
    """Open leads (lead stages, not archived) each user owns now."""
    return dict(
        Contact.objects.filter(
            owner_id__in=list(user_ids), lifecycle_stage__in=LEAD_STAGES, is_archived=False
        )
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )


@dataclass
class Decision:
    owner: User | None
    method: str
    reason: str
    rule: AssignmentRule | None = None
    notes: list[str] = field(default_factory=list)


def _person_blocker(user: User, open_leads: int | None) -> str | None:
    """Why `user` cannot take a record now (None when they can); `open_leads` None: no
    capacity applies (capacity counts open leads only)."""
    if not user.is_active:
        return "is deactivated"
    if not access.may_own(user):
        return "has a read-only role"
    if user.is_away:
        return "is away"
    if (
        open_leads is not None
        and user.open_lead_capacity is not None
        and open_leads >= user.open_lead_capacity
    ):
        return f"is at capacity ({open_leads}/{user.open_lead_capacity} open leads)"
    return None


def _round_robin(team: Team, *, exclude_lead_owner: int | None = None, counts_leads=True):
    """(chosen user, skipped notes). Locks the team's turn until the transaction ends. Only
    members who may write the record are picked (`access.may_own`)."""
    RoundRobinState.objects.get_or_create(team=team)
    state = RoundRobinState.objects.select_for_update().get(team=team)
    members = list(team.members.filter(is_active=True).order_by("pk"))
    counts = open_lead_counts(m.pk for m in members) if counts_leads else {}
    if exclude_lead_owner is not None and exclude_lead_owner in counts:
        # The lead being re-assigned is counted against its current owner; don't hold it
        # against them twice.
        counts[exclude_lead_owner] -= 1
    candidates = [
        Candidate(
            user_id=m.pk,
            is_away=m.is_away,
            open_leads=counts.get(m.pk, 0),
            capacity=m.open_lead_capacity if counts_leads else None,
            may_own=access.may_own(m),
        )
        for m in members
    ]
    pick = pick_next(candidates, state.last_user_id)
    by_id = {m.pk: m for m in members}
    skipped = [f"{by_id[c.user_id]}: {why}" for c, why in pick.skipped]
    if pick.chosen is None:
        return None, skipped, state
    return by_id[pick.chosen.user_id], skipped, state


def walk_rules(
    rules: list[AssignmentRule],
    matched,
    *,
    kind: str = RecordKind.LEAD,
    fields: FieldSet,
    current_owner: User | None = None,
    keep_team_owner: bool = False,
) -> tuple[Decision | None, RoundRobinState | None, list[str]]:
    """The first of `rules` that `matched(rule)` and can place the record: (decision, the
    round-robin turn to advance, notes on the rules that matched but could not place it).
    No decision when none could; the notes then say why."""
    notes: list[str] = []
    counts_leads = kind == RecordKind.LEAD
    record = ARTICLES.get(kind, f"a {kind}")
    for rule in rules:
        if not matched(rule):
            continue
        why = describe(rule.condition, fields)
        if rule.target_user_id:
            user = rule.target_user
            held = None
            if counts_leads:
                held = open_lead_counts([user.pk]).get(user.pk, 0)
                if current_owner is not None and current_owner.pk == user.pk:
                    held -= 1  # the lead being re-run already counts against them
            blocker = _person_blocker(user, held)
            if blocker:
                notes.append(f'Rule "{rule.name}" matched ({why}) but {user} {blocker}.')
                continue
            return (
                Decision(
                    owner=user,
                    method=AssignmentMethod.RULE_USER,
                    rule=rule,
                    reason=f'Rule "{rule.name}" matched ({why}) → {user}.',
                    notes=notes,
                ),
                None,
                notes,
            )
        team = rule.target_team
        if (
            keep_team_owner
            and current_owner is not None
            and team.members.filter(pk=current_owner.pk).exists()
        ):
            return (
                Decision(
                    owner=current_owner,
                    method=AssignmentMethod.KEPT,
                    rule=rule,
                    reason=(
                        f'Rule "{rule.name}" matched ({why}) → team {team}; '
                        f"{current_owner} is in that team and keeps the {kind}."
                    ),
                    notes=notes,
                ),
                None,
                notes,
            )
        chosen, skipped, state = _round_robin(
            team,
            exclude_lead_owner=current_owner.pk if current_owner else None,
            counts_leads=counts_leads,
        )
        skipped_text = f" (skipped {'; '.join(skipped)})" if skipped else ""
        if chosen is None:
            notes.append(
                f'Rule "{rule.name}" matched ({why}) but nobody in team {team} can take '
                f"{record}{skipped_text}."
            )
            continue
        return (
            Decision(
                owner=chosen,
                method=AssignmentMethod.ROUND_ROBIN,
                rule=rule,
                reason=(
                    f'Rule "{rule.name}" matched ({why}) → team {team} in round robin → '
                    f"{chosen}{skipped_text}."
                ),
                notes=notes,
            ),
            state,
            notes,
        )
    return None, None, notes


def decide(
    facts: LeadFacts,
    *,
    rules: list[AssignmentRule],
    fields: FieldSet,
    current_owner: User | None = None,
    keep_team_owner: bool = False,
    creator: User | None = None,
) -> tuple[Decision, RoundRobinState | None]:
    """Walk the rules for one lead. Returns the decision and the round-robin turn to advance.

    When neither a rule nor the fallback owner places a new lead, it stays with `creator`, the
    person who brought it in (an import, a form in the UI), if they may work it: a lead left
    unassigned would be out of their sight with a team or own scope.
    """
    decision, state, notes = walk_rules(
        [rule for rule in rules if rule.kind == RecordKind.LEAD],
        lambda rule: matches(rule.condition, facts, fields),
        fields=fields,
        current_owner=current_owner,
        keep_team_owner=keep_team_owner,
    )
    if decision is not None:
        return decision, state
    fallback = get_sales_settings().fallback_owner
    lead_in = " ".join(notes) + (" " if notes else "")
    if (
        creator is not None
        and access.may_own(creator)
        and (fallback is None or not access.may_own(fallback))
    ):
        return (
            Decision(
                owner=creator,
                method=AssignmentMethod.FALLBACK,
                reason=(
                    f"{lead_in}No rule or fallback owner placed the lead: it stays with "
                    f"{creator}, who brought it in."
                ).strip(),
            ),
            None,
        )
    if fallback is not None and not access.may_own(fallback):
        blocker = _person_blocker(fallback, 0)
        return (
            Decision(
                owner=None,
                method=AssignmentMethod.UNASSIGNED,
                reason=(
                    f"{lead_in}No rule placed the lead and the fallback owner {fallback} "
                    f"{blocker}: the lead stays unassigned."
                ).strip(),
            ),
            None,
        )
    if fallback is not None:
        return (
            Decision(
                owner=fallback,
                method=AssignmentMethod.FALLBACK,
                reason=f"{lead_in}No rule placed the lead; fallback owner {fallback}.".strip(),
            ),
            None,
        )
    return (
        Decision(
            owner=None,
            method=AssignmentMethod.UNASSIGNED,
            reason=f"{lead_in}No rule placed the lead and no fallback owner is set.".strip(),
        ),
        None,
    )


def active_rules(kind: str = RecordKind.LEAD) -> list[AssignmentRule]:
    return list(
        AssignmentRule.objects.filter(is_active=True, kind=kind).select_related(
            "target_user", "target_team"
        )
    )


@transaction.atomic
def assign_lead(
    *,
    contact: Contact,
    actor=None,
    only_if_unowned: bool = True,
    keep_team_owner: bool = False,
    creator: User | None = None,
) -> LeadAssignment | None:
    """Run the assignment rules for one lead and give it to whoever they pick.

    With `only_if_unowned` (new leads) an owned lead is left alone and None is returned. Every
    run that decides leaves a LeadAssignment with the rule and the reason — also when nobody
    could take the lead. Sets off LeadAssigned; the new owner gets a notification.
    """
    access.require(actor, Action.CHANGE, contact)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if only_if_unowned and contact.owner_id is not None:
        return None
    if contact.lifecycle_stage not in LEAD_STAGES:
        raise ValidationError({"contact": ["Only leads are assigned by the rules."]})
    facts = load_facts([contact.pk])[contact.pk]
    decision, state = decide(
        facts,
        rules=active_rules(),
        fields=lead_field_set(),
        current_owner=contact.owner,
        keep_team_owner=keep_team_owner,
        creator=creator,
    )
    return _apply(contact=contact, decision=decision, state=state, actor=actor)


def _apply(*, contact: Contact, decision: Decision, state, actor) -> LeadAssignment:
    previous_owner = contact.owner
    if decision.owner is not None and decision.owner.pk != contact.owner_id:
        # A rule's pick is the rules' (an administrator's) choice, not the actor's: the giver's
        # reach applies only to a lead given by hand. Either way the owner may own (see decide).
        giver = actor if decision.method == AssignmentMethod.MANUAL else None
        update_contact(actor=giver, contact=contact, owner=decision.owner)
    if state is not None and decision.owner is not None:
        state.last_user = decision.owner
        state.save(update_fields=["last_user", "updated_at"])
    assignment = LeadAssignment.objects.create(
        contact=contact,
        owner=decision.owner,
        previous_owner=previous_owner,
        rule=decision.rule,
        rule_name=decision.rule.name if decision.rule else "",
        method=decision.method,
        reason=decision.reason,
        assigned_at=timezone.now(),
        actor=actor_or_none(actor),
    )
    if (
        decision.owner is not None
        and decision.owner.pk != actor_id(actor)
        and (previous_owner is None or previous_owner.pk != decision.owner.pk)
    ):
        notify(
            recipient=decision.owner,
            kind=NotificationKind.LEAD_ASSIGNED,
            title=f"New lead: {contact}",
            body=decision.reason[:500],
            url=f"/sales/leads/{contact.pk}/",
            dedupe_key=f"lead-assigned:{assignment.pk}",
        )
    emit(
        events.LeadAssigned(
            contact_id=contact.pk,
            owner_id=decision.owner.pk if decision.owner else None,
            previous_owner_id=previous_owner.pk if previous_owner else None,
            method=decision.method,
            rule_id=decision.rule.pk if decision.rule else None,
        )
    )
    return assignment


@transaction.atomic
def assign_lead_by_hand(*, actor, contact: Contact, owner: User, note: str = "") -> LeadAssignment:
    """Give a lead to a chosen person; recorded like a rule's assignment, with the note."""
    access.require(actor, Action.CHANGE, contact)
    errors: dict[str, list[str]] = {}
    note = clean_text(note, field="note", errors=errors, limit=300)
    problem = access.owner_problem(actor, owner, Domain.CONTACTS)
    if problem is not None:
        errors.setdefault("owner", []).append(problem)
    if errors:
        raise ValidationError(errors)
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    reason = f"Assigned by hand by {actor} to {owner}." + (f" {note}" if note else "")
    return _apply(
        contact=contact,
        decision=Decision(owner=owner, method=AssignmentMethod.MANUAL, reason=reason),
        state=None,
        actor=actor,
    )


def reassign_leads(*, actor=None, scope: str = "unassigned", limit: int = 10_000) -> dict:
    """Run the rules again on existing leads: the unassigned ones, or every open lead.

    For every open lead, an owner already in the target team keeps the lead (no reshuffle).
    Each lead is its own transaction so one bad record does not undo the others.
    """
    if actor is not None:
        access.require_admin(actor)
    if scope not in {"unassigned", "all"}:
        raise ValidationError({"scope": ["Choose unassigned or all."]})
    leads = Contact.objects.filter(lifecycle_stage__in=LEAD_STAGES, is_archived=False)
    if scope == "unassigned":
        leads = leads.filter(owner__isnull=True)
    ids = list(leads.order_by("pk").values_list("pk", flat=True)[:limit])
    changed = unchanged = unassigned = 0
    for contact_id in ids:
        contact = Contact.objects.get(pk=contact_id)
        before = contact.owner_id
        assignment = assign_lead(
            contact=contact, actor=actor, only_if_unowned=False, keep_team_owner=True
        )
        if assignment is None or assignment.owner_id is None:
            unassigned += 1
        elif assignment.owner_id != before:
            changed += 1
        else:
            unchanged += 1
    return {
        "examined": len(ids),
        "changed": changed,
        "unchanged": unchanged,
        "unassigned": unassigned,
    }
