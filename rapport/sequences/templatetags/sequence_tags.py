from django import template

from rapport.sequences import manual_email

register = template.Library()


@register.simple_tag(takes_context=True)
def manual_email_url(context, task) -> str:
    """The compose address of the task's manual email step, "" for any other task."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    return manual_email.write_url(user, task)


@register.simple_tag
def manual_email_tasks(*task_lists) -> str:
    """Find, in one query, which tasks of the page's lists wait for a manual email (the rows'
    `manual_email_url` then reads it). Writes nothing."""
    manual_email.mark_awaiting(task for tasks in task_lists for task in tasks or ())
    return ""
