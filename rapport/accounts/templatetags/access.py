"""`{% can "change" contact as may_change %}`: templates ask the one access decision.

The UI hides what `access.can` refuses, so nobody meets a form that ends in 403; the services
still make the decision when the change is sent.
"""

from django import template
from django.contrib.auth.models import AnonymousUser

from rapport.accounts import access

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context, action: str, record=None) -> bool:
    """May the signed-in user do `action` ("view", "create", "change", "delete", "administer")
    to `record` (a record, or nothing for "this kind of thing in general")?"""
    request = context.get("request")
    # Never None here: None is the system, which may do anything; a page without a user is
    # anonymous and may do nothing.
    user = getattr(request, "user", None) or context.get("user") or AnonymousUser()
    if action not in access.Action.__members__.values():
        raise template.TemplateSyntaxError(
            f'Unknown action "{action}": use one of {", ".join(access.Action)}.'
        )
    return access.can(user, action, record)
