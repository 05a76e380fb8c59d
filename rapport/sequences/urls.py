from django.urls import path

from rapport.sequences import views

app_name = "sequences"

urlpatterns = [
    path("", views.sequence_list, name="list"),
    path("new/", views.sequence_create, name="create"),
    path("<int:pk>/", views.sequence_detail, name="detail"),
    path("<int:pk>/edit/", views.sequence_edit, name="edit"),
    path("<int:pk>/delete/", views.sequence_delete, name="delete"),
    path("enrollments/<int:pk>/<str:verb>/", views.enrollment_action, name="enrollment_action"),
    path("enroll/contact/<int:contact_pk>/", views.enroll_contact, name="enroll_contact"),
]
