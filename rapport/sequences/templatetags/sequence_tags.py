from django import template

from rapport.sequences import manual_email

register = template.Library()


@register.simple_tag(takes_context=True)
def manual_email_url(context, task, waiting=None) -> str:
    """The compose address of the task's manual email step, "" for any other task. `waiting`
    is what `manual_email_tasks` found for the page's lists (absent on a row alone)."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if not isinstance(waiting, set):
        waiting = None  # the template engine gives "" for a name the page did not set
    return manual_email.write_url(user, task, waiting=waiting)


@register.simple_tag
def manual_email_tasks(*task_lists) -> set[int]:
    """The tasks of the page's lists that wait for a manual email, found in one query."""
    return manual_email.awaiting(task for tasks in task_lists for task in tasks or ())
