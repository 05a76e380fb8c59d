"""Signed-in browser sessions: noted as they are used, listed on My account, ended from there.

Django's session store holds the sessions; `UserSession` rows name them per user so they can be
listed. Ending one deletes it from the store, which signs that browser out at its next request.
The session key is a credential: it never enters the audit trail or a page.
"""

import datetime as dt
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from rapport.accounts.models import User, UserSession
from rapport.audit.models import ChangeAction
from rapport.audit.services import record_change

# How often a session's "last seen" is written: not on every request.
SEEN_EVERY = dt.timedelta(minutes=1)
# Kept in the session's own data: [its key when last noted, when], so most requests write nothing.
SEEN_MARK = "rapport_session_seen"


def _store(session_key: str | None = None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def _session_state(user_session: UserSession) -> dict:
    return {
        "user": user_session.user_id,
        "user_agent": user_session.user_agent,
        "ip_address": user_session.ip_address,
        "created_at": user_session.created_at,
    }


def note_session(
    *, user: User, session, user_agent: str, ip_address: str | None, starting: bool = False
) -> None:
    """Record that `user` is using `session` (a request's session) now.

    `starting=True` is the sign-in itself; afterwards only sessions begun that way are noted,
    at most once a minute, and at once when the key changed (a password change gives the
    session a new key; the row of the old key goes).
    """
    key = session.session_key
    mark = session.get(SEEN_MARK)
    if not key or (mark is None and not starting):
        return
    now = timezone.now()
    if isinstance(mark, list) and len(mark) == 2 and mark[0] == key:
        try:
            seen = dt.datetime.fromisoformat(mark[1])
        except (TypeError, ValueError):
            seen = None
        if seen is not None and now - seen < SEEN_EVERY:
            return
    if isinstance(mark, list) and mark and isinstance(mark[0], str) and mark[0] != key:
        UserSession.objects.filter(session_key=mark[0], user=user).delete()
    fields = {"user_agent": (user_agent or "")[:300], "ip_address": ip_address}
    updated = UserSession.objects.filter(session_key=key, user=user).update(
        last_seen_at=now, **fields
    )
    if not updated:
        UserSession.objects.create(session_key=key, user=user, last_seen_at=now, **fields)
    session[SEEN_MARK] = [key, now.isoformat()]


def forget_session(session_key: str | None) -> None:
    """Drop the row of a session that is signing out (the store entry goes with the sign-out)."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def _is_live(user_session: UserSession, user: User) -> bool:
    # Gone or expired in the store, signed in as someone else since, or from before a password
    # change (Django no longer accepts it): not a session of this user any more.
    store = _store(user_session.session_key)
    data = store.load()
    if store.session_key is None or data.get(SESSION_KEY) != str(user.pk):
        return False
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


def active_sessions(user: User) -> list[UserSession]:
    """The user's sessions that still sign them in, most recently used first (stale rows go)."""
    live, stale = [], []
    for user_session in UserSession.objects.filter(user=user):
        if _is_live(user_session, user):
            live.append(user_session)
        else:
            stale.append(user_session.pk)
    if stale:
        UserSession.objects.filter(pk__in=stale).delete()
    return live


@transaction.atomic
def end_session(*, actor: User, user_session: UserSession) -> None:
    """Sign one session out: its browser is anonymous from its next request on. Audited."""
    if actor.pk != user_session.user_id and not actor.is_administrator:
        raise PermissionDenied("You may only end your own sessions.")
    before = _session_state(user_session)
    pk = user_session.pk
    _store(user_session.session_key).delete()
    user_session.delete()
    record_change(
        actor=actor,
        action=ChangeAction.DELETE,
        entity="accounts.usersession",
        object_id=pk,
        object_repr=f"Session of {user_session.user} ({user_session.user_agent[:120]})",
        before=before,
        message="Signed out",
    )


@transaction.atomic
def end_other_sessions(*, actor: User, keep_session_key: str | None) -> int:
    """Sign out every session of `actor` but the one making the request; how many ended."""
    others = list(UserSession.objects.filter(user=actor).exclude(session_key=keep_session_key))
    for user_session in others:
        _store(user_session.session_key).delete()
    UserSession.objects.filter(pk__in=[s.pk for s in others]).delete()
    if others:
        # On the user's own history: one entry for the whole sign-out.
        record_change(
            actor=actor,
            action=ChangeAction.UPDATE,
            instance=actor,
            before={"other_sessions": [_session_state(s) for s in others]},
            after={"other_sessions": []},
            message=f"Signed out {len(others)} other session(s)",
        )
    return len(others)
