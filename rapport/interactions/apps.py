from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "rapport.interactions"
    label = "interactions"
    verbose_name = "Interactions"

    def ready(self):
        from rapport.interactions import views

        views.register_panels()
