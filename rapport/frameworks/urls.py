from django.urls import path

from rapport.frameworks import views

app_name = "frameworks"
urlpatterns = [
    path("", views.index, name="index"),
    path("choose/", views.guide, name="guide"),
    path("choose/confirm/", views.choose, name="choose"),
    path("measure/", views.measure_now, name="measure"),
    path("kpis/", views.kpi_list, name="kpi_list"),
    path("kpis/<slug:key>/", views.kpi_detail, name="kpi_detail"),
    path("kpis/<slug:key>/records/", views.kpi_records, name="kpi_records"),
    path("objectives/<int:pk>/", views.objective_detail, name="objective_detail"),
    path("objectives/<int:pk>/edit/", views.objective_edit, name="objective_edit"),
    path("objectives/<int:pk>/archive/", views.objective_archive, name="objective_archive"),
    path("assessments/<int:pk>/", views.assessment_detail, name="assessment_detail"),
    path("assessments/<int:pk>/complete/", views.assessment_complete, name="assessment_complete"),
    path("<slug:key>/", views.scorecard, name="scorecard"),
    path("<slug:key>/stages/<slug:stage>/targets/", views.stage_targets, name="stage_targets"),
    path("<slug:key>/objectives/new/", views.objective_create, name="objective_create"),
    path("<slug:key>/assessments/", views.assessment_list, name="assessment_list"),
]
