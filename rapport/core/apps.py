from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rapport.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from rapport.core import (
            lookups,  # noqa: F401 - registers field__any_of
            schedules,
            tasks,
        )

        schedules.register_chain(
            "idempotency pruning", tasks.prune_idempotency_records, tasks.schedule_next_prune
        )
