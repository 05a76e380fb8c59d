from django.urls import NoReverseMatch, reverse

from rapport.core import registry


def navigation(request):
    """The menu entries this user may open; apps that do not exist yet contribute nothing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    # Every template rendered with the request runs this again (a 360° page renders a dozen
    # panels), and the menu does not change within a request.
    cached = getattr(request, "_rapport_nav_items", None)
    if cached is not None:
        return {"nav_items": cached}
    items = []
    for item in registry.navigation:
        if item.permission is not None and not item.permission(user):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = request.path.startswith(url) if url != "/" else request.path == "/"
        items.append(
            {
                "key": item.key,
                "label": item.label,
                "url": url,
                "active": active,
                "section": item.section,
            }
        )
    request._rapport_nav_items = items
    return {"nav_items": items}
