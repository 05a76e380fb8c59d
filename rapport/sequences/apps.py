from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "rapport.sequences"
    label = "sequences"
    verbose_name = "Sequences"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.core import schedules
        from rapport.core.registry import NavItem, register_nav
        from rapport.sequences import (
            bulk_actions,
            merging,
            panels,
            subscribers,
            tasks,
            timeline,
            workflow_step,
        )
        from rapport.sequences.models import Enrollment, Sequence

        # A sequence is its owner's (only they or an administrator change it); an enrollment
        # belongs to the contact's relationship.
        access.register(Sequence, domain=Domain.SALES, personal=True)
        access.register(Enrollment, domain=Domain.CONTACTS, owners=access.owners_through("contact"))
        subscribers.connect()
        bulk_actions.register()
        panels.connect()
        merging.connect()
        workflow_step.connect()
        timeline.connect()
        register_nav(
            NavItem(
                key="sequences",
                label="Sequences",
                url_name="sequences:list",
                order=47,
                permission=access.is_signed_in,
            )
        )
        schedules.register_chain(tasks.CHAIN_NAME, tasks.run_due_steps, tasks.start_sweep)
