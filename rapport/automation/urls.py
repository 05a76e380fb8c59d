from django.urls import path

from rapport.automation import views

app_name = "automation"

urlpatterns = [
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/secret/", views.webhook_rotate_secret, name="webhook_rotate_secret"),
    path("webhooks/<int:pk>/switch/", views.webhook_switch, name="webhook_switch"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/deliveries/<int:pk>/replay/",
        views.delivery_replay,
        name="delivery_replay",
    ),
]

# Workflows (views_workflows): the list, the editor, the workflow's page and its runs.
from rapport.automation import views_workflows  # noqa: E402

urlpatterns += [
    path("workflows/", views_workflows.workflow_list, name="workflow_list"),
    path("workflows/new/", views_workflows.workflow_create, name="workflow_create"),
    path(
        "workflows/deals/suggest/",
        views_workflows.workflow_deal_suggestions,
        name="workflow_deal_suggestions",
    ),
    path("workflows/<int:pk>/", views_workflows.workflow_detail, name="workflow_detail"),
    path("workflows/<int:pk>/edit/", views_workflows.workflow_edit, name="workflow_edit"),
    path("workflows/<int:pk>/switch/", views_workflows.workflow_switch, name="workflow_switch"),
    path("workflows/<int:pk>/delete/", views_workflows.workflow_delete, name="workflow_delete"),
    path("workflows/runs/<int:pk>/", views_workflows.workflow_run, name="workflow_run"),
]
