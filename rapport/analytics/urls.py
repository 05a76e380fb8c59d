from django.urls import path

from rapport.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("refresh/", views.refresh_now, name="refresh"),
    path("refresh/status/", views.refresh_status, name="refresh_status"),
    path("customers/", views.customers, name="customers"),
    path("customers/export.csv", views.customers_export, name="customers_export"),
    path("customers/<int:contact_id>/history/", views.customer_history, name="customer_history"),
    path("at-risk/", views.at_risk, name="at_risk"),
    path("rfm/", views.rfm_view, name="rfm"),
    path("pareto/", views.pareto_view, name="pareto"),
    path("clv/", views.clv_view, name="clv"),
    path("cohorts/", views.cohorts_view, name="cohorts"),
    path("model/", views.model_view, name="model"),
    path("settings/", views.configuration, name="configuration"),
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/count/", views.segment_count, name="segment_count"),
    path("segments/add-customers/", views.list_add_customers, name="list_add_customers"),
    path("segments/<int:pk>/", views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/export.csv", views.segment_export, name="segment_export"),
    path("segments/<int:pk>/archive/", views.segment_archive, name="segment_archive"),
    path("segments/<int:pk>/save-as-list/", views.segment_freeze, name="segment_freeze"),
    path(
        "segments/<int:pk>/members/<int:contact_id>/remove/",
        views.segment_remove_member,
        name="segment_remove_member",
    ),
]
