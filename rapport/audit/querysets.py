from rapport.audit.models import ChangeRecord


def history_of(instance, limit: int = 50):
    """The newest changes of one record."""
    return ChangeRecord.objects.filter(
        entity=instance._meta.label_lower, object_id=str(instance.pk)
    ).select_related("actor")[:limit]


def changed_since(entity: str, ids, moment) -> set[int]:
    """The ids among `ids` of records of `entity` ("app.model") changed after `moment`."""
    return {
        int(pk)
        for pk in ChangeRecord.objects.filter(
            entity=entity, object_id__in=[str(pk) for pk in ids], occurred_at__gt=moment
        ).values_list("object_id", flat=True)
    }
