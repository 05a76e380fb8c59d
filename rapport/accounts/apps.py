from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "rapport.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from rapport.core.registry import NavItem, register_nav

        # The "admin" section is what the page header shows in the user's own menu.
        register_nav(
            NavItem(
                key="account",
                label="My account",
                url_name="accounts:account",
                order=890,
                section="admin",
            )
        )
        register_nav(
            NavItem(
                key="admin",
                label="Administration",
                url_name="accounts:admin_home",
                order=900,
                permission=lambda user: user.is_administrator,
                section="admin",
            )
        )
