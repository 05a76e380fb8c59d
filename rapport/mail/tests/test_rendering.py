import time

import pytest

from rapport.mail import rendering
from rapport.mail.rendering import (
    MERGE_FIELDS,
    RenderedEmail,
    TemplateProblem,
    check_template,
    render_email,
)


def context(**contact):
    return {
        "contact": {
            "first_name": "Anna",
            "last_name": "Berg",
            "email": "anna@example.com",
            "custom": {"shoe_size": "42"},
            **contact,
        },
        "organization": {"name": "Acme & Sons"},
        "deal": {"name": "Renewal", "amount": "1200.00", "close_date": None},
        "owner": {"first_name": "Olle"},
        "sender": {"name": "Olle Ek", "email": "olle@example.com"},
    }


def body(html: str) -> str:
    """What css_inline wraps a fragment in, so tests can state the whole output."""
    return f"<html><head></head><body>{html}</body></html>"


# -- the catalogue --------------------------------------------------------------------------------


def test_merge_fields_catalogue_is_ordered_paths_with_labels():
    paths = [path for path, _label in MERGE_FIELDS]

    assert paths[:3] == ["contact.first_name", "contact.last_name", "contact.full_name"]
    assert paths[-3:] == ["sender.name", "sender.email", "sender.signature"]
    assert len(paths) == 24 == len(set(paths))
    assert dict(MERGE_FIELDS)["deal.close_date"] == "Deal · Close date"


# -- check_template ---------------------------------------------------------------------------------


def test_check_accepts_known_fields_filters_loops_and_custom_keys():
    problems = check_template(
        subject="Hi {{ contact.first_name|default('there') }}",
        body_html=(
            "{% if deal %}{{ deal.amount }} {{ deal.currency }}{% endif %}"
            "{{ contact.custom.shoe_size }} {{ contact['email'] }} {{ contact.first_name.title() }}"
            "{% for item in [1, 2] %}{{ item }}{% endfor %}{% set greeting = 'Hej' %}{{ greeting }}"
        ),
        custom_keys={"contact": {"shoe_size"}},
    )

    assert problems == {}


def test_check_unknown_merge_field_suggests_the_nearest():
    problems = check_template(subject="Hi {{ contact.frist_name }}", body_html="{{ owner.emial }}")

    assert problems == {
        "subject": [
            "There is no merge field 'contact.frist_name'. Did you mean contact.first_name?"
        ],
        "body_html": ["There is no merge field 'owner.emial'. Did you mean owner.email?"],
    }


def test_check_unknown_root_and_unknown_custom_key():
    problems = check_template(
        subject="",
        body_html="{{ org.name }} {{ contact.custom.shoe_sise }} {{ deal.custom.budget }} {{ zzz }}",
        custom_keys={"contact": {"shoe_size"}},
    )

    assert problems == {
        "body_html": [
            "There is no merge field 'org.name'. Did you mean organization.name?",
            "There is no merge field 'contact.custom.shoe_sise'. Did you mean contact.custom.shoe_size?",
            "There is no merge field 'deal.custom.budget'.",
            "There is no merge field 'zzz'.",
        ]
    }


def test_check_without_custom_keys_accepts_any_custom_field():
    assert check_template(subject="{{ deal.custom.budget }}", body_html="") == {}


def test_check_reports_a_repeated_mistake_once():
    problems = check_template(subject="", body_html="{{ contact.emial }}<p>{{ contact.emial }}</p>")

    assert problems == {
        "body_html": ["There is no merge field 'contact.emial'. Did you mean contact.email?"]
    }


def test_check_refuses_underscore_attributes():
    problems = check_template(subject="", body_html="{{ contact.__class__ }}")

    assert problems == {"body_html": ["'__class__' cannot be used in an email template."]}


def test_check_refuses_other_templates():
    problems = check_template(
        subject="", body_html="{% include 'base.html' %}\n{% import 'm' as m %}"
    )

    assert problems == {
        "body_html": [
            "Line 1: an email template cannot use other templates.",
            "Line 2: an email template cannot use other templates.",
        ]
    }


def test_render_refuses_other_templates():
    with pytest.raises(TemplateProblem) as problem:
        render_email(subject="", body_html="{% extends 'base.html' %}", context=context())

    assert problem.value.field == "body_html"
    assert problem.value.message == "Line 1: an email template cannot use other templates."


def test_check_stray_end_tag_with_line_number():
    problems = check_template(subject="Hi", body_html="<p>Hi</p>\n<p>there</p>\n{% endif %}")

    assert problems == {
        "body_html": ["Line 3: the tag 'endif' was not expected — is an 'if' missing?"]
    }


def test_check_unclosed_block_and_wrong_end_tag():
    problems = check_template(
        subject="{% for x in contact %}{% endif %}",
        body_html="<p>\n{% if contact.first_name %}Hi",
    )

    assert problems == {
        "subject": [
            "Line 1: the tag 'endif' was not expected here — "
            "the 'for' opened earlier must be closed first with {% endfor %}."
        ],
        "body_html": [
            "Line 2: the template ends but the 'if' block is never closed — add {% endif %}."
        ],
    }


def test_check_unknown_filter_and_broken_brackets():
    problems = check_template(subject="{{ contact.first_name|uper }}", body_html="a\n{{ } }}")

    assert problems == {
        "subject": ["Line 1: there is no filter 'uper'. Did you mean upper?"],
        "body_html": ["Line 2: unexpected '}' — check the {{ }} and {% %} brackets."],
    }


# -- render_email -----------------------------------------------------------------------------------


def test_render_merges_and_escapes_the_body_but_not_the_subject():
    rendered = render_email(
        subject="{{ organization.name }} — for {{ contact.first_name }}",
        body_html="<p>Dear {{ contact.first_name }} at {{ organization.name }}</p>",
        context=context(first_name="<b>Anna</b>"),
    )

    assert rendered == RenderedEmail(
        subject="Acme & Sons — for <b>Anna</b>",
        html=body("<p>Dear &lt;b&gt;Anna&lt;/b&gt; at Acme &amp; Sons</p>"),
        text="Dear <b>Anna</b> at Acme & Sons",
    )


def test_subject_merge_value_cannot_start_a_header():
    rendered = render_email(
        subject="Offer for {{ contact.first_name }}",
        body_html="",
        context=context(first_name="x\r\nBcc: evil@example.com\n\tX-Other:\x00 y"),
    )

    assert rendered.subject == "Offer for x Bcc: evil@example.com X-Other: y"


def test_subject_capped_at_998_characters():
    rendered = render_email(
        subject="{{ contact.first_name }}", body_html="", context=context(first_name="a" * 2000)
    )

    assert rendered.subject == "a" * 998


def test_default_treats_empty_none_and_missing_alike():
    rendered = render_email(
        subject=(
            "{{ contact.first_name|default('there') }}/{{ contact.nickname|default('there') }}/"
            "{{ deal.close_date|default('soon') }}/{{ contact.last_name|d('x') }}/"
            "{{ contact.blank|default('there') }}"
        ),
        body_html="",
        context=context(first_name="", blank="   "),
    )

    assert rendered.subject == "there/there/soon/Berg/there"


def test_missing_values_and_none_render_as_nothing():
    rendered = render_email(
        subject="[{{ contact.nickname }}][{{ deal.close_date }}][{{ organization.custom.tier.x }}][{{ nobody.name }}]",
        body_html="",
        context=context(),
    )

    assert rendered.subject == "[][][][]"


def test_custom_fields_render():
    rendered = render_email(
        subject="Size {{ contact.custom.shoe_size }}", body_html="", context=context()
    )

    assert rendered.subject == "Size 42"


def test_css_is_inlined_and_media_queries_kept():
    rendered = render_email(
        subject="Hi",
        body_html=(
            "<html><head><style>p { color: red } @media (max-width: 600px) { p { color: blue } }</style>"
            "</head><body><p>Hi {{ contact.first_name }}</p></body></html>"
        ),
        context=context(),
    )

    assert rendered.html == (
        "<html><head><style>@media (max-width: 600px) { p { color: blue } } </style></head>"
        '<body><p style="color: red;">Hi Anna</p></body></html>'
    )
    assert rendered.text == "Hi Anna"


def test_remote_stylesheets_are_not_fetched():
    rendered = render_email(
        subject="Hi",
        body_html='<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body><p>x</p></body></html>',
        context=context(),
    )

    assert rendered.html == body("<p>x</p>")


@pytest.mark.parametrize(
    "source",
    [
        "{{ contact.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{% if contact.__class__ %}yes{% endif %}",
        "{% for x in ''.__class__.__mro__ %}{{ x }}{% endfor %}",
        "{{ contact.__class__|default('x') }}",
    ],
)
def test_sandbox_refuses_dunder_access(source):
    with pytest.raises(TemplateProblem) as problem:
        render_email(subject="Hi", body_html=source, context=context())

    assert problem.value.field == "body_html"
    assert problem.value.message.startswith(
        "Line 1: this template uses something email templates may not use"
    )


def test_sandbox_refuses_huge_range():
    with pytest.raises(TemplateProblem) as problem:
        render_email(
            subject="{% for x in range(10**9) %}{{ x }}{% endfor %}",
            body_html="",
            context=context(),
        )

    assert problem.value.field == "subject"
    assert (
        problem.value.message
        == "Line 1: range() may count at most 10,000 items in an email template."
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'a' * 10**6 }}", "Line 1: Repeated text is too large for an email (at most 100,000)."),
        ("{{ 9 ** 1000 }}", "Line 1: That power is too large for an email template."),
        ("{{ 2**100**100**100 }}", "Line 1: That power is too large for an email template."),
        (
            "{{ '%999999999s' % 1 }}",
            "Line 1: A format width is too large for an email (at most 100,000).",
        ),
        (
            "{{ '%*d' % (10**9, 1) }}",
            "Line 1: A format width is too large for an email (at most 100,000).",
        ),
        (
            "{{ '%999999999s'|format(1) }}",
            "Line 1: A format width is too large for an email (at most 100,000).",
        ),
        (
            "{{ '{:999999999}'.format(1) }}",
            "Line 1: A format width is too large for an email (at most 100,000).",
        ),
        (
            "{{ 'x'.ljust(10**9) }}",
            "Line 1: The width given to 'ljust' is too large for an email (at most 100,000).",
        ),
        (
            "{{ 'x'|center(10**9) }}",
            "Line 1: The width given to 'center' is too large for an email (at most 100,000).",
        ),
        (
            "{{ [1]|batch(10**9, 'x')|list }}",
            "Line 1: The width given to 'batch' is too large for an email (at most 100,000).",
        ),
    ],
)
def test_sandbox_refuses_memory_bombs(source, message):
    with pytest.raises(TemplateProblem) as problem:
        render_email(subject=source, body_html="", context=context())

    assert problem.value.message == message


def test_lipsum_is_not_offered():
    with pytest.raises(TemplateProblem) as problem:
        render_email(subject="{{ lipsum(10**6) }}", body_html="", context=context())

    assert (
        problem.value.message
        == "Line 1: 'lipsum' is undefined — only merge fields and simple filters can be used."
    )


def test_sandbox_is_immutable():
    with pytest.raises(TemplateProblem) as problem:
        render_email(
            subject="{{ contact.custom.update({'x': 1}) }}", body_html="", context=context()
        )

    assert "may not use" in problem.value.message


def test_runtime_error_names_field_and_line():
    with pytest.raises(TemplateProblem) as problem:
        render_email(
            subject="Hi", body_html="<p>\n\n{{ contact.first_name + 1 }}</p>", context=context()
        )

    assert problem.value.field == "body_html"
    assert problem.value.message == (
        'Line 3: the template could not be rendered (TypeError: can only concatenate str (not "int") to str).'
    )
    assert isinstance(problem.value, ValueError)


def test_syntax_error_at_render_is_a_template_problem():
    with pytest.raises(TemplateProblem) as problem:
        render_email(subject="{% if x %}", body_html="", context=context())

    assert problem.value.field == "subject"
    assert (
        problem.value.message
        == "Line 1: the template ends but the 'if' block is never closed — add {% endif %}."
    )


def test_rendering_a_thousand_messages_is_fast():
    subject = "{{ contact.first_name|default('there') }}, your {{ deal.name }}"
    body_html = (
        "<html><head><style>p { margin: 0 } .cta { color: #fff; background: #06c }</style></head><body>"
        "{% for n in range(5) %}<p>Dear {{ contact.first_name }}, line {{ n }}</p>{% endfor %}"
        '<a class="cta" href="https://example.com">Go</a></body></html>'
    )
    rendering._compiled.cache_clear()
    started = time.perf_counter()
    for number in range(1000):
        rendered = render_email(
            subject=subject, body_html=body_html, context=context(first_name=f"A{number}")
        )
    elapsed = time.perf_counter() - started

    assert rendered.subject == "A999, your Renewal"
    # Each source is compiled once (subject and body), then served from the cache.
    assert rendering._compiled.cache_info().misses == 2
    assert elapsed < 5.0
