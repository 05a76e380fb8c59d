"""The accounts' background work: the password reset email, sent outside the request."""

from __future__ import annotations

from django_tasks import task


@task()
def send_password_reset_email(user_id: int, base_url: str) -> bool:
    from rapport.accounts.password_reset import deliver_reset_email

    return deliver_reset_email(user_id=user_id, base_url=base_url)
