from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "rapport.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self):
        from rapport.core import schedules
        from rapport.core.registry import Panel, register_panel
        from rapport.privacy import panels, tasks

        # The retention page is linked from the administration menu (accounts/admin/_nav.html).
        schedules.register_chain("daily retention", tasks.daily_retention, tasks.schedule_next)
        register_panel(
            "contact",
            Panel(
                key="privacy",
                title="Privacy",
                template="privacy/panels/privacy.html",
                context=panels.privacy_panel,
                order=95,
                column="side",
            ),
        )
