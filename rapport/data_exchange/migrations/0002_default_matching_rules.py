"""The matching rules and thresholds a fresh installation starts with (tunable afterwards)."""

from django.db import migrations

RULES = {
    "contact": [
        ("external_id", "exact", 0.99, 0.0, 0.0),
        ("email", "exact", 0.95, 0.0, 0.5),
        ("phone", "exact", 0.9, 0.0, 0.0),
        ("name", "fuzzy", 0.7, 0.85, 0.0),
        ("organization", "fuzzy", 0.35, 0.9, 0.0),
        ("domain", "exact", 0.35, 0.0, 0.0),
        ("city", "exact", 0.15, 0.0, 0.0),
        ("postcode", "exact", 0.25, 0.0, 0.0),
    ],
    "organization": [
        ("domain", "exact", 0.95, 0.0, 0.0),
        ("phone", "exact", 0.8, 0.0, 0.0),
        ("name", "fuzzy", 0.8, 0.9, 0.0),
        ("city", "exact", 0.2, 0.0, 0.0),
    ],
}


def create_defaults(apps, schema_editor):
    MatchingRule = apps.get_model("data_exchange", "MatchingRule")
    MatchingPolicy = apps.get_model("data_exchange", "MatchingPolicy")
    for entity, rules in RULES.items():
        if MatchingRule.objects.filter(entity=entity).exists():
            continue
        MatchingRule.objects.bulk_create(
            [
                MatchingRule(entity=entity, field=f, method=m, weight=w, threshold=t, conflict=c)
                for f, m, w, t, c in rules
            ]
        )
        MatchingPolicy.objects.get_or_create(
            entity=entity, defaults={"review_threshold": 0.75, "import_match_threshold": 0.9}
        )


def remove_defaults(apps, schema_editor):
    apps.get_model("data_exchange", "MatchingRule").objects.all().delete()
    apps.get_model("data_exchange", "MatchingPolicy").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("data_exchange", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
