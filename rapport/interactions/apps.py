from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "rapport.interactions"
    label = "interactions"
    verbose_name = "Interactions"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.interactions import views
        from rapport.interactions.models import Interaction

        # An interaction belongs to whoever owns the contact or the organization it is about.
        access.register(
            Interaction,
            domain=Domain.CONTACTS,
            owners=access.owners_through("contact", "organization"),
        )

        views.register_panels()
        # Activities files come in through the shared import machinery (history, dry run, undo).
        from rapport.core.importing import register_importer
        from rapport.interactions.importing import ActivityImporter

        register_importer(ActivityImporter())
