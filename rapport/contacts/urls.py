from django.urls import path

from rapport.contacts import inline, suggest, views, views_saved

app_name = "contacts"
urlpatterns = [
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/panels/<slug:key>/", views.contact_panel, name="contact_panel"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/archive/", views.contact_archive, name="contact_archive"),
    path("contacts/<int:pk>/restore/", views.contact_restore, name="contact_restore"),
    path("contacts/<int:pk>/lifecycle/", views.contact_lifecycle, name="contact_lifecycle"),
    path(
        "contacts/<int:pk>/fields/<str:name>/",
        inline.field,
        {"entity": "contact"},
        name="contact_field",
    ),
    path(
        "contacts/<int:pk>/fields/<str:name>/edit/",
        inline.field_edit,
        {"entity": "contact"},
        name="contact_field_edit",
    ),
    path(
        "contacts/<int:pk>/organizations/",
        views.contact_membership_add,
        name="contact_membership_add",
    ),
    path(
        "contacts/<int:pk>/organizations/<int:organization_pk>/remove/",
        views.contact_membership_remove,
        name="contact_membership_remove",
    ),
    path("organizations/", views.organization_list, name="organization_list"),
    path("lists/views/", views_saved.saved_view_create, name="saved_view_create"),
    path("lists/views/default/", views_saved.saved_view_default, name="saved_view_default"),
    path("lists/views/<int:pk>/", views_saved.saved_view_update, name="saved_view_update"),
    path("lists/views/<int:pk>/delete/", views_saved.saved_view_delete, name="saved_view_delete"),
    path("lists/columns/", views_saved.list_columns, name="list_columns"),
    path("organizations/new/", views.organization_create, name="organization_create"),
    path("organizations/lookup/", views.organization_lookup, name="organization_lookup"),
    path("contacts/suggest/", suggest.contact_suggestions, name="contact_suggestions"),
    path(
        "organizations/suggest/",
        suggest.organization_suggestions,
        name="organization_suggestions",
    ),
    path("organizations/<int:pk>/", views.organization_detail, name="organization_detail"),
    path(
        "organizations/<int:pk>/panels/<slug:key>/",
        views.organization_panel,
        name="organization_panel",
    ),
    path("organizations/<int:pk>/edit/", views.organization_edit, name="organization_edit"),
    path(
        "organizations/<int:pk>/fields/<str:name>/",
        inline.field,
        {"entity": "organization"},
        name="organization_field",
    ),
    path(
        "organizations/<int:pk>/fields/<str:name>/edit/",
        inline.field_edit,
        {"entity": "organization"},
        name="organization_field_edit",
    ),
    path(
        "organizations/<int:pk>/archive/", views.organization_archive, name="organization_archive"
    ),
    path(
        "organizations/<int:pk>/restore/", views.organization_restore, name="organization_restore"
    ),
    path(
        "organizations/<int:pk>/relationships/",
        views.organization_relationship_add,
        name="organization_relationship_add",
    ),
    path(
        "organizations/<int:pk>/relationships/<int:relationship_pk>/remove/",
        views.organization_relationship_remove,
        name="organization_relationship_remove",
    ),
]
