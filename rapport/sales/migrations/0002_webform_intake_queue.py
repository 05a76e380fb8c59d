"""Web-form submissions are stored at once and processed by a task; rate limits get a table."""

from django.db import migrations, models
from django.db.models import F


def mark_existing_processed(apps, schema_editor):
    # Every submission before this migration was processed while the visitor waited.
    submission = apps.get_model("sales", "WebFormSubmission")
    submission.objects.filter(processed_at__isnull=True).update(processed_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="WebFormRateCounter",
            fields=[
                ("key", models.CharField(max_length=80, primary_key=True, serialize=False)),
                ("minute", models.BigIntegerField()),
                ("count", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="webformsubmission",
            name="processed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing_processed, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="webformsubmission",
            index=models.Index(
                condition=models.Q(("processed_at__isnull", True)),
                fields=["created_at"],
                name="sales_submission_pending",
            ),
        ),
    ]
