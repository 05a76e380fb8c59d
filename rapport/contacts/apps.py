from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "rapport.contacts"
    label = "contacts"
    verbose_name = "Contacts"

    def ready(self):
        from rapport.contacts import bulk_actions

        bulk_actions.register()
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.contacts import panels
        from rapport.contacts.models import Contact, Organization, SavedView

        access.register(Contact, domain=Domain.CONTACTS, owner_field="owner")
        access.register(Organization, domain=Domain.CONTACTS, owner_field="owner")
        access.register(SavedView, domain=Domain.CONTACTS, owner_field="owner", personal=True)
        from rapport.core.registry import NavItem, register_nav

        panels.register()
        register_nav(
            NavItem(key="contacts", label="Contacts", url_name="contacts:contact_list", order=10)
        )
        register_nav(
            NavItem(
                key="organizations",
                label="Organizations",
                url_name="contacts:organization_list",
                order=20,
            )
        )
