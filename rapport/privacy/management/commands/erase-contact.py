"""`rapport erase-contact ID --reason "…" --yes`: erase a person as an administrator would from
their page. Without --yes it only says what it would do."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from rapport.contacts.models import Contact
from rapport.privacy import services
from rapport.privacy.management.acting import acting_user


class Command(BaseCommand):
    help = "Erase a contact's personal data everywhere (GDPR), keeping an anonymous record."

    def add_arguments(self, parser):
        parser.add_argument("contact_id", type=int)
        parser.add_argument("--reason", required=True, help="Why, for the audit log.")
        parser.add_argument("--yes", action="store_true", help="Really erase (cannot be undone).")
        parser.add_argument("--as", dest="username", help="The administrator to record as actor.")

    def handle(self, *args, contact_id, reason, yes, username, **options):
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise CommandError(f"No contact #{contact_id}.")
        actor = acting_user(username)
        if not yes:
            self.stdout.write(
                f"Would erase contact #{contact_id}. Nothing was changed: add --yes to erase."
            )
            return
        try:
            erasure = services.erase_contact(actor=actor, contact=contact, reason=reason)
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from None
        changed = sum(erasure.counts.values())
        self.stdout.write(
            f"Erased contact #{contact_id}: {changed} related records deleted or redacted."
        )
