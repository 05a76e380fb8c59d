"""`{% oidc_label as label %}`: the single sign-on button's label, or "" when it is off."""

from django import template

from rapport.accounts import oidc

register = template.Library()


@register.simple_tag
def oidc_label() -> str:
    config = oidc.provider()
    return config.label if config else ""
