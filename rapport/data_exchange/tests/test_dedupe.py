"""The pure duplicate finder: normalization, blocking and scoring, without a database."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.data_exchange import dedupe
from rapport.data_exchange.dedupe import Company, Person, Rule

RULES = [
    Rule("external_id", "exact", 0.99),
    Rule("email", "exact", 0.95, conflict=0.5),
    Rule("phone", "exact", 0.9),
    Rule("name", "fuzzy", 0.7, 0.85),
    Rule("organization", "fuzzy", 0.35, 0.9),
    Rule("domain", "exact", 0.35),
    Rule("city", "exact", 0.15),
    Rule("postcode", "exact", 0.25),
]
ORG_RULES = [
    Rule("domain", "exact", 0.95),
    Rule("phone", "exact", 0.8),
    Rule("name", "fuzzy", 0.8, 0.9),
    Rule("city", "exact", 0.2),
]


def pairs(matches):
    return {(m.key_a, m.key_b) for m in matches}


def test_fold_strips_accents_case_and_punctuation():
    assert dedupe.fold("  Zoë  O'Neil-Smith ") == "zoe o neil smith"
    assert dedupe.fold("MÜLLER") == "muller"
    assert dedupe.fold("") == ""


def test_soundex_matches_the_reference_codes():
    assert dedupe.soundex("Robert") == "R163"
    assert dedupe.soundex("Rupert") == "R163"
    assert dedupe.soundex("Ashcraft") == "A261"  # h does not separate s and c
    assert dedupe.soundex("Tymczak") == "T522"
    assert dedupe.soundex("Pfister") == "P236"
    assert dedupe.soundex("Lee") == "L000"
    assert dedupe.soundex("123") == ""


def test_nicknames_and_legal_forms_are_normalized():
    assert dedupe.canonical_first_name("Bob") == "robert"
    assert dedupe.canonical_first_name("Liz Ann") == "elizabeth ann"
    assert dedupe.organization_key("ACME Widgets, Inc.") == "acme widgets"
    assert dedupe.organization_key("The Company") == "the company"  # only filler words: kept


def test_company_domain_skips_free_mail():
    assert dedupe.company_domain(["ada@gmail.com", "ada@engines.co.uk"]) == "engines.co.uk"
    assert dedupe.company_domain(["ada@gmail.com"]) == ""
    assert dedupe.company_domain(["ada@gmail.com"], "engines.io") == "engines.io"


def test_email_identity_ignores_plus_tags():
    assert dedupe.email_identity("Ada+news@Example.org") == "ada@example.org"


def test_same_email_is_a_duplicate_with_its_reason():
    people = [
        Person(key=1, first_name="Ada", last_name="Lovelace", emails=("ada@engines.org",)),
        Person(key=2, first_name="A.", last_name="King", emails=("ada@engines.org",)),
        Person(key=3, first_name="Charles", last_name="Babbage", emails=("cb@engines.org",)),
    ]
    matches = dedupe.find_duplicates("contact", people, RULES, threshold=0.75)
    assert pairs(matches) == {(1, 2)}
    assert matches[0].reasons[0] == "same email"
    assert matches[0].score == pytest.approx(0.95 + 0.05 * 0.35, abs=1e-4)  # + same domain


def test_similar_name_needs_corroboration():
    lone = [
        Person(key=1, first_name="Jonathan", last_name="Smith", city="Leeds"),
        Person(key=2, first_name="Jonathon", last_name="Smith", city="Leeds"),
    ]
    assert dedupe.find_duplicates("contact", lone, RULES, threshold=0.75) == []
    at_work = [
        Person(key=1, first_name="Jonathan", last_name="Smith", organization="Acme Inc"),
        Person(key=2, first_name="Jonathon", last_name="Smith", organization="ACME"),
    ]
    [match] = dedupe.find_duplicates("contact", at_work, RULES, threshold=0.75)
    assert (match.key_a, match.key_b) == (1, 2)
    assert match.reasons == ("name 94 % similar", "same organization")


def test_different_first_names_at_one_company_are_two_people():
    people = [
        Person(key=1, first_name="Jared", last_name="Sanchez", organization="Hodge LLC"),
        Person(key=2, first_name="Jane", last_name="Sanchez", organization="Hodge LLC"),
    ]
    assert dedupe.find_duplicates("contact", people, RULES, threshold=0.75) == []


def test_two_addresses_at_one_company_are_two_people():
    namesakes = [
        Person(
            key=1,
            first_name="Michael",
            last_name="Smith",
            emails=("michael.smith@chandler.net",),
            organization="Chandler LLC",
        ),
        Person(
            key=2,
            first_name="Michael",
            last_name="Smith",
            emails=("michael.smith2@chandler.net",),
            organization="Chandler LLC",
        ),
    ]
    assert dedupe.find_duplicates("contact", namesakes, RULES, threshold=0.75) == []
    # A private address beside a work one says nothing either way.
    private = [
        namesakes[0],
        Person(
            key=3,
            first_name="Michael",
            last_name="Smith",
            emails=("mike.s@gmail.com",),
            organization="Chandler",
        ),
    ]
    [match] = dedupe.find_duplicates("contact", private, RULES, threshold=0.75)
    assert match.reasons == ("same name", "same organization")
    # Below the threshold a conflict is shown among the reasons.
    [kept] = dedupe.find_duplicates("contact", namesakes, RULES, threshold=0.3)
    assert kept.reasons[-1] == "different emails at one domain"
    assert kept.score == pytest.approx((1 - 0.3 * 0.65 * 0.65) * 0.5, abs=1e-4)


def test_nickname_matches_the_full_name():
    people = [
        Person(key=1, first_name="Robert", last_name="Jones", emails=("rj@jones.io",)),
        Person(
            key=2,
            first_name="Bob",
            last_name="Jones",
            emails=("bob@gmail.com",),
            organization_domain="jones.io",
        ),
    ]
    [match] = dedupe.find_duplicates("contact", people, RULES, threshold=0.75)
    assert match.reasons == ("same name", "same domain")


def test_swapped_first_and_last_name():
    people = [
        Person(key=1, first_name="Wei", last_name="Zhang", organization="Lotus"),
        Person(key=2, first_name="Zhang", last_name="Wei", organization="Lotus"),
    ]
    assert pairs(dedupe.find_duplicates("contact", people, RULES, threshold=0.75)) == {(1, 2)}


def test_a_shared_switchboard_number_is_not_evidence():
    people = [
        Person(key=k, first_name=f"Person{k}", last_name=f"Other{k}", phones=("+441632960000",))
        for k in range(1, 8)
    ]
    assert dedupe.find_duplicates("contact", people, RULES, threshold=0.75) == []
    two = people[:2]
    assert pairs(dedupe.find_duplicates("contact", two, RULES, threshold=0.75)) == {(1, 2)}


def test_match_one_scores_a_new_record_against_candidates():
    new = Person(key=-1, first_name="Grace", last_name="Hopper", phones=("+12025550143",))
    candidates = [
        Person(key=10, first_name="Grace", last_name="Hopper", phones=("+12025550143",)),
        Person(key=11, first_name="Grace", last_name="Kelly"),
    ]
    [match] = dedupe.match_one("contact", new, candidates, RULES, threshold=0.75)
    assert (match.key_a, match.key_b) == (-1, 10)
    assert match.reasons == ("same phone", "same name")


def test_organizations_by_domain_and_by_name():
    companies = [
        Company(key=1, name="Initech LLC", domains=("initech.com",)),
        Company(key=2, name="Initech", city="Austin"),
        Company(key=3, name="Globex", domains=("initech.com",)),
        Company(key=4, name="Umbrella"),
    ]
    found = pairs(dedupe.find_duplicates("organization", companies, ORG_RULES, threshold=0.75))
    assert found == {(1, 2), (1, 3)}


def test_check_rule_names_the_problem():
    assert dedupe.check_rule("contact", Rule("email", "fuzzy", 0.5)) == {
        "method": "email can be compared by: exact."
    }
    assert "weight" in dedupe.check_rule("contact", Rule("name", "fuzzy", 1.5))
    assert "field" in dedupe.check_rule("organization", Rule("postcode", "exact", 0.5))
    assert dedupe.check_rule("contact", Rule("name", "phonetic", 0.4)) == {}
    assert "conflict" in dedupe.check_rule("contact", Rule("name", "fuzzy", 0.4, conflict=0.2))
    assert "conflict" in dedupe.check_rule("contact", Rule("phone", "exact", 0.4, conflict=1.0))


def test_blocking_compares_far_fewer_pairs_than_all_of_them():
    people = [
        Person(key=k, first_name=f"First{k % 97}", last_name=f"Last{k % 89}", city=f"City{k % 13}")
        for k in range(3000)
    ]
    table = dedupe.people_table(people)
    candidates = dedupe.candidate_pairs(table)
    assert len(candidates) < 3000 * 60  # versus 4.5 million pairs in all
    assert np.all(np.diff(candidates) > 0)  # sorted, distinct


def test_large_blocks_still_bring_sorted_neighbours_together():
    # 300 people at one company: too many to compare all pairs, so the block is sorted by
    # name and each meets its next few neighbours; the misspelt second record is one of them.
    rng = random.Random(3)
    letters = "bcdfghjklmnprstvz"
    people = [
        Person(
            key=k,
            first_name="".join(rng.choice(letters) for _ in range(6)),
            last_name="".join(rng.choice(letters) for _ in range(9)),
            organization="Big Company",
        )
        for k in range(300)
    ]
    original = people[150]
    people.append(
        Person(
            key=999,
            first_name=original.first_name,
            last_name=original.last_name[:-1] + "x",
            organization="Big Company",
        )
    )
    table = dedupe.people_table(people)
    assert len(dedupe.candidate_pairs(table)) < 301 * 40  # all pairs would be 45,150
    found = pairs(dedupe.find_duplicates("contact", people, RULES, threshold=0.75))
    assert found == {(150, 999)}


def test_evaluate_precision_recall_and_closure():
    result = dedupe.evaluate([(1, 2), (2, 3), (7, 8)], [(1, 2), (1, 3), (2, 3), (4, 5)])
    assert result["true_positives"] == 2
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 4)
    closed = dedupe.evaluate([(1, 2), (2, 3)], [(1, 2), (1, 3), (2, 3)], closure=True)
    assert closed["precision"] == 1.0 and closed["recall"] == 1.0


names = st.text(alphabet=st.characters(categories=["L"]), min_size=0, max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, names, st.sampled_from(["", "a@x.io", "b@y.io"])), max_size=25))
def test_scores_are_symmetric_bounded_and_pairs_ordered(rows):
    people = [
        Person(key=k, first_name=f, last_name=la, emails=(e,) if e else ())
        for k, (f, la, e) in enumerate(rows)
    ]
    matches = dedupe.find_duplicates("contact", people, RULES, threshold=0.5)
    for match in matches:
        assert match.key_a < match.key_b
        assert 0.5 <= match.score <= 1.0
    reversed_people = list(reversed(people))
    again = dedupe.find_duplicates("contact", reversed_people, RULES, threshold=0.5)
    assert {(m.key_a, m.key_b): m.score for m in matches} == pytest.approx(
        {(m.key_a, m.key_b): m.score for m in again}
    )
