"""Exports: formula cells neutralized, streamed in chunks, scoped and filtered; vCard."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from rapport.contacts.models import Contact
from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange import exporting, vcard

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1 415 555 0100", "'+1 415 555 0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Ada", "Ada"),
        ("a=b", "a=b"),
        (42, 42),
        (-3.5, -3.5),
        (None, ""),
        (True, "yes"),
        (["=x", "y"], "'=x; y"),
    ],
)
def test_neutralize(value, expected):
    assert exporting.neutralize(value) == expected


@pytest.fixture
def dangerous(owner):
    org = make_organization(actor=owner, owner=owner, name="=cmd|' /C calc'!A0")
    return make_contact(
        actor=owner,
        owner=owner,
        first_name="=1+1",
        last_name="@Evil",
        emails=["evil@example.org"],
        phones=["+14155550100"],
        organization=org,
        tags=["-minus"],
    )


def read_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_csv_export_neutralizes_formulas(owner, web_client_for, dangerous):
    response = web_client_for(owner).get(
        "/data/export/contacts.csv",
        {"columns": ["first_name", "last_name", "phone", "organization", "tags"]},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    rows = read_csv(response)
    assert rows == [
        ["First name", "Last name", "Phone", "Organization", "Tags"],
        ["'=1+1", "'@Evil", "'+14155550100", "'=cmd|' /C calc'!A0", "'-minus"],
    ]


def test_xlsx_export_neutralizes_formulas(owner, web_client_for, dangerous):
    response = web_client_for(owner).get(
        "/data/export/contacts.xlsx", {"columns": ["id", "first_name", "organization"]}
    )
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows == [
        ["Id", "First name", "Organization"],
        [dangerous.pk, "'=1+1", "'=cmd|' /C calc'!A0"],
    ]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_export_is_scoped_and_filtered(owner, outsider, web_client_for):
    mine = make_contact(actor=owner, owner=owner, first_name="Mine", lifecycle_stage="customer")
    make_contact(actor=owner, owner=owner, first_name="Lead", lifecycle_stage="lead")
    make_contact(actor=outsider, owner=outsider, first_name="Theirs", lifecycle_stage="customer")
    rows = read_csv(
        web_client_for(owner).get(
            "/data/export/contacts.csv",
            {"lifecycle_stage": "customer", "columns": ["id", "first_name"]},
        )
    )
    assert rows[1:] == [[str(mine.pk), "Mine"]]
    bad = web_client_for(owner).get("/data/export/contacts.csv", {"lifecycle_stage": "nope"})
    assert bad.status_code == 422
    unknown = web_client_for(owner).get("/data/export/contacts.csv", {"columns": "password"})
    assert unknown.status_code == 422


def test_export_streams_in_chunks_without_loading_everything(owner, monkeypatch):
    for i in range(7):
        make_contact(actor=owner, owner=owner, first_name=f"P{i}", emails=[f"p{i}@x.org"])
    monkeypatch.setattr(exporting, "CHUNK", 3)
    columns = exporting.choose_columns("contact", ["id", "emails"])
    queries = []
    from django.db import connection

    with connection.execute_wrapper(lambda execute, *a: queries.append(1) or execute(*a)):
        chunks = exporting.csv_chunks(Contact.objects.all(), columns)
        first = next(chunks) + next(chunks)
        assert b"Id" in first
        read_before_rest = len(queries)
        rest = b"".join(chunks)
    # 7 rows in chunks of 3: three reads of contacts (+ their emails), plus one empty read.
    assert read_before_rest <= 2
    assert len(queries) == 4 * 2 - 1
    text = (first + rest).decode("utf-8-sig")
    assert text.count("@x.org") == 7


def test_choose_columns_defaults_and_errors(db):
    assert [
        c.key for c in exporting.choose_columns("contact", [])
    ] == exporting.DEFAULT_CONTACT_COLUMNS
    with pytest.raises(ValidationError) as error:
        exporting.choose_columns("organization", ["name", "salary"])
    assert "columns" in error.value.message_dict


def test_vcard(owner):
    org = make_organization(actor=owner, owner=owner, name="Engines; Co")
    contact = make_contact(
        actor=owner,
        owner=owner,
        first_name="Ada",
        last_name="Lovelace",
        emails=[{"email": "ada@engines.org", "is_primary": True}, "countess@home.uk"],
        phones=[{"number": "+442079460000", "label": "mobile"}],
        organization=org,
        job_title="Analyst, first",
        city="London",
        country="GB",
        tags=["math"],
        about="Line one\nLine two " + "x" * 80,
    )
    text = vcard.contact_vcard(contact)
    assert text.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n")
    assert "EMAIL;TYPE=work;PREF=1:ada@engines.org\r\n" in text
    assert "EMAIL;TYPE=work:countess@home.uk\r\n" in text
    assert "TEL;VALUE=uri;TYPE=cell;PREF=1:tel:+442079460000\r\n" in text
    assert "ORG:Engines\\; Co\r\n" in text
    assert "TITLE:Analyst\\, first\r\n" in text
    assert "ADR;TYPE=work:;;;London;;;GB\r\n" in text
    assert "CATEGORIES:math\r\n" in text
    assert "NOTE:Line one\\nLine two xxx" in text
    assert text.endswith("END:VCARD\r\n")
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    unfolded = text.replace("\r\n ", "")
    assert "NOTE:Line one\\nLine two " + "x" * 80 + "\r\n" in unfolded
    assert vcard.vcard_filename(contact) == "Ada-Lovelace.vcf"


def test_vcard_download_is_scoped(owner, outsider, web_client_for):
    contact = make_contact(actor=owner, owner=owner, first_name="Ada")
    response = web_client_for(owner).get(f"/data/export/contacts/{contact.pk}.vcf")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/vcard; charset=utf-8"
    assert (
        web_client_for(outsider).get(f"/data/export/contacts/{contact.pk}.vcf").status_code == 404
    )
