from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "rapport.audit"
    label = "audit"
    verbose_name = "Audit"

    def ready(self):
        from rapport.audit.views import history_panel_context
        from rapport.core.registry import Panel, register_panel

        for entity in ("contact", "organization"):
            register_panel(
                entity,
                Panel(
                    key="history",
                    title="History",
                    template="audit/history_panel.html",
                    context=history_panel_context,
                    column="side",
                    order=900,
                ),
            )
