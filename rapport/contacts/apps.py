from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "rapport.contacts"
    label = "contacts"
    verbose_name = "Contacts"

    def ready(self):
        from rapport.contacts import panels
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
