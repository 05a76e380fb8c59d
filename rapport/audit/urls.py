from django.urls import path

from rapport.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.change_list, name="change_list"),
]
