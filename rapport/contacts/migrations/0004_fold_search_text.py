"""Bring every stored search column to the folded rule of `contacts.search` (accents dropped,
umlauts also spelled out), so "muller" and "mueller" find the Müllers already in the database."""

from django.db import migrations

BATCH = 2000


def refold(apps, schema_editor):
    from rapport.contacts.search import refold as refold_text

    for name in ("Contact", "Organization"):
        model = apps.get_model("contacts", name)
        last = 0
        while True:
            rows = list(
                model.objects.filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", "search_text")[:BATCH]
            )
            if not rows:
                break
            last = rows[-1][0]
            changed = [
                model(pk=pk, search_text=refold_text(text))
                for pk, text in rows
                if not text.isascii()
            ]
            model.objects.bulk_update(changed, ["search_text"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_sort_key_indexes")]

    operations = [migrations.RunPython(refold, migrations.RunPython.noop, elidable=True)]
