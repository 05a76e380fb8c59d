from django.apps import AppConfig


class CustomFieldsConfig(AppConfig):
    name = "rapport.customfields"
    label = "customfields"
    verbose_name = "Custom fields"
