from django.urls import path

from rapport.interactions import views

app_name = "interactions"
urlpatterns = [
    path("contact/<int:pk>/timeline/", views.contact_timeline, name="contact_timeline"),
    path(
        "organization/<int:pk>/timeline/",
        views.organization_timeline,
        name="organization_timeline",
    ),
    path("contact/<int:pk>/log/", views.log_for_contact, name="log_for_contact"),
    path("organization/<int:pk>/log/", views.log_for_organization, name="log_for_organization"),
    path("<int:pk>/delete/", views.interaction_delete, name="interaction_delete"),
]
