"""A contact as a vCard 4.0 (RFC 6350), for address books and phones."""

from __future__ import annotations

import datetime as dt
import uuid

from rapport.contacts.models import Contact

NAMESPACE = uuid.UUID("6f1c3b7e-4a52-4f0e-9a51-7d1f0f2b9c11")


def escape(text: str) -> str:
    """Text value escaping of RFC 6350 §3.4: backslash, comma, semicolon, newline."""
    return (
        (text or "")
        .replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace(";", "\\;")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after CRLF and a space,
    never splitting a UTF-8 character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        limit = 75 if not parts else 74
        if size + width > limit:
            parts.append(current)
            current, size = "", 0
        current += ch
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def contact_vcard(contact: Contact) -> str:
    """The vCard text of `contact`: name, emails, phones (tel: URIs), organization and role,
    address, categories (tags), note, a stable UID and the last revision."""
    lines = ["BEGIN:VCARD", "VERSION:4.0"]
    full_name = f"{contact.first_name} {contact.last_name}".strip() or contact.full_name
    lines.append(f"FN:{escape(full_name)}")
    lines.append(f"N:{escape(contact.last_name)};{escape(contact.first_name)};;;")
    for email in contact.emails.all():
        pref = ";PREF=1" if email.is_primary else ""
        kind = "home" if email.label == "home" else "work"
        lines.append(f"EMAIL;TYPE={kind}{pref}:{escape(email.email)}")
    for phone in contact.phones.all():
        kinds = {"mobile": "cell", "home": "home", "work": "work"}.get(phone.label, "voice")
        pref = ";PREF=1" if phone.is_primary else ""
        lines.append(f"TEL;VALUE=uri;TYPE={kinds}{pref}:tel:{phone.number}")
    membership = (
        contact.memberships.select_related("organization").order_by("-is_primary", "id").first()
    )
    if membership is not None:
        lines.append(f"ORG:{escape(membership.organization.name)}")
    if contact.job_title:
        lines.append(f"TITLE:{escape(contact.job_title)}")
    if any((contact.street, contact.city, contact.region, contact.postcode, contact.country)):
        address = ";".join(
            escape(part)
            for part in (
                "",
                "",
                contact.street,
                contact.city,
                contact.region,
                contact.postcode,
                contact.country,
            )
        )
        lines.append(f"ADR;TYPE=work:{address}")
    tags = [escape(t.name) for t in contact.tags.all()]
    if tags:
        lines.append("CATEGORIES:" + ",".join(tags))
    if contact.about:
        lines.append(f"NOTE:{escape(contact.about)}")
    lines.append(f"UID:urn:uuid:{uuid.uuid5(NAMESPACE, f'contact:{contact.pk}')}")
    lines.append(f"REV:{contact.updated_at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}")
    lines.append("END:VCARD")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"


def vcard_filename(contact: Contact) -> str:
    base = "".join(ch for ch in contact.full_name if ch.isalnum() or ch in " -_").strip()
    return f"{base.replace(' ', '-') or 'contact'}.vcf"
