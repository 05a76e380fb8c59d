"""Who may do what with the CRM models.

- Everyone signed in sees the models, the KPI values (aggregate figures), objectives and
  assessment results; the records behind a figure stay scoped by their own app.
- Anyone who may write answers an open assessment.
- Managers set targets, objectives and assessments and choose the model: administrators, and
  writers who see every record in contacts and sales (the manager's scope) or sit in a
  management team.
"""

from __future__ import annotations

from rapport.accounts.access import can_administer, can_write
from rapport.accounts.choices import Scope, TeamKind


def can_view(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_respond(user) -> bool:
    return can_write(user)


def can_manage(user) -> bool:
    if not can_write(user):
        return False
    if can_administer(user):
        return True
    if user.scope_for("contacts") == Scope.ALL and user.scope_for("sales") == Scope.ALL:
        return True
    return user.teams.filter(kind=TeamKind.MANAGEMENT).exists()
