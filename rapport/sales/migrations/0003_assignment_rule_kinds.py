# Hand-written beside a concurrent change to the sales models (deal product lines), so that
# `makemigrations` does not fold that unfinished work into this migration.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0002_webform_intake_queue"),
    ]

    operations = [
        migrations.AddField(
            model_name="assignmentrule",
            name="kind",
            field=models.CharField(
                choices=[
                    ("lead", "Leads"),
                    ("contact", "Contacts that are not leads"),
                    ("organization", "Organizations"),
                    ("deal", "Deals"),
                ],
                default="lead",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("task_reminder", "Task reminder"),
                    ("task_assigned", "Task assigned to you"),
                    ("lead_assigned", "Lead assigned to you"),
                    ("record_assigned", "Record assigned to you"),
                    ("assignment_blocked", "A rule could not place a record"),
                    ("model_trained", "Scoring model retrained"),
                ],
                max_length=30,
            ),
        ),
    ]
