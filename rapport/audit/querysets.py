from rapport.audit.models import ChangeRecord


def history_of(instance, limit: int = 50):
    """The newest changes of one record."""
    return ChangeRecord.objects.filter(
        entity=instance._meta.label_lower, object_id=str(instance.pk)
    ).select_related("actor")[:limit]
