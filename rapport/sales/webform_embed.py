"""The snippets a website owner pastes to embed a Rapport form: a plain HTML form (with a small
script that submits it in place) or an iframe of the hosted form."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from rapport.sales.services.webforms import HONEYPOT, form_fields


def public_urls(request, form) -> dict:
    return {
        "submit_url": request.build_absolute_uri(
            reverse("sales:webform_submit", args=[form.public_id])
        ),
        "hosted_url": request.build_absolute_uri(
            reverse("sales:webform_public", args=[form.public_id])
        ),
        "script_url": request.build_absolute_uri(reverse("sales:webform_script")),
    }


def embed_html(request, form) -> str:
    """A self-contained <form> posting to the public endpoint, plus its script tag.

    Without JavaScript it still works: the browser posts and Rapport shows the thank-you page
    (or redirects). With the script, it submits in place and shows errors beside the fields.
    """
    return render_to_string(
        "sales/webforms/embed_snippet.html",
        {
            "form": form,
            "fields": form_fields(form),
            "honeypot": HONEYPOT,
            **public_urls(request, form),
        },
    ).strip()


def iframe_html(request, form) -> str:
    return render_to_string(
        "sales/webforms/iframe_snippet.html", {"form": form, **public_urls(request, form)}
    ).strip()
