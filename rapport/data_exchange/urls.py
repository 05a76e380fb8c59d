from django.urls import path, re_path

from rapport.data_exchange import views

app_name = "data_exchange"
urlpatterns = [
    path("quality/", views.quality_page, name="quality"),
    path("quality/records/<slug:figure>/", views.quality_records, name="quality_records"),
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/scan/", views.duplicate_scan, name="duplicate_scan"),
    path("duplicates/<slug:entity>/mark/", views.duplicate_mark, name="duplicate_mark"),
    path("duplicates/<slug:entity>/<int:pk>/", views.duplicate_review, name="duplicate_review"),
    path("duplicates/<slug:entity>/<int:pk>/merge/", views.duplicate_merge, name="duplicate_merge"),
    path(
        "duplicates/<slug:entity>/<int:pk>/dismiss/",
        views.duplicate_dismiss,
        name="duplicate_dismiss",
    ),
    path("matching-rules/<slug:entity>/", views.matching_rules, name="matching_rules"),
    path("imports/", views.import_list, name="imports"),
    path("imports/upload/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/mapping/", views.import_settings, name="import_settings"),
    path("imports/<int:pk>/errors.csv", views.import_errors_csv, name="import_errors"),
    path("imports/<int:pk>/undo/", views.import_undo, name="import_undo"),
    path("imports/<int:pk>/resume/", views.import_resume, name="import_resume"),
    path("imports/<int:pk>/run/", views.import_for_real, name="import_for_real"),
    path("export/", views.export_page, name="export"),
    re_path(
        r"^export/contacts\.(?P<extension>csv|xlsx)$",
        views.export_download,
        {"entity": "contact"},
        name="export_contacts",
    ),
    re_path(
        r"^export/organizations\.(?P<extension>csv|xlsx)$",
        views.export_download,
        {"entity": "organization"},
        name="export_organizations",
    ),
    path("export/contacts/<int:pk>.vcf", views.contact_vcard, name="contact_vcard"),
]
