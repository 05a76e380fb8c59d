"""Duplicate detection, pure: normalize identities, block candidate pairs, score them.

No Django here. Records come in as plain dataclasses and leave as NumPy arrays of pair indexes
and scores, so the same code scores one new contact against a handful of candidates and a
million contacts against each other.

How a pair is scored: each matching rule that fires contributes its weight w (times the
similarity s for a fuzzy rule), and the evidence combines like independent signals,
score = 1 − Π(1 − w·s). One strong identifier (same email, w = 0.95) is enough on its own; a
similar name (w = 0.6) needs corroboration — a shared company domain or organization — before it
crosses the review threshold.

Why blocking: comparing every pair of a million records is 5·10¹¹ comparisons. Records are
grouped by cheap keys (shared identifier; last-name sound + city; organization; …) and only pairs
inside a group are compared. A group small enough is compared in full; a large one (every Smith
in London) is sorted by name and each record meets only its next few neighbours (the sorted
neighbourhood method), so the work grows linearly with the number of records.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

# --- vocabulary ------------------------------------------------------------------------------

IDENTIFIER = "identifier"  # several exact values per record: emails, phones, external ids
NAME = "name"  # a person's or organization's name: exact, fuzzy or phonetic
CODE = "code"  # one value per record: city, postcode, domain

EXACT = "exact"
FUZZY = "fuzzy"
PHONETIC = "phonetic"

METHODS_BY_KIND = {
    IDENTIFIER: (EXACT,),
    NAME: (EXACT, FUZZY, PHONETIC),
    CODE: (EXACT, FUZZY),
}

PERSON_FIELDS = {
    "external_id": IDENTIFIER,
    "email": IDENTIFIER,
    "phone": IDENTIFIER,
    "name": NAME,
    "organization": NAME,
    "domain": CODE,
    "city": CODE,
    "postcode": CODE,
}
ORGANIZATION_FIELDS = {
    "domain": IDENTIFIER,
    "phone": IDENTIFIER,
    "name": NAME,
    "city": CODE,
    "country": CODE,
}
FIELDS_BY_ENTITY = {"contact": PERSON_FIELDS, "organization": ORGANIZATION_FIELDS}

# An identifier carried by more records than this is a shared one (a switchboard number,
# info@ address) and says nothing about identity.
MAX_SHARED = 5
# Blocks up to this size are compared in full; larger ones through a sorted window.
FULL_BLOCK = 40
WINDOW = 4

FREE_MAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "ymail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "outlook.com",
        "outlook.de",
        "live.com",
        "live.co.uk",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "t-online.de",
        "mail.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "mail.ru",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "wanadoo.fr",
        "libero.it",
        "virgilio.it",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "btinternet.com",
        "sky.com",
        "example.com",
        "example.org",
        "example.net",
    ]
)

LEGAL_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "gmbh",
        "ag",
        "kg",
        "mbh",
        "ug",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "aps",
        "pty",
        "pte",
        "kk",
        "group",
        "holding",
        "holdings",
        "the",
        "and",
    ]
)

# Common English nicknames mapped to one canonical first name, so Bob and Robert compare equal.
_NICKNAME_GROUPS = {
    "robert": "bob bobby rob robbie bert",
    "william": "bill billy will willy liam",
    "elizabeth": "liz lizzie beth betty eliza libby",
    "james": "jim jimmy jamie",
    "michael": "mike mikey mick",
    "katherine": "kate katie kathy cathy catherine kathryn kat",
    "thomas": "tom tommy",
    "david": "dave davey",
    "daniel": "dan danny",
    "christopher": "chris kit",
    "matthew": "matt matty",
    "joseph": "joe joey",
    "anthony": "tony",
    "steven": "steve stephen stevie",
    "nicholas": "nick nicky",
    "alexander": "alex sasha",
    "samuel": "sam sammy",
    "benjamin": "ben benny",
    "andrew": "andy drew",
    "jennifer": "jen jenny jenn",
    "jessica": "jess jessie",
    "susan": "sue susie",
    "patricia": "pat patty trish",
    "margaret": "maggie meg peggy",
    "richard": "rick ricky dick rich",
    "edward": "ed eddie ted teddy",
    "gregory": "greg",
    "jeffrey": "jeff",
    "kenneth": "ken kenny",
    "lawrence": "larry",
    "ronald": "ron ronnie",
    "timothy": "tim timmy",
    "abigail": "abby",
    "rebecca": "becky becca",
    "deborah": "debbie deb",
    "joshua": "josh",
    "kimberly": "kim",
    "amanda": "mandy",
    "nathan": "nate",
    "pamela": "pam",
    "victoria": "vicky tori",
    "zachary": "zach zack",
    "jonathan": "jon",
    "johnathan": "jon",
    "charles": "charlie chuck",
    "donald": "don donnie",
    "raymond": "ray",
    "gerald": "gerry jerry",
    "frederick": "fred freddie",
    "albert": "al",
    "alfred": "alf",
    "douglas": "doug",
    "philip": "phil",
    "phillip": "phil",
    "theodore": "theo",
    "susanne": "suzanne",
    "christine": "tina",
    "christina": "tina",
    "dorothy": "dot dotty",
    "barbara": "barb babs",
    "cynthia": "cindy",
    "sandra": "sandy",
    "teresa": "terry tess",
    "jacqueline": "jackie",
    "valerie": "val",
    "frances": "fran",
    "judith": "judy",
    "angela": "angie",
    "allison": "ally",
    "melissa": "missy mel",
    "samantha": "sammie",
    "natalie": "nat",
    "gabriel": "gabe",
    "maximilian": "max",
    "johannes": "hans",
}
NICKNAMES: dict[str, str] = {
    nick: canonical for canonical, nicks in _NICKNAME_GROUPS.items() for nick in nicks.split()
}


# --- normalization ---------------------------------------------------------------------------


_ASCII_FOLD = str.maketrans(
    {chr(c): (chr(c).lower() if chr(c).isalnum() else " ") for c in range(128)}
)


def fold(text: str | None) -> str:
    """Lowercase, accents stripped, punctuation to spaces, single-spaced: 'Zoë  O'Neil' → 'zoe o neil'."""
    if not text:
        return ""
    if text.isascii():
        return " ".join(text.translate(_ASCII_FOLD).split())
    decomposed = unicodedata.normalize("NFKD", text)
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        chars.append(ch.lower() if ch.isalnum() else " ")
    return " ".join("".join(chars).split())


_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}


def soundex(word: str) -> str:
    """American Soundex of the letters of `word` ('Robert' and 'Rupert' → 'R163'); '' if none."""
    letters = [ch for ch in fold(word) if "a" <= ch <= "z"]
    if not letters:
        return ""
    first = letters[0]
    result = [first.upper()]
    previous = _SOUNDEX_CODES.get(first, "")
    for ch in letters[1:]:
        code = _SOUNDEX_CODES.get(ch, "")
        if code and code != previous:
            result.append(code)
            if len(result) == 4:
                break
        # h and w do not separate letters with the same code; vowels do.
        if ch not in "hw":
            previous = code
    return "".join(result).ljust(4, "0")


def canonical_first_name(first_name: str) -> str:
    """The folded first name with a common nickname replaced by its full form."""
    folded = fold(first_name)
    if not folded:
        return ""
    head, _, rest = folded.partition(" ")
    head = NICKNAMES.get(head, head)
    return f"{head} {rest}".strip()


def person_name(first_name: str, last_name: str) -> str:
    """The comparable form of a person's name: canonical first name, then folded last name."""
    return f"{canonical_first_name(first_name)} {fold(last_name)}".strip()


def person_sound(first_name: str, last_name: str) -> str:
    first = canonical_first_name(first_name).split(" ", 1)[0]
    parts = [soundex(first), soundex(last_name)]
    return " ".join(p for p in parts if p)


def organization_key(name: str | None) -> str:
    """An organization name without legal form or filler: 'ACME Widgets, Inc.' → 'acme widgets'."""
    words = fold(name).split()
    # A name made only of such words ("The Company") keeps them.
    return " ".join(w for w in words if w not in LEGAL_SUFFIXES) or " ".join(words)


def organization_sound(name: str) -> str:
    words = organization_key(name).split()[:2]
    return " ".join(soundex(w) for w in words if soundex(w))


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower() if "@" in email else ""


def company_domain(emails: Iterable[str], organization_domain: str = "") -> str:
    """The web domain a person is known by at work: the organization's, else a work email's."""
    if organization_domain:
        return organization_domain.lower()
    for email in emails:
        domain = email_domain(email)
        if domain and domain not in FREE_MAIL_DOMAINS:
            return domain
    return ""


def email_identity(email: str) -> str:
    """An email as an identity: lowercased, without a '+tag' in the local part."""
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not at:
        return email
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


def postcode_key(postcode: str) -> str:
    return "".join(ch for ch in (postcode or "").upper() if ch.isalnum())


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """What duplicate detection knows of a contact. Phones are E.164, emails normalized."""

    key: int
    first_name: str = ""
    last_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    organization: str = ""
    organization_domain: str = ""
    city: str = ""
    postcode: str = ""


@dataclass(frozen=True, slots=True)
class Company:
    """What duplicate detection knows of an organization."""

    key: int
    name: str = ""
    domains: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    city: str = ""
    country: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """One matching rule: `field` compared by `method`; a fuzzy rule fires at `threshold`+.

    `conflict` (emails and phones only) is evidence against: when both records have the
    identifier and none is shared, the score is multiplied by (1 − conflict). For emails it
    counts only addresses at the same work domain — a work and a private address say nothing,
    two different addresses at one company are two people.
    """

    field: str
    method: str
    weight: float
    threshold: float = 0.0
    conflict: float = 0.0


CONFLICT_FIELDS = {"email", "phone"}


def check_rule(entity: str, rule: Rule) -> dict[str, str]:
    """Problems with a rule, keyed by its attribute; empty when the rule is usable."""
    problems = {}
    fields = FIELDS_BY_ENTITY.get(entity)
    if fields is None:
        return {"entity": "Choose contact or organization."}
    kind = fields.get(rule.field)
    if kind is None:
        problems["field"] = f"Choose one of: {', '.join(fields)}."
    elif rule.method not in METHODS_BY_KIND[kind]:
        problems["method"] = f"{rule.field} can be compared by: {', '.join(METHODS_BY_KIND[kind])}."
    if not 0 < rule.weight < 1:
        problems["weight"] = "Give a weight above 0 and below 1."
    if not 0 <= rule.threshold <= 1:
        problems["threshold"] = "Give a threshold between 0 and 1."
    if not 0 <= rule.conflict < 1:
        problems["conflict"] = "Give a penalty from 0 up to (not including) 1."
    elif rule.conflict and rule.field not in CONFLICT_FIELDS:
        problems["conflict"] = "Only emails and phones count against a match when they differ."
    return problems


@dataclass
class PeopleColumns:
    """Contacts as columns (what a database read produces without building objects).

    Identifiers are (row, value) lists: row is the position of the contact in `keys`.
    """

    keys: Sequence[int]
    first_names: Sequence[str]
    last_names: Sequence[str]
    organizations: Sequence[str]
    organization_domains: Sequence[str]
    cities: Sequence[str]
    postcodes: Sequence[str]
    emails: tuple[Sequence[int], Sequence[str]] = ((), ())
    phones: tuple[Sequence[int], Sequence[str]] = ((), ())
    external_ids: tuple[Sequence[int], Sequence[str]] = ((), ())

    @classmethod
    def from_people(cls, people: Sequence[Person]) -> PeopleColumns:
        def identifiers(attribute):
            rows, values = [], []
            for row, person in enumerate(people):
                for value in getattr(person, attribute):
                    rows.append(row)
                    values.append(value)
            return rows, values

        return cls(
            keys=[p.key for p in people],
            first_names=[p.first_name for p in people],
            last_names=[p.last_name for p in people],
            organizations=[p.organization for p in people],
            organization_domains=[p.organization_domain for p in people],
            cities=[p.city for p in people],
            postcodes=[p.postcode for p in people],
            emails=identifiers("emails"),
            phones=identifiers("phones"),
            external_ids=identifiers("external_ids"),
        )


@dataclass
class CompanyColumns:
    keys: Sequence[int]
    names: Sequence[str]
    cities: Sequence[str]
    countries: Sequence[str]
    domains: tuple[Sequence[int], Sequence[str]] = ((), ())
    phones: tuple[Sequence[int], Sequence[str]] = ((), ())

    @classmethod
    def from_companies(cls, companies: Sequence[Company]) -> CompanyColumns:
        def identifiers(attribute):
            rows, values = [], []
            for row, company in enumerate(companies):
                for value in getattr(company, attribute):
                    rows.append(row)
                    values.append(value)
            return rows, values

        return cls(
            keys=[c.key for c in companies],
            names=[c.name for c in companies],
            cities=[c.city for c in companies],
            countries=[c.country for c in companies],
            domains=identifiers("domains"),
            phones=identifiers("phones"),
        )


def _factorize(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Codes for strings (equal strings, equal codes; -1 for '') and the distinct strings.

    Runs at C speed (dict.setdefault through map), which matters at a million values.
    """
    index: dict[str, int] = {}
    first_seen = np.fromiter(
        map(index.setdefault, values, itertools.count()), dtype=np.int64, count=len(values)
    )
    uniques = list(index)
    remap = np.empty(len(values) + 1, dtype=np.int64)
    remap[np.fromiter(index.values(), dtype=np.int64, count=len(index))] = np.arange(len(index))
    codes = remap[first_seen] if len(values) else first_seen
    empty = index.get("")
    if empty is not None:
        codes[codes == remap[empty]] = -1
    return codes, uniques


def _normalized(values: Sequence[str], normalize) -> tuple[np.ndarray, np.ndarray]:
    """Codes of `normalize(value)` (computed once per distinct value) and the texts by code.

    The text array ends with '' so that indexing it with code -1 gives ''.
    """
    raw_codes, uniques = _factorize(values)
    normal_codes, normal_uniques = _factorize([normalize(u) for u in uniques])
    codes = np.where(raw_codes >= 0, normal_codes[raw_codes] if len(uniques) else -1, -1)
    texts = np.asarray([*normal_uniques, ""], dtype=object)
    return codes.astype(np.int64), texts


def _derive(codes: np.ndarray, texts: np.ndarray, derive) -> tuple[np.ndarray, np.ndarray]:
    """Codes of `derive(text)` for already-coded texts, computed once per distinct text."""
    derived_codes, derived = _normalized(list(texts[:-1]), derive)
    return np.where(codes >= 0, derived_codes[codes], -1), derived


def _rank(codes: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Each record's position in alphabetical order of its text (missing first)."""
    order = np.argsort(texts[:-1].astype(str), kind="stable") if len(texts) > 1 else []
    rank_of_code = np.empty(len(texts) - 1, dtype=np.int64)
    rank_of_code[order] = np.arange(len(order))
    return np.where(codes >= 0, rank_of_code[codes] + 1 if len(rank_of_code) else 0, 0)


@dataclass
class NameParts:
    firsts: np.ndarray  # canonical first names (nicknames resolved), per record
    lasts: np.ndarray
    last_codes: np.ndarray
    raw_firsts: np.ndarray  # first names as written, folded
    first_lengths: np.ndarray
    last_lengths: np.ndarray
    first_initials: np.ndarray
    last_initials: np.ndarray


@dataclass
class Column:
    kind: str
    text: np.ndarray | None = None  # object array of folded comparable text ("" when missing)
    exact: np.ndarray | None = None  # int64 codes of the folded text, -1 when missing
    phonetic: np.ndarray | None = None  # int64 codes of the sound key
    values: np.ndarray | None = None  # identifiers: value codes …
    rows: np.ndarray | None = None  # … and the record each belongs to
    present: np.ndarray | None = None  # identifiers: which records have at least one
    # Emails: the work domain a record's first work address is at (-1 when none), for conflicts.
    conflict_scope: np.ndarray | None = None
    parts: NameParts | None = None  # a person's name, compared part by part


@dataclass
class Table:
    """Records as columns: what blocking and scoring read."""

    entity: str
    keys: np.ndarray
    columns: dict[str, Column]
    # (block code per record, sort rank per record, largest block compared in full)
    blocks: list[tuple[np.ndarray, np.ndarray, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per (a, b) pair; -1 when either is missing."""
    width = max(int(b.max()) + 1, 1) if len(b) else 1
    combined = a.astype(np.int64) * width + b
    combined[(a < 0) | (b < 0)] = -1
    return combined


def _either(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per (a, b) pair where either may be missing; -1 only when both are."""
    b_width = int(b.max(initial=-1)) + 2
    combined = (a + 1).astype(np.int64) * b_width + (b + 1)
    combined[(a < 0) & (b < 0)] = -1
    return combined


def _identifier_column(identifiers, count: int, normalize=None) -> Column:
    rows, values = identifiers
    if normalize is not None:
        codes, _texts = _normalized(values, normalize)
    else:
        codes, _uniques = _factorize(values)
    rows = np.asarray(rows, dtype=np.int64)
    keep = codes >= 0
    present = np.zeros(count, dtype=bool)
    present[rows[keep]] = True
    return Column(kind=IDENTIFIER, values=codes[keep], rows=rows[keep], present=present)


def _text_column(kind: str, codes: np.ndarray, texts: np.ndarray, sound=None) -> Column:
    column = Column(kind=kind, text=texts[codes], exact=codes)
    if sound is not None:
        column.phonetic, _ = _derive(codes, texts, sound)
    return column


def _first_letter(texts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    letters = np.fromiter((ord(t[:1] or " ") for t in texts), dtype=np.int64, count=len(texts))
    return letters[codes]  # code -1 picks the trailing '' → ' '


def _lengths(texts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    return lengths[codes]


def _company_domains(
    columns: PeopleColumns, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: the organization's domain, else the first work (non-free) email domain;
    the texts by code; and the first work email domain alone."""
    rows, emails = columns.emails
    email_domains = [email.rpartition("@")[2] for email in emails]
    all_domains = [*columns.organization_domains, *email_domains]
    codes, texts = _normalized(all_domains, lambda d: "" if d in FREE_MAIL_DOMAINS else d.lower())
    result = codes[:count].copy()
    email_codes = codes[count:]
    rows = np.asarray(rows, dtype=np.int64)
    work_domain = np.full(count, -1, dtype=np.int64)
    work = np.flatnonzero(email_codes >= 0)
    if len(work):
        first_rows, first_index = np.unique(rows[work], return_index=True)
        work_domain[first_rows] = email_codes[work][first_index]
        fill = result[first_rows] < 0
        result[first_rows[fill]] = email_codes[work][first_index][fill]
    return result, texts, work_domain


def _email_identity_fast(email: str) -> str:
    return email if "+" not in email else email_identity(email)


def people_table(people: Sequence[Person] | PeopleColumns) -> Table:
    """Normalize contacts into columns and their blocking keys.

    Every normalization runs once per distinct value (a million contacts carry a few thousand
    first names), so building the table costs little more than reading the columns.
    """
    columns_in = people if isinstance(people, PeopleColumns) else PeopleColumns.from_people(people)
    count = len(columns_in.keys)
    raw_first, raw_first_texts = _normalized(columns_in.first_names, fold)
    first, first_texts = _derive(raw_first, raw_first_texts, canonical_first_name)
    last, last_texts = _normalized(columns_in.last_names, fold)
    first_sound, _ = _derive(first, first_texts, lambda f: soundex(f.split(" ", 1)[0]))
    last_sound, _ = _derive(last, last_texts, soundex)
    firsts, lasts = first_texts[first], last_texts[last]
    name = Column(
        kind=NAME,
        exact=_either(first, last),
        phonetic=_either(first_sound, last_sound),
        parts=NameParts(
            firsts=firsts,
            lasts=lasts,
            last_codes=last,
            raw_firsts=raw_first_texts[raw_first],
            first_lengths=_lengths(first_texts, first),
            last_lengths=_lengths(last_texts, last),
            first_initials=_first_letter(first_texts, first),
            last_initials=_first_letter(last_texts, last),
        ),
    )
    org, org_texts = _normalized(columns_in.organizations, organization_key)
    domain, domain_texts, work_domain = _company_domains(columns_in, count)
    city, city_texts = _normalized(columns_in.cities, fold)
    postcode, postcode_texts = _normalized(columns_in.postcodes, postcode_key)
    columns = {
        "external_id": _identifier_column(columns_in.external_ids, count),
        "email": _identifier_column(columns_in.emails, count, _email_identity_fast),
        "phone": _identifier_column(columns_in.phones, count),
        "name": name,
        "organization": _text_column(NAME, org, org_texts, organization_sound),
        "domain": _text_column(CODE, domain, domain_texts),
        "city": _text_column(CODE, city, city_texts),
        "postcode": _text_column(CODE, postcode, postcode_texts),
    }
    columns["email"].conflict_scope = work_domain
    first_rank = _rank(first, first_texts)
    last_rank = _rank(last, last_texts)
    by_name = first_rank * (int(last_rank.max(initial=0)) + 1) + last_rank
    by_last = last_rank * (int(first_rank.max(initial=0)) + 1) + first_rank
    # Blocks that share a sound-alike last name are small and compared in full; the wide
    # ones (everyone at a company, in a postcode) only bring neighbours in name order together.
    blocks = [
        (_combine(last_sound, city), by_name, FULL_BLOCK),
        (_combine(last_sound, org), by_name, FULL_BLOCK),
        (_combine(last_sound, domain), by_name, FULL_BLOCK),
        (org, by_last, WINDOW + 1),
        (domain, by_last, WINDOW + 1),
        (_combine(city, postcode), by_last, WINDOW + 1),
        (name.phonetic, by_name, WINDOW + 1),
    ]
    keys = np.asarray(columns_in.keys, dtype=np.int64)
    return Table(entity="contact", keys=keys, columns=columns, blocks=blocks)


def companies_table(companies: Sequence[Company] | CompanyColumns) -> Table:
    """Normalize organizations into columns and their blocking keys."""
    columns_in = (
        companies
        if isinstance(companies, CompanyColumns)
        else CompanyColumns.from_companies(companies)
    )
    name, name_texts = _normalized(columns_in.names, organization_key)
    city, city_texts = _normalized(columns_in.cities, fold)
    country, country_texts = _normalized(columns_in.countries, lambda c: c.strip().upper())
    columns = {
        "domain": _identifier_column(
            columns_in.domains, len(columns_in.keys), lambda d: d.strip().lower()
        ),
        "phone": _identifier_column(columns_in.phones, len(columns_in.keys)),
        "name": _text_column(NAME, name, name_texts, organization_sound),
        "city": _text_column(CODE, city, city_texts),
        "country": _text_column(CODE, country, country_texts),
    }
    prefix, _ = _derive(name, name_texts, lambda n: n.replace(" ", "")[:4])
    by_name = _rank(name, name_texts)
    blocks = [
        (columns["name"].phonetic, by_name, FULL_BLOCK),
        (prefix, by_name, FULL_BLOCK),
        (city, by_name, WINDOW + 1),
    ]
    keys = np.asarray(columns_in.keys, dtype=np.int64)
    return Table(entity="organization", keys=keys, columns=columns, blocks=blocks)


def _unique(codes: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a sort beats a hash table on tens of millions of int64)."""
    codes = np.sort(codes, kind="stable")
    if len(codes) < 2:
        return codes
    return codes[np.r_[True, codes[1:] != codes[:-1]]]


def _contains(sorted_values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which `codes` occur in `sorted_values` (binary search: the sorted side is small)."""
    if len(sorted_values) == 0:
        return np.zeros(len(codes), dtype=bool)
    index = np.searchsorted(sorted_values, codes)
    index[index == len(sorted_values)] = 0
    return sorted_values[index] == codes


def _pair_codes(left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    low = np.minimum(left, right)
    high = np.maximum(left, right)
    keep = low != high
    return low[keep] * n + high[keep]


def _block_positions(
    block: np.ndarray, sort_key: np.ndarray, *, window: int, full_block: int
) -> tuple[np.ndarray, np.ndarray]:
    """Position pairs within blocks: all pairs of a small block, sorted neighbours in a large one."""
    valid = np.flatnonzero(block >= 0)
    empty = np.empty(0, dtype=np.int64)
    if len(valid) < 2:
        return empty, empty
    order = valid[np.lexsort((sort_key[valid], block[valid]))]
    sorted_blocks = block[order]
    starts = np.flatnonzero(np.r_[True, sorted_blocks[1:] != sorted_blocks[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    is_small = np.repeat(sizes <= full_block, sizes)
    lefts, rights = [], []
    for offset in range(1, full_block):
        same = sorted_blocks[:-offset] == sorted_blocks[offset:]
        if offset > window:
            same &= is_small[:-offset]
        index = np.flatnonzero(same)
        if len(index) == 0:
            # Sorted by block: no pair at this distance means none further away either.
            break
        lefts.append(order[index])
        rights.append(order[index + offset])
    if not lefts:
        return empty, empty
    return np.concatenate(lefts), np.concatenate(rights)


def _block_pairs(
    block: np.ndarray, sort_key: np.ndarray, *, window: int, full_block: int, n: int
) -> np.ndarray:
    left, right = _block_positions(block, sort_key, window=window, full_block=full_block)
    return _pair_codes(left, right, n)


def _identifier_pairs(column: Column, n: int, max_shared: int) -> np.ndarray:
    """Codes of the record pairs that share a value, except values shared by too many records."""
    if column.values is None or len(column.values) < 2:
        return np.empty(0, dtype=np.int64)
    counts = np.bincount(column.values)
    keep = counts[column.values] <= max_shared
    values, rows = column.values[keep], column.rows[keep]
    left, right = _block_positions(values, rows, window=max_shared, full_block=max_shared + 1)
    return _unique(_pair_codes(rows[left], rows[right], n))


def candidate_pairs(table: Table, *, max_shared: int = MAX_SHARED) -> np.ndarray:
    """Sorted unique pair codes (low·n + high) worth scoring."""
    n = len(table)
    parts = [
        _identifier_pairs(column, n, max_shared)
        for column in table.columns.values()
        if column.kind == IDENTIFIER
    ]
    for block, sort_key, full_block in table.blocks:
        parts.append(_block_pairs(block, sort_key, window=WINDOW, full_block=full_block, n=n))
    if not parts:
        return np.empty(0, dtype=np.int64)
    return _unique(np.concatenate(parts))


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class Scored:
    """Scored pairs: record indexes (left < right), score in [0, 1] and each rule's similarity."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray
    similarity: dict[int, np.ndarray]  # rule index → similarity (0 when it did not fire)
    conflicts: dict[int, np.ndarray] = field(default_factory=dict)  # rule index → disagrees


def _similarity(
    table: Table,
    rule: Rule,
    left: np.ndarray,
    right: np.ndarray,
    shared: dict[str, np.ndarray],
    codes: np.ndarray,
) -> np.ndarray:
    column = table.columns[rule.field]
    if column.kind == IDENTIFIER:
        return _contains(shared[rule.field], codes).astype(np.float32)
    if rule.method == PHONETIC:
        a, b = column.phonetic[left], column.phonetic[right]
        return ((a == b) & (a >= 0)).astype(np.float32)
    a, b = column.exact[left], column.exact[right]
    if rule.method == EXACT:
        return ((a == b) & (a >= 0)).astype(np.float32)
    if column.parts is not None:
        return _person_similarity(column, left, right, rule.threshold)
    result = np.zeros(len(left), dtype=np.float32)
    both = np.flatnonzero((a >= 0) & (b >= 0))
    if len(both):
        same = a[both] == b[both]
        result[both[same]] = 1.0
        differ = both[~same]
        if len(differ):
            result[differ] = (
                process.cpdist(
                    column.text[left[differ]],
                    column.text[right[differ]],
                    scorer=fuzz.token_sort_ratio,
                    score_cutoff=rule.threshold * 100,
                    dtype=np.float32,
                    workers=-1,
                )
                / 100.0
            )
    return result


def _ratio(a: np.ndarray, b: np.ndarray, a_codes=None, b_codes=None) -> np.ndarray:
    """Similarity in [0, 1] of each a[k] with b[k]; equal codes skip the string comparison."""
    result = np.zeros(len(a), dtype=np.float32)
    if len(a) == 0:
        return result
    todo = slice(None)
    if a_codes is not None:
        same = a_codes == b_codes
        result[same] = 1.0
        todo = np.flatnonzero(~same)
        if len(todo) == 0:
            return result
    result[todo] = (
        process.cpdist(a[todo], b[todo], scorer=fuzz.ratio, dtype=np.float32, workers=-1) / 100.0
    )
    return result


def _person_similarity(
    column: Column, left: np.ndarray, right: np.ndarray, threshold: float
) -> np.ndarray:
    """Mean of first-name and last-name similarity, so 'Jared Sanchez' and 'Jane Sanchez' are
    two people while 'Tia Roodgers' and 'Tina Rodgers' are one. An initial matches the name it
    starts; a missing first name counts as a near match; swapped names are tried too."""
    parts = column.parts
    result = np.zeros(len(left), dtype=np.float32)
    index = np.flatnonzero((parts.last_lengths[left] > 0) & (parts.last_lengths[right] > 0))
    if len(index) == 0:
        return result
    a, b = left[index], right[index]
    last = _ratio(parts.lasts[a], parts.lasts[b], parts.last_codes[a], parts.last_codes[b])
    first = np.zeros(len(index), dtype=np.float32)
    # (first + last) / 2 cannot reach the threshold when the last names are too far apart.
    hopeful = np.flatnonzero(last >= 2 * threshold - 1 - 1e-6)
    if len(hopeful):
        ha, hb = a[hopeful], b[hopeful]
        first[hopeful] = np.maximum(
            _ratio(parts.firsts[ha], parts.firsts[hb]),
            # A nickname replaced by its full form must not hide a typo: 'Dbebie' vs 'Debbie'.
            _ratio(parts.raw_firsts[ha], parts.raw_firsts[hb]),
        )
    len_a, len_b = parts.first_lengths[a], parts.first_lengths[b]
    missing = (len_a == 0) | (len_b == 0)
    first[missing] = 0.9
    initial = ((len_a == 1) | (len_b == 1)) & ~missing
    same_letter = parts.first_initials[a] == parts.first_initials[b]
    first[initial] = np.where(same_letter[initial], 0.9, 0.0)
    similarity = (first + last) / 2
    swapped = np.flatnonzero(
        (similarity < threshold)
        & ~missing
        & (parts.first_initials[a] == parts.last_initials[b])
        & (parts.last_initials[a] == parts.first_initials[b])
    )
    if len(swapped):
        sa, sb = a[swapped], b[swapped]
        crossed = (
            _ratio(parts.firsts[sa], parts.lasts[sb]) + _ratio(parts.lasts[sa], parts.firsts[sb])
        ) / 2
        similarity[swapped] = np.maximum(similarity[swapped], crossed)
    result[index] = similarity
    return result


def score_pairs(
    table: Table,
    codes: np.ndarray,
    rules: Sequence[Rule],
    *,
    threshold: float,
    max_shared: int = MAX_SHARED,
) -> Scored:
    """Score the candidate pairs `codes`; keep those at `threshold` or above."""
    n = len(table)
    left = (codes // n).astype(np.int64)
    right = (codes % n).astype(np.int64)
    rules = [r for r in rules if r.field in table.columns]
    shared = {
        name: _identifier_pairs(column, n, max_shared)
        for name, column in table.columns.items()
        if column.kind == IDENTIFIER and any(r.field == name for r in rules)
    }
    # Cheap rules first, then fuzzy ones by weight. Before each string comparison, a pair that
    # could not reach the threshold even if every fuzzy rule left fired in full is dropped.
    cheap = [i for i, r in enumerate(rules) if r.method != FUZZY]
    costly = sorted(
        (i for i, r in enumerate(rules) if r.method == FUZZY), key=lambda i: -rules[i].weight
    )
    remaining = np.ones(len(codes), dtype=np.float64)
    # Evidence against (different phones; different addresses at one work domain) scales the
    # score down: score = (1 − Π(1 − w·s)) · Π(1 − conflict).
    against = np.ones(len(codes), dtype=np.float64)
    similarity: dict[int, np.ndarray] = {}
    conflicts: dict[int, np.ndarray] = {}
    for i in cheap:
        s = _similarity(table, rules[i], left, right, shared, codes)
        similarity[i] = s
        remaining *= 1.0 - rules[i].weight * s
        if rules[i].conflict:
            flag = _conflict(table.columns[rules[i].field], left, right, s)
            conflicts[i] = flag
            against *= np.where(flag, 1.0 - rules[i].conflict, 1.0)
    for position, i in enumerate(costly):
        best_possible = remaining * np.prod([1.0 - rules[j].weight for j in costly[position:]])
        alive = np.flatnonzero((1.0 - best_possible) * against >= threshold - 1e-9)
        if len(alive) < len(left):
            left, right, codes = left[alive], right[alive], codes[alive]
            remaining, against = remaining[alive], against[alive]
            similarity = {j: sim[alive] for j, sim in similarity.items()}
            conflicts = {j: flag[alive] for j, flag in conflicts.items()}
        s = _similarity(table, rules[i], left, right, shared, codes)
        s = np.where(s >= rules[i].threshold, s, 0.0).astype(np.float32)
        similarity[i] = s
        remaining *= 1.0 - rules[i].weight * s
    score = (1.0 - remaining) * against
    keep = np.flatnonzero(score >= threshold - 1e-9)
    return Scored(
        left=left[keep],
        right=right[keep],
        score=score[keep],
        similarity={i: s[keep] for i, s in similarity.items()},
        conflicts={i: flag[keep] for i, flag in conflicts.items()},
    )


def _conflict(column: Column, left: np.ndarray, right: np.ndarray, shared: np.ndarray):
    """Pairs where both records carry the identifier and share none of it."""
    if column.conflict_scope is not None:
        scope = column.conflict_scope
        both = (scope[left] == scope[right]) & (scope[left] >= 0)
    else:
        both = column.present[left] & column.present[right]
    return both & (shared == 0)


_LABELS = {
    "external_id": "external id",
    "email": "email",
    "phone": "phone",
    "name": "name",
    "organization": "organization",
    "domain": "domain",
    "city": "city",
    "postcode": "postcode",
    "country": "country",
}


def reason(rule: Rule, similarity: float) -> str:
    label = _LABELS.get(rule.field, rule.field)
    if rule.method == PHONETIC:
        return f"{label} sounds alike"
    if rule.method == FUZZY and similarity < 0.995:
        return f"{label} {round(similarity * 100)} % similar"
    return f"same {label}"


@dataclass(frozen=True)
class Match:
    """A suspected duplicate: the two record keys (lower first), score and why."""

    key_a: int
    key_b: int
    score: float
    reasons: tuple[str, ...]


CONFLICT_REASONS = {"phone": "different phones", "email": "different emails at one domain"}


def explain(table: Table, scored: Scored, rules: Sequence[Rule]) -> list[Match]:
    rules = [r for r in rules if r.field in table.columns]
    order = sorted(scored.similarity, key=lambda i: -rules[i].weight)
    matches = []
    for k in range(len(scored.left)):
        reasons = []
        seen_fields = set()
        for i in order:
            s = float(scored.similarity[i][k])
            if s > 0 and rules[i].field not in seen_fields:
                seen_fields.add(rules[i].field)
                reasons.append(reason(rules[i], s))
        for i, flags in scored.conflicts.items():
            if flags[k]:
                reasons.append(CONFLICT_REASONS[rules[i].field])
        a = int(table.keys[scored.left[k]])
        b = int(table.keys[scored.right[k]])
        matches.append(
            Match(
                key_a=min(a, b),
                key_b=max(a, b),
                score=round(float(scored.score[k]), 4),
                reasons=tuple(reasons),
            )
        )
    return matches


def _table(entity: str, records: Sequence) -> Table:
    return people_table(records) if entity == "contact" else companies_table(records)


def find_duplicates(
    entity: str, records: Sequence, rules: Sequence[Rule], *, threshold: float
) -> list[Match]:
    """Every suspected pair among `records` (Person or Company), best first."""
    if len(records) < 2:
        return []
    table = _table(entity, records)
    scored = score_pairs(table, candidate_pairs(table), rules, threshold=threshold)
    return sorted(explain(table, scored, rules), key=lambda m: (-m.score, m.key_a, m.key_b))


def match_one(
    entity: str, record, candidates: Sequence, rules: Sequence[Rule], *, threshold: float
) -> list[Match]:
    """The candidates that `record` likely duplicates, best first (one record vs a few)."""
    candidates = [c for c in candidates if c.key != record.key]
    if not candidates:
        return []
    table = _table(entity, [record, *candidates])
    n = len(table)
    codes = np.arange(1, n, dtype=np.int64)  # pairs (0, k): low index 0, so code = k
    scored = score_pairs(table, codes, rules, threshold=threshold)
    return sorted(explain(table, scored, rules), key=lambda m: -m.score)


def clusters(pairs: Iterable[tuple[int, int]]) -> list[set]:
    """Connected groups of records linked by `pairs`: what merging every pair would produce."""
    parent: dict = {}

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict = {}
    for x in parent:
        groups.setdefault(root(x), set()).add(x)
    return [g for g in groups.values() if len(g) > 1]


def _pairs_within(groups: Iterable[set]) -> set[tuple]:
    pairs = set()
    for group in groups:
        members = sorted(group)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add((a, b))
    return pairs


def evaluate(
    found: Iterable[tuple[int, int]], truth: Iterable[tuple[int, int]], *, closure: bool = False
) -> dict:
    """Precision and recall of `found` pairs against `truth` pairs (order-free).

    With `closure`, both sides are first closed transitively (A~B and B~C give A~C), which is
    how clusters compare once every suspected pair is merged.
    """
    found_set = {(min(a, b), max(a, b)) for a, b in found}
    truth_set = {(min(a, b), max(a, b)) for a, b in truth}
    if closure:
        found_set = _pairs_within(clusters(found_set))
        truth_set = _pairs_within(clusters(truth_set))
    hits = len(found_set & truth_set)
    return {
        "found": len(found_set),
        "truth": len(truth_set),
        "true_positives": hits,
        "precision": hits / len(found_set) if found_set else None,
        "recall": hits / len(truth_set) if truth_set else None,
    }
