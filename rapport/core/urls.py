from django.urls import path

from rapport.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
]

# Bulk actions on any list (core.views_bulk).
from rapport.core import views_bulk  # noqa: E402

urlpatterns += [
    path("bulk/<slug:entity>/", views_bulk.bulk_start, name="bulk_start"),
    path("bulk/<slug:entity>/fields/", views_bulk.bulk_fields, name="bulk_fields"),
    path("bulk/operations/<int:pk>/", views_bulk.operation_detail, name="bulk_operation"),
    path("bulk/operations/<int:pk>/undo/", views_bulk.operation_undo, name="bulk_undo"),
    path(
        "bulk/operations/<int:pk>/download.csv",
        views_bulk.operation_download,
        name="bulk_download",
    ),
]
