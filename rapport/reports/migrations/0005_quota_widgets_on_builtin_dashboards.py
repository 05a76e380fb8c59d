"""Built-in dashboards made before quotas existed get their quota widget: the manager's the
team's attainment, the rep's their own quota, placed where a new dashboard has it. Widgets a
user removed since are not a reason to skip: these dashboards had never shown one."""

from django.db import migrations
from django.db.models import F

# (built-in key, list widget, its position in the first-use layout, its width)
QUOTA_WIDGETS = [("manager", "quota_attainment", 2, 8), ("rep", "my_quota", 0, 6)]


def add_quota_widgets(apps, schema_editor):
    Dashboard = apps.get_model("reports", "Dashboard")
    Widget = apps.get_model("reports", "Widget")
    for key, list_key, position, span in QUOTA_WIDGETS:
        for dashboard in Dashboard.objects.filter(key=key):
            widgets = Widget.objects.filter(dashboard=dashboard)
            if widgets.filter(list_key=list_key).exists():
                continue
            widgets.filter(position__gte=position).update(position=F("position") + 1)
            Widget.objects.create(
                dashboard=dashboard, kind="list", list_key=list_key, span=span, position=position
            )


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_order_lines_source")]

    operations = [migrations.RunPython(add_quota_widgets, migrations.RunPython.noop)]
