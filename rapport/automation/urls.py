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
