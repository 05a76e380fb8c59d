from django.urls import path

from rapport.reports import dashboard_views, delivery_views, views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("new", views.report_create, name="create"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/edit", views.report_edit, name="edit"),
    path("<int:pk>/delete", views.report_delete, name="delete"),
    path("<int:pk>/records", views.report_records, name="records"),
    path("<int:pk>/export.csv", views.report_export_csv, name="export_csv"),
    path("<int:pk>/export.xlsx", views.report_export_xlsx, name="export_xlsx"),
    path("dashboards/", dashboard_views.dashboard_list, name="dashboard_list"),
    path("dashboards/new", dashboard_views.dashboard_create, name="dashboard_create"),
    path("dashboards/<int:pk>/", dashboard_views.dashboard_detail, name="dashboard_detail"),
    path(
        "dashboards/<int:pk>/settings",
        dashboard_views.dashboard_settings,
        name="dashboard_settings",
    ),
    path("dashboards/<int:pk>/delete", dashboard_views.dashboard_delete, name="dashboard_delete"),
    path(
        "dashboards/<int:pk>/widgets/add", dashboard_views.widget_add, name="dashboard_widget_add"
    ),
    path(
        "dashboards/<int:pk>/widgets/<int:widget_id>/",
        dashboard_views.widget_render,
        name="dashboard_widget",
    ),
    path(
        "dashboards/<int:pk>/widgets/<int:widget_id>/remove",
        dashboard_views.widget_remove,
        name="dashboard_widget_remove",
    ),
    path(
        "dashboards/<int:pk>/widgets/<int:widget_id>/move",
        dashboard_views.widget_move,
        name="dashboard_widget_move",
    ),
    path(
        "dashboards/<int:pk>/widgets/<int:widget_id>/resize",
        dashboard_views.widget_resize,
        name="dashboard_widget_resize",
    ),
    *(
        path(f"{prefix}<int:pk>/schedules/{suffix}", view, {"kind": kind}, name=f"{kind}_{name}")
        for kind, prefix in (("report", ""), ("dashboard", "dashboards/"))
        for suffix, view, name in (
            ("", delivery_views.schedules, "schedules"),
            ("people", delivery_views.schedule_people, "schedule_people"),
            ("<int:schedule_id>/", delivery_views.schedule_edit, "schedule_edit"),
            ("<int:schedule_id>/pause", delivery_views.schedule_pause, "schedule_pause"),
            ("<int:schedule_id>/delete", delivery_views.schedule_delete, "schedule_delete"),
            ("<int:schedule_id>/send", delivery_views.schedule_send, "schedule_send"),
        )
    ),
]
