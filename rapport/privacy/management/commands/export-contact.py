"""`rapport export-contact ID --output FILE`: everything about a person as one JSON file (a
subject-access request), as the Privacy panel's download gives it. `-` writes to stdout."""

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from rapport.contacts.models import Contact
from rapport.privacy import services
from rapport.privacy.management.acting import acting_user


class Command(BaseCommand):
    help = "Export everything Rapport holds about a contact as JSON (subject-access request)."

    def add_arguments(self, parser):
        parser.add_argument("contact_id", type=int)
        parser.add_argument("--output", required=True, help="The file to write, or - for stdout.")
        parser.add_argument("--as", dest="username", help="The user to record as actor.")

    def handle(self, *args, contact_id, output, username, **options):
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise CommandError(f"No contact #{contact_id}.")
        try:
            document = services.export_contact(actor=acting_user(username), contact=contact)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        text = services.export_json(document)
        if output == "-":
            self.stdout.write(text)
            return
        Path(output).write_text(text + "\n", encoding="utf-8")
        self.stderr.write(f"Wrote the export of contact #{contact_id} to {output}.")
