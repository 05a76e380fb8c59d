from django.urls import path

from rapport.mail import (
    views,
    views_mailboxes,
    views_messages,
    views_suppressed,
    views_templates,
)

app_name = "mail"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("triage/<uuid:uuid>/contact/", views.triage_create_contact, name="triage_contact"),
    path("triage/<uuid:uuid>/ignore/", views.triage_ignore, name="triage_ignore"),
    path(
        "triage/<uuid:uuid>/ignore-sender/",
        views.triage_ignore_sender,
        name="triage_ignore_sender",
    ),
    path("delivered/", views.delivered, name="delivered"),
    path("delivered/<str:key>/", views.delivered_one, name="delivered_one"),
    path("messages/<uuid:uuid>/", views_messages.message_detail, name="message"),
    path("messages/<uuid:uuid>/html/", views_messages.message_html, name="message_html"),
    path("messages/<uuid:uuid>/retry/", views.retry, name="retry"),
    path(
        "messages/<uuid:uuid>/attachments/<int:pk>/",
        views_messages.attachment_download,
        name="attachment",
    ),
    path("compose/", views_messages.compose, name="compose"),
    path("compose/template/", views_messages.compose_template, name="compose_template"),
    path("preview/", views_messages.preview_html, name="preview"),
    path("mailboxes/", views_mailboxes.mailbox_list, name="mailboxes"),
    path("mailboxes/new/", views_mailboxes.mailbox_create, name="mailbox_create"),
    path("mailboxes/<int:pk>/", views_mailboxes.mailbox_edit, name="mailbox_edit"),
    path("mailboxes/<int:pk>/pause/", views_mailboxes.mailbox_pause, name="mailbox_pause"),
    path("mailboxes/<int:pk>/remove/", views_mailboxes.mailbox_delete, name="mailbox_delete"),
    path("suppressed/", views_suppressed.suppressed_list, name="suppressed"),
    path(
        "suppressed/<int:pk>/release/",
        views_suppressed.suppressed_release,
        name="suppressed_release",
    ),
    path("templates/", views_templates.template_list, name="templates"),
    path("templates/new/", views_templates.template_create, name="template_create"),
    path("templates/<int:pk>/", views_templates.template_edit, name="template_edit"),
    path("templates/<int:pk>/remove/", views_templates.template_delete, name="template_delete"),
]
