from django.apps import AppConfig


class DataExchangeConfig(AppConfig):
    name = "rapport.data_exchange"
    label = "data_exchange"
    verbose_name = "Data exchange"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.access import can_write
        from rapport.accounts.choices import Domain
        from rapport.data_exchange.models import ImportJob, MappingPreset

        # A saved mapping preset and an import job are their creator's (or an administrator's).
        access.register(
            MappingPreset, domain=Domain.CONTACTS, owner_field="created_by", personal=True
        )
        access.register(ImportJob, domain=Domain.CONTACTS, owner_field="created_by", personal=True)
        from rapport.contacts.events import ContactCreated, OrganizationCreated
        from rapport.contacts.merges import register_survivor_lookup
        from rapport.core import schedules
        from rapport.core.events import subscribe
        from rapport.core.importing import register_importer
        from rapport.core.registry import (
            ContactCheck,
            NavItem,
            Panel,
            register_contact_check,
            register_nav,
            register_panel,
        )
        from rapport.data_exchange import panels, services, subscribers, tasks
        from rapport.data_exchange.events import ImportFinished
        from rapport.data_exchange.importing.contacts import ContactImporter
        from rapport.data_exchange.importing.organizations import OrganizationImporter
        from rapport.data_exchange.matching import duplicate_warnings

        register_importer(ContactImporter())
        # Old links to a merged-away record lead to the survivor (contacts' 360° pages).
        register_survivor_lookup("contact", services.resolve_merged_contact_id)
        register_survivor_lookup("organization", services.resolve_merged_organization_id)
        register_importer(OrganizationImporter())
        subscribe(ContactCreated, subscribers.check_new_contact)
        subscribe(OrganizationCreated, subscribers.check_new_organization)
        subscribe(ImportFinished, subscribers.detect_after_import)
        schedules.register_chain(
            "nightly duplicate detection",
            tasks.nightly_duplicate_detection,
            tasks.start_detection_chain,
        )
        schedules.register_chain(
            "daily data-quality snapshot",
            tasks.daily_quality_snapshot,
            tasks.schedule_next_quality_snapshot,
        )
        register_contact_check(ContactCheck(key="duplicates", warnings=duplicate_warnings))
        register_panel(
            "contact",
            Panel(
                key="identity",
                title="Identity",
                template="data_exchange/panels/identity.html",
                context=panels.contact_identity,
                order=90,
                column="side",
            ),
        )
        register_panel(
            "organization",
            Panel(
                key="identity",
                title="Possible duplicates",
                template="data_exchange/panels/identity.html",
                context=panels.organization_identity,
                order=90,
                column="side",
            ),
        )
        register_nav(
            NavItem(
                key="data_quality",
                label="Data quality",
                url_name="data_exchange:quality",
                order=60,
                section="data",
            )
        )
        register_nav(
            NavItem(
                key="duplicates",
                label="Duplicates",
                url_name="data_exchange:duplicates",
                order=61,
                section="data",
            )
        )
        register_nav(
            NavItem(
                key="imports",
                label="Import",
                url_name="data_exchange:imports",
                order=62,
                permission=can_write,
                section="data",
            )
        )
