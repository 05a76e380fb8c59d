from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "rapport.mail"
    label = "mail"
    verbose_name = "Email"

    def ready(self):
        from rapport.accounts import access
        from rapport.accounts.choices import Domain
        from rapport.mail.models import EmailMessage, EmailTemplate, Mailbox

        # A personal mailbox is its owner's; a shared one has no owner and only administrators
        # may change it, so it names an owner no user has (the "personal" rule would otherwise
        # treat an ownerless record as everyone's).
        access.register(
            Mailbox,
            domain=Domain.MARKETING,
            owners=lambda mailbox: (mailbox.owner_id if mailbox.owner_id else -1,),
            personal=True,
        )
        access.register(
            EmailTemplate,
            domain=Domain.MARKETING,
            owners=lambda template: (template.owner_id if template.owner_id else -1,),
            personal=True,
        )
        # A message belongs to whoever owns a contact it was exchanged with or its organization.
        access.register(EmailMessage, domain=Domain.CONTACTS, owners=message_owners)

        from rapport.mail import wiring

        wiring.connect()


def message_owners(message):
    from rapport.contacts.models import Contact, Organization

    contact_ids = set()
    if message.pk is not None:
        contact_ids.update(
            message.participants.exclude(contact=None).values_list("contact_id", flat=True)
        )
    if message.contact_id:
        contact_ids.add(message.contact_id)
    owners = list(
        Contact._base_manager.filter(pk__in=contact_ids).values_list("owner_id", flat=True)
    )
    if message.organization_id:
        owners += list(
            Organization._base_manager.filter(pk=message.organization_id).values_list(
                "owner_id", flat=True
            )
        )
    return owners
