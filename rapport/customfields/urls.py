from django.urls import path

from rapport.customfields import views

app_name = "customfields"
urlpatterns = [
    path("", views.definition_list, name="definition_list"),
    path("new/", views.definition_create, name="definition_create"),
    path("<int:pk>/", views.definition_edit, name="definition_edit"),
    path("<int:pk>/active/", views.definition_set_active, name="definition_set_active"),
]
