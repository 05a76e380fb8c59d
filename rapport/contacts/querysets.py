"""Named, scoped reads for contacts and organizations."""

from django.db import models

from rapport.accounts.access import scope_q
from rapport.accounts.choices import Domain


def search_terms(query: str) -> list[str]:
    """Lowercased words of a search; a phone-like query also yields its digits."""
    words = [w for w in query.casefold().split() if w][:6]
    return [w[:100] for w in words]


class ContactQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(scope_q(user, Domain.CONTACTS))

    def active(self):
        return self.filter(is_archived=False)

    def archived(self):
        return self.filter(is_archived=True)

    def search(self, query: str):
        """Every word must appear in the name, an email, a phone or an organization name."""
        qs = self
        for word in search_terms(query):
            digits = "".join(ch for ch in word if ch.isdigit())
            if len(digits) >= 4 and len(digits) >= len(word) - 3:
                word = digits
            qs = qs.filter(search_text__contains=word)
        return qs


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(scope_q(user, Domain.CONTACTS))

    def active(self):
        return self.filter(is_archived=False)

    def search(self, query: str):
        qs = self
        for word in search_terms(query):
            qs = qs.filter(search_text__contains=word)
        return qs
