"""Who a privacy command acts as: the user named by --as, or the system when none is given
(whoever can run commands on the server is trusted as an administrator)."""

from django.core.management.base import CommandError

from rapport.accounts.models import User


def acting_user(username: str | None):
    if not username:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r}.")
    return user
