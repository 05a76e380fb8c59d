"""Search folds accents both ways and reads phone numbers in any formatting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rapport.contacts import search
from rapport.contacts.models import Contact, Organization
from rapport.contacts.tests.factories import make_contact, make_organization


def found(query, user):
    return sorted(c.first_name for c in Contact.objects.visible_to(user).search(query))


@pytest.mark.parametrize(
    "query", ["mueller", "muller", "Müller", "MÜLLER", "jorg", "joerg", "Jörg Mueller"]
)
def test_accents_fold_both_ways(owner, query):
    make_contact(actor=owner, owner=owner, first_name="Jörg", last_name="Müller")
    make_contact(actor=owner, owner=owner, first_name="Anna", last_name="Mill")

    assert found(query, owner) == ["Jörg"]


def test_an_accented_query_finds_a_name_typed_without_accents(owner):
    make_contact(actor=owner, owner=owner, first_name="Zoe", last_name="Lefevre")

    assert found("Zoë Lefèvre", owner) == ["Zoe"]


@pytest.mark.parametrize(
    "query", ["+49 1512", "+49 151 2345", "01512", "0151 2345 6789", "(0151) 2345-6789", "4915123"]
)
def test_phones_are_found_in_any_formatting(owner, query):
    make_contact(actor=owner, owner=owner, first_name="Ada", phones=["+49 151 23456789"])
    make_contact(actor=owner, owner=owner, first_name="Bob", phones=["+44 20 7946 0958"])

    assert found(query, owner) == ["Ada"]


def test_emails_keep_their_punctuation(owner):
    make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada.l@analytical.example"])
    make_contact(actor=owner, owner=owner, first_name="Bob", emails=["adal@analytical.example"])

    assert found("ada.l@analytical", owner) == ["Ada"]


def test_organizations_fold_too(owner):
    make_organization(actor=owner, owner=owner, name="Café Grünwald")

    assert list(Organization.objects.search("gruenwald").values_list("name", flat=True)) == [
        "Café Grünwald"
    ]
    assert list(Organization.objects.search("cafe grunwald").values_list("name", flat=True)) == [
        "Café Grünwald"
    ]


@given(st.text(min_size=1, max_size=30))
def test_a_stored_word_is_found_by_its_own_spelling(word):
    # Whatever a user typed into a record, typing it again finds it.
    stored = search.search_text([word])
    for term in search.query_terms(word):
        assert term in stored


def test_refold_brings_an_old_column_to_the_rule():
    assert search.refold("jörg müller") == search.search_text(["Jörg", "Müller"])
