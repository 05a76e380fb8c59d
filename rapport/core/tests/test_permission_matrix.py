"""The permission matrix, generated from the route table: every API operation × every role.

Nobody lists endpoints here. The test walks the OpenAPI document of `rapport.api.api`, fills
each path parameter with a record owned by `owner` (PATH_VALUES says how; a parameter it does
not know fails the test, telling the developer to add it), sends a schema-valid body built from
the operation's own request schema, and checks, for every operation:

- anonymous gets 401 (only PUBLIC operations may answer without credentials);
- on a write (POST/PUT/PATCH/DELETE) the read-only role gets 403 or 404, and the outsider (a
  rep of another team) gets 403 or 404 on a read or write when the path names a record of the
  owner;
- a refusal writes nothing: no ChangeRecord, and no row count of the domain tables changes.

Beside it, the service matrix calls each writing service of contacts, commerce, interactions,
sales and analytics as the read-only role and as the outsider: PermissionDenied, nothing written.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from rapport.accounts.services import create_api_token
from rapport.audit.models import ChangeRecord
from rapport.core.tests.api_matrix import people, read_only_user  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

WRITES = {"post", "put", "patch", "delete"}
REFUSED = {403, 404}

# Operations open without credentials, and why.
PUBLIC = {
    ("post", "/api/v1/webhooks/shops/{shop_key}/orders"): "signed by the shop's secret instead",
}

# Writes a read-only role may make, and why: they change nothing of the CRM's records.
READ_ONLY_MAY = {
    ("post", "/api/v1/tokens/"): "a person's own API token",
    ("delete", "/api/v1/tokens/{token_id}"): "a person's own API token",
    ("post", "/api/v1/notifications/{notification_id}/read"): "a person's own inbox",
    ("post", "/api/v1/notifications/read-all"): "a person's own inbox",
    ("post", "/api/v1/segments/preview"): "a read: counts who would be in a segment",
    ("post", "/api/v1/frameworks/recommendation"): "a read: computes a recommendation",
    ("post", "/api/v1/mail/templates/{template_id}/preview"): "a read: renders a template",
}

# Reads of a record of the owner an outsider may make, and why.
OUTSIDER_MAY_READ = {
    ("get", "/api/v1/segments/{segment_id}"): "segment definitions are shared",
    ("get", "/api/v1/segments/{segment_id}/members"): "members are scoped by the viewer",
}

# The tables a refused call must leave alone (row counts).
DOMAIN_APPS = (
    "contacts",
    "sales",
    "commerce",
    "interactions",
    "analytics",
    "frameworks",
    "data_exchange",
    "customfields",
    "mail",
    "automation",
    "sequences",
    "reports",
    "core",
)


def _rule_id(world, path):
    return world["scoring_rule"].pk if "/scoring/" in path else world["assignment_rule"].pk


# path parameter → (value for the owner's world, whether it names a record of the owner that an
# outsider must not reach). Add a row when a new parameter name appears.
PATH_VALUES = {
    "contact_id": (lambda w, p: w["contact"].pk, True),
    "organization_id": (lambda w, p: w["organization"].pk, True),
    "relationship_id": (lambda w, p: w["relationship"].pk, True),
    "interaction_id": (lambda w, p: w["interaction"].pk, True),
    "deal_id": (lambda w, p: w["deal"].pk, True),
    "line_id": (lambda w, p: w["deal_line"].pk, True),
    "task_id": (lambda w, p: w["task"].pk, True),
    "order_id": (lambda w, p: w["order"].pk, True),
    "segment_id": (lambda w, p: w["segment"].pk, True),
    "notification_id": (lambda w, p: w["notification"].pk, True),
    "token_id": (lambda w, p: w["token"].pk, True),
    "import_id": (lambda w, p: w["import_job"].pk, True),
    "pair_id": (lambda w, p: w["pair"].pk, True),
    "channel": (lambda w, p: "email", False),
    "entity": (lambda w, p: "contact", False),
    "pipeline_id": (lambda w, p: w["pipeline"].pk, False),
    "stage_id": (lambda w, p: w["stage"].pk, False),
    "form_id": (lambda w, p: w["web_form"].pk, False),
    "rule_id": (_rule_id, False),
    "product_id": (lambda w, p: w["product"].pk, False),
    "shop_id": (lambda w, p: w["shop"].pk, False),
    "shop_key": (lambda w, p: w["shop"].key, False),
    "definition_id": (lambda w, p: w["definition"].pk, False),
    "run_id": (lambda w, p: w["run"].pk, False),
    "objective_id": (lambda w, p: w["objective"].pk, False),
    "assessment_id": (lambda w, p: w["assessment"].pk, False),
    "key": (lambda w, p: "idic", False),
    "stage": (lambda w, p: w["framework_stage"], False),
    "kpi": (lambda w, p: w["framework_kpi"], False),
    "team_id": (lambda w, p: w["team"].pk, False),
    "user_id": (lambda w, p: w["owner"].pk, False),
    "mailbox_id": (lambda w, p: w["mailbox"].pk, True),
    "message_id": (lambda w, p: w["email_message"].uuid, True),
    "thread_id": (lambda w, p: w["email_message"].thread_id, True),
    # A suppressed address of the owner's contact: administrators release it.
    "address_id": (lambda w, p: w["suppressed_address"].pk, True),
    "template_id": (lambda w, p: w["email_template"].pk, True),
    # Webhooks are the administrators' (the owner is only told of failures).
    "subscription_id": (lambda w, p: w["webhook_subscription"].pk, False),
    "delivery_id": (lambda w, p: w["webhook_delivery"].pk, False),
    # An operation is seen by whoever started it (and administrators).
    "operation_id": (lambda w, p: w["bulk_operation"].pk, True),
    # Workflows are the administrators' configuration, like webhooks.
    "workflow_id": (lambda w, p: w["workflow"].pk, False),
    "workflow_run_id": (lambda w, p: w["workflow_run"].pk, False),
    "sequence_id": (lambda w, p: w["sequence"].pk, True),
    # Exchange rates are company configuration: administrators write, everyone reads.
    "rate_id": (lambda w, p: w["exchange_rate"].pk, False),
    "enrollment_id": (lambda w, p: w["enrollment"].pk, True),
    # A report is its owner's unless shared.
    "report_id": (lambda w, p: w["report"].pk, True),
    # A quote follows its deal; a quota is set by managers and seen by its owner's team.
    "quote_id": (lambda w, p: w["quote"].pk, True),
    "quota_id": (lambda w, p: w["quota"].pk, True),
    # Dashboards are their owner's unless shared; a widget is reached through its dashboard.
    "dashboard_id": (lambda w, p: w["dashboard"].pk, True),
    "widget_id": (lambda w, p: w["dashboard_widget"].pk, True),
    # A scheduled email, reached through its report or dashboard by whoever may change it.
    "schedule_id": (
        lambda w, p: (w["dashboard_delivery"] if "/dashboards/" in p else w["report_delivery"]).pk,
        True,
    ),
}


@pytest.fixture
def world(people, admin_user, sales_team):  # noqa: F811
    from rapport.analytics.models import RefreshRun
    from rapport.analytics.services import add_to_list, create_segment
    from rapport.commerce.rates import add_rate
    from rapport.commerce.services import create_shop
    from rapport.commerce.tests.factories import make_order, make_product
    from rapport.contacts.services import add_membership, add_relationship
    from rapport.contacts.tests.factories import make_contact, make_organization
    from rapport.customfields.services import create_definition
    from rapport.data_exchange.importing import jobs
    from rapport.data_exchange.models import ContactDuplicate
    from rapport.frameworks.catalog import MODELS
    from rapport.frameworks.models import Objective
    from rapport.frameworks.services import create_assessment
    from rapport.interactions.services import log_interaction
    from rapport.sales.assignment import create_assignment_rule
    from rapport.sales.quotes.services import create_quote
    from rapport.sales.scoring.services import create_scoring_rule
    from rapport.sales.services.deal_lines import add_deal_line
    from rapport.sales.services.deals import create_deal
    from rapport.sales.services.pipelines import create_pipeline
    from rapport.sales.services.webforms import create_webform
    from rapport.sales.services.work import create_task, notify

    owner = people["owner"]
    contact = make_contact(actor=owner, owner=owner, emails=["ada@example.com"])
    twin = make_contact(actor=owner, owner=owner, first_name="Ada", emails=["ada@example.org"])
    organization = make_organization(actor=owner, owner=owner)
    partner = make_organization(actor=owner, owner=owner, name="Partner Ltd")
    add_membership(actor=owner, contact=contact, organization=organization)
    relationship = add_relationship(
        actor=owner, from_organization=organization, to_organization=partner, kind="partner"
    )
    pipeline = create_pipeline(actor=admin_user, name="New business", currency="EUR")
    deal = create_deal(
        actor=owner,
        owner=owner,
        name="Big deal",
        pipeline=pipeline,
        contact=contact,
        expected_close_date=timezone.localdate() + dt.timedelta(days=20),
    )
    product = make_product(actor=admin_user, name="Tea", sku="TEA-1")
    first, second = sorted((contact, twin), key=lambda c: c.pk)
    mail = _mail_world(owner, contact)
    # A read-only seat may not own a mailbox at all (the owner's is tried for it instead).
    mail["own_mailboxes"] = _own_mailboxes(people["outsider"])
    automation = _automation_world(owner, admin_user, contact)
    sequences = _sequences_world(owner, contact, mail["mailbox"], mail["email_template"])
    model = MODELS["idic"]
    stage_with_kpi = next(stage for stage in model.stages if stage.kpis)
    upload = SimpleUploadedFile("people.csv", b"First name,Email\nEve,eve@example.com\n")
    reports = _reports_world(owner, admin_user)
    return {
        **mail,
        **automation,
        **sequences,
        **reports,
        "owner": owner,
        "team": sales_team,
        "contact": contact,
        "organization": organization,
        "relationship": relationship,
        "pipeline": pipeline,
        "stage": pipeline.stages.order_by("position").first(),
        "deal": deal,
        "task": create_task(
            actor=owner, title="Call back", due_at=timezone.now() + dt.timedelta(days=1)
        ),
        "interaction": log_interaction(actor=owner, kind="note", contact=contact, body="Met."),
        "product": product,
        "deal_line": add_deal_line(actor=owner, deal=deal, product=product),
        "quote": create_quote(actor=owner, deal=deal),
        "quota": _quota(admin_user, owner),
        "order": make_order(actor=owner, contact=contact),
        "shop": create_shop(actor=admin_user, name="Web shop", key="web-shop"),
        "segment": _static_list(create_segment, add_to_list, owner, contact),
        "notification": notify(recipient=owner, kind="task_assigned", title="Hello"),
        "token": create_api_token(actor=owner, user=owner, name="matrix")[0],
        "import_job": jobs.create_import(actor=owner, entity="contact", upload=upload),
        "pair": ContactDuplicate.objects.create(contact_a=first, contact_b=second, score=0.9),
        "definition": create_definition(
            actor=admin_user, entity="contact", key="region", label="Region", field_type="text"
        ),
        "run": RefreshRun.objects.create(trigger="manual", requested_by=admin_user),
        "objective": Objective.objects.create(
            model_key="idic",
            stage_key=stage_with_kpi.key,
            kpi=stage_with_kpi.kpis[0].kpi,
            title="Grow",
            baseline=1,
            baseline_day=timezone.localdate(),
            target_kind="absolute",
            target_input=2,
            target=2,
            deadline=timezone.localdate() + dt.timedelta(days=90),
            owner=owner,
        ),
        "assessment": create_assessment(actor=admin_user, model_key="idic"),
        "exchange_rate": add_rate(
            actor=admin_user, currency="USD", rate="0.92", valid_on=dt.date(2026, 1, 1)
        ),
        "framework_stage": stage_with_kpi.key,
        "framework_kpi": stage_with_kpi.kpis[0].kpi,
        "web_form": create_webform(
            actor=admin_user, name="Contact us", fields=[{"target": "email", "label": "Email"}]
        ),
        "scoring_rule": create_scoring_rule(
            actor=admin_user,
            name="Germany",
            condition={"field": "country", "op": "eq", "value": "DE"},
            points=10,
        ),
        "assignment_rule": create_assignment_rule(
            actor=admin_user,
            name="Germany",
            condition={"field": "country", "op": "eq", "value": "DE"},
            target_user=owner,
        ),
    }


def _quota(admin_user, owner):
    from rapport.sales.quotas import set_quota

    today = timezone.localdate()
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return set_quota(
        actor=admin_user,
        user=owner,
        amount="1000",
        period_start=today.replace(day=1),
        period_end=month_end,
    )


def _reports_world(owner, admin_user):
    """The owner's report and dashboard, a widget, and an email schedule of each (sent from a
    shared mailbox: scheduled email never goes from a personal one)."""
    from rapport.mail.mailboxes import create_mailbox
    from rapport.reports.dashboards import add_widget, create_dashboard
    from rapport.reports.deliveries import create_delivery
    from rapport.reports.services import create_report

    create_mailbox(
        actor=admin_user,
        kind="shared",
        name="Reports",
        email_address="reports@example.com",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )
    report = create_report(actor=owner, name="Mine", source="contacts", group_by="source")
    dashboard = create_dashboard(actor=owner, name="Mine")
    schedule = {"recipients": [owner.pk], "frequency": "daily", "time_of_day": "07:00"}
    return {
        "report": report,
        "dashboard": dashboard,
        "dashboard_widget": add_widget(
            actor=owner, dashboard=dashboard, kind="kpi", kpi="win_rate"
        ),
        "report_delivery": create_delivery(actor=owner, report=report, **schedule),
        "dashboard_delivery": create_delivery(actor=owner, dashboard=dashboard, **schedule),
    }


def _mail_world(owner, contact):
    """The owner's own mailbox and template, and a message exchanged with their contact."""
    from rapport.mail.mailboxes import create_mailbox
    from rapport.mail.models import EmailMessage, EmailThread, Participant, SuppressedAddress
    from rapport.mail.templating import create_template

    mailbox = create_mailbox(
        actor=owner,
        kind="personal",
        name="My mail",
        email_address="owner@example.com",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
        check=False,
    )
    thread = EmailThread.objects.create(subject="Hello", message_count=1)
    message = EmailMessage.objects.create(
        mailbox=mailbox,
        thread=thread,
        direction="inbound",
        status="received",
        message_id="hello@example.com",
        from_address="ada@example.com",
        subject="Hello",
        occurred_at=timezone.now(),
        contact=contact,
    )
    Participant.objects.create(
        message=message, role="from", email="ada@example.com", contact=contact
    )
    template = create_template(
        actor=owner, name="Follow-up", subject="Hi {{ contact.first_name }}", body_html="<p>Hi</p>"
    )
    # Not ada@example.com: the world enrolls her in a sequence, which a bounce would refuse.
    suppressed = SuppressedAddress.objects.create(email="ada@example.org", reason="bounced")
    return {
        "mailbox": mailbox,
        "email_message": message,
        "email_template": template,
        "suppressed_address": suppressed,
    }


def _own_mailboxes(*users):
    """Each user's own mailbox (made by the system: a read-only seat may not create one), to
    show that one's own mailbox does not open another's contact."""
    from rapport.mail.mailboxes import create_mailbox

    return {
        user.pk: create_mailbox(
            actor=None,
            kind="personal",
            owner=user,
            name=f"{user.username}'s mail",
            email_address=f"{user.username}@example.com",
            smtp_host="127.0.0.1",
            smtp_port=2525,
            smtp_security="none",
            check=False,
        )
        for user in users
    }


def _sequences_world(owner, contact, mailbox, template):
    """The owner's sequence (an email, then a call) with their contact enrolled."""
    from rapport.sequences.services import create_sequence, enroll_contact

    sequence = create_sequence(
        actor=owner,
        name="Matrix cadence",
        mailbox=mailbox,
        steps=[{"kind": "email", "template": template.pk}, {"kind": "call"}],
    )
    return {
        "sequence": sequence,
        "enrollment": enroll_contact(actor=owner, sequence=sequence, contact=contact),
    }


def _automation_world(owner, admin_user, contact):
    """An administrator's webhook subscription with one delivery, and the owner's bulk
    operation on their own contact."""
    from rapport.automation.webhooks import create_subscription, send_test_event
    from rapport.core.bulk import start

    # No receiver is started: nothing is delivered during the matrix (the worker is not run).
    with override_settings(RAPPORT_WEBHOOKS_ALLOW_PRIVATE=True):
        subscription, _secret = create_subscription(
            actor=admin_user,
            name="Receiver",
            url="http://127.0.0.1:9/rapport",
            event_types=["contact.created"],
            owner=owner,
        )
    from rapport.automation import runner, workflows

    workflow = workflows.create_workflow(
        actor=admin_user,
        name="Matrix",
        record_type="contact",
        trigger={"type": "contact_created"},
        steps=[{"type": "add_tag", "tag": "matrix"}],
    )
    return {
        "workflow": workflow,
        # Queued, never run: the matrix runs no worker.
        "workflow_run": runner.enrol(workflow=workflow, record_id=contact.pk, summary="matrix"),
        "webhook_subscription": subscription,
        "webhook_delivery": send_test_event(actor=admin_user, subscription=subscription),
        "bulk_operation": start(
            actor=owner,
            entity_key="contacts",
            action_key="add_tag",
            params={"tag": "matrix"},
            ids=[contact.pk],
            inline=True,
        ),
    }


def _static_list(create_segment, add_to_list, owner, contact):
    segment = create_segment(actor=owner, name="My list", kind="static")
    add_to_list(actor=owner, segment=segment, contact_ids=[contact.pk])
    return segment


# --- bodies from the request schema -----------------------------------------------------------


def _resolve(schema: dict, document: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def example(schema: dict, document: dict):
    """The smallest value the schema accepts: required properties only, lowest bounds."""
    schema = _resolve(schema, document)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [s for s in schema[combinator] if _resolve(s, document).get("type") != "null"]
            return example(options[0], document)
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example(properties[name], document) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"], document)] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    formats = {
        "date": timezone.localdate().isoformat(),
        "date-time": timezone.now().isoformat(),
        "email": "someone@example.com",
    }
    if schema.get("format") in formats:
        return formats[schema["format"]]
    return "x" * max(schema.get("minLength", 1), 1)


def operations():
    from rapport.api import api

    document = api.get_openapi_schema()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation, document


def fill(path: str, operation: dict, world: dict) -> tuple[str, bool]:
    """The URL with each path parameter filled; and whether it names a record of the owner."""
    names = re.findall(r"{(\w+)}", path)
    unknown = [name for name in names if name not in PATH_VALUES]
    assert not unknown, (
        f"{path}: no value for path parameter(s) {unknown}. Add them to PATH_VALUES in "
        f"{__file__} (a record of `owner`, and whether an outsider must be refused it)."
    )
    url = path
    owned = False
    for name in names:
        value, names_owned_record = PATH_VALUES[name]
        url = url.replace("{" + name + "}", str(value(world, path)))
        owned = owned or names_owned_record
    return url, owned


def body_of(operation: dict, document: dict):
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return "application/json", json.dumps(
            example(content["application/json"]["schema"], document)
        )
    if "multipart/form-data" in content:
        schema = _resolve(content["multipart/form-data"]["schema"], document)
        data = example(schema, document)
        for name, prop in schema.get("properties", {}).items():
            if name in data and _resolve(prop, document).get("format") == "binary":
                data[name] = SimpleUploadedFile("people.csv", b"Email\nnew@example.com\n")
        return "multipart", data
    return None, None


def send(client: Client, method: str, url: str, operation: dict, document: dict):
    kind, body = body_of(operation, document)
    call = getattr(client, method)
    if kind == "application/json":
        return call(url, data=body, content_type="application/json")
    if kind == "multipart":
        return call(url, data=body)
    return call(url)


def domain_counts() -> dict[str, int]:
    """Row counts of the audit trail and every domain table, in one query."""
    models = [ChangeRecord] + [
        model for label in DOMAIN_APPS for model in apps.get_app_config(label).get_models()
    ]
    quote = connection.ops.quote_name
    # Table names come from the models, not from input.
    counts = [f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})" for m in models]  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(counts))
        row = cursor.fetchone()
    return {model._meta.label: count for model, count in zip(models, row, strict=True)}


def test_every_api_operation_refuses_who_may_not(world, people, api_client_for):  # noqa: F811
    clients = {
        "anonymous": Client(),
        "read_only": api_client_for(people["read_only"]),
        "outsider": api_client_for(people["outsider"]),
    }
    problems = []
    checked = 0
    for path, method, operation, document in operations():
        url, names_owned_record = fill(path, operation, world)
        if (method, path) in PUBLIC:
            # No user credentials at all: the operation authenticates its caller its own way.
            assert not operation.get("security"), f"{method} {path} is in PUBLIC but has auth"
            continue
        roles = ["anonymous"]
        if method in WRITES and (method, path) not in READ_ONLY_MAY:
            roles.append("read_only")
        reads = method == "get" and (method, path) not in OUTSIDER_MAY_READ
        if names_owned_record and (reads or "read_only" in roles):
            # A record outside the outsider's scope is neither read nor written.
            roles.append("outsider")
        for role in roles:
            before = domain_counts()
            response = send(clients[role], method, url, operation, document)
            checked += 1
            status = response.status_code
            if role == "anonymous":
                expected = 401
                ok = status == 401
                if not operation.get("security"):
                    problems.append(
                        f"{method.upper()} {path}: no authentication; add it, or list the "
                        "operation in PUBLIC with the reason"
                    )
            else:
                expected = "403 or 404"
                ok = status in REFUSED
            if not ok:
                problems.append(
                    f"{method.upper()} {path} as {role}: {status}, expected {expected} "
                    f"({response.content[:160]!r})"
                )
                continue
            if status in (401, *REFUSED):
                after = domain_counts()
                changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
                if changed:
                    problems.append(
                        f"{method.upper()} {path} as {role}: refused but wrote {changed}"
                    )
    assert checked > 150
    assert not problems, "\n".join(problems)


# --- the service matrix --------------------------------------------------------------------------


def service_calls(world, admin_user):
    """(name, call(actor)) for every writing service of contacts, commerce, interactions, sales
    and analytics, each aimed at a record of the owner (or, for configuration, at nothing)."""
    from rapport.analytics import services as analytics
    from rapport.commerce import revenue
    from rapport.commerce import services as commerce
    from rapport.contacts import merges as contact_merges
    from rapport.contacts import services as contacts
    from rapport.interactions import services as interactions
    from rapport.reports import dashboards
    from rapport.reports import services as reports
    from rapport.sales import assignment, assignment_records
    from rapport.sales.scoring import services as scoring
    from rapport.sales.services import deal_lines, deals, leads, pipelines, settings, webforms, work

    w = world
    return {
        "contacts.update_contact": lambda a: contacts.update_contact(
            actor=a, contact=w["contact"], job_title="Spy"
        ),
        "contacts.set_lifecycle_stage": lambda a: contacts.set_lifecycle_stage(
            actor=a, contact=w["contact"], stage="customer"
        ),
        "contacts.archive_contact": lambda a: contacts.archive_contact(
            actor=a, contact=w["contact"]
        ),
        "contacts.set_consent": lambda a: contacts.set_consent(
            actor=a, contact=w["contact"], channel="email", status="withdrawn"
        ),
        "contacts.add_membership": lambda a: contacts.add_membership(
            actor=a, contact=w["contact"], organization=w["organization"], role="Boss"
        ),
        "contacts.remove_membership": lambda a: contacts.remove_membership(
            actor=a, contact=w["contact"], organization=w["organization"]
        ),
        "contacts.update_organization": lambda a: contacts.update_organization(
            actor=a, organization=w["organization"], industry="Spies"
        ),
        "contacts.archive_organization": lambda a: contacts.archive_organization(
            actor=a, organization=w["organization"]
        ),
        "contacts.remove_relationship": lambda a: contacts.remove_relationship(
            actor=a, relationship=w["relationship"]
        ),
        "interactions.log_interaction": lambda a: interactions.log_interaction(
            actor=a, kind="note", contact=w["contact"], body="Hi"
        ),
        "interactions.delete_interaction": lambda a: interactions.delete_interaction(
            actor=a, interaction=w["interaction"]
        ),
        "commerce.place_order": lambda a: commerce.place_order(
            actor=a, contact=w["contact"], total="5.00", currency="EUR"
        ),
        "commerce.set_order_status": lambda a: commerce.set_order_status(
            actor=a, order=w["order"], status="refunded"
        ),
        "commerce.update_order": lambda a: commerce.update_order(
            actor=a, order=w["order"], note="changed"
        ),
        "commerce.delete_order": lambda a: commerce.delete_order(actor=a, order=w["order"]),
        "commerce.rotate_shop_secret": lambda a: commerce.rotate_shop_secret(
            actor=a, shop=w["shop"]
        ),
        "sales.update_deal": lambda a: deals.update_deal(actor=a, deal=w["deal"], name="Mine"),
        "sales.move_deal": lambda a: deals.move_deal(
            actor=a, deal=w["deal"], stage=w["pipeline"].stages.order_by("position")[1]
        ),
        "sales.archive_deal": lambda a: deals.archive_deal(actor=a, deal=w["deal"]),
        "sales.add_deal_line": lambda a: deal_lines.add_deal_line(
            actor=a, deal=w["deal"], product=w["product"]
        ),
        "sales.update_deal_line": lambda a: deal_lines.update_deal_line(
            actor=a, line=w["deal_line"], quantity=9
        ),
        "sales.remove_deal_line": lambda a: deal_lines.remove_deal_line(
            actor=a, line=w["deal_line"]
        ),
        "sales.set_deal_lines": lambda a: deal_lines.set_deal_lines(
            actor=a, deal=w["deal"], lines=[]
        ),
        "commerce.set_revenue_sources": lambda a: revenue.set_revenue_sources(
            actor=a, sources="shop"
        ),
        "sales.update_task": lambda a: work.update_task(actor=a, task=w["task"], title="Mine"),
        "sales.complete_task": lambda a: work.complete_task(actor=a, task=w["task"]),
        "sales.delete_task": lambda a: work.delete_task(actor=a, task=w["task"]),
        "sales.mark_notification_read": lambda a: work.mark_notification_read(
            actor=a, notification=w["notification"]
        ),
        "sales.convert_lead": lambda a: leads.convert_lead(
            actor=a,
            contact=w["contact"],
            pipeline=w["pipeline"],
            expected_close_date=timezone.localdate() + dt.timedelta(days=9),
        ),
        "sales.add_products_of_interest": lambda a: leads.add_products_of_interest(
            actor=a, contact=w["contact"], products=["Tea"]
        ),
        "sales.assign_lead_by_hand": lambda a: assignment.assign_lead_by_hand(
            actor=a, contact=w["contact"], owner=a
        ),
        "sales.create_pipeline": lambda a: pipelines.create_pipeline(
            actor=a, name="Theirs", currency="EUR"
        ),
        "sales.create_lost_reason": lambda a: pipelines.create_lost_reason(actor=a, name="Nope"),
        "sales.update_sales_settings": lambda a: settings.update_sales_settings(
            actor=a, fallback_owner=None
        ),
        "sales.update_webform": lambda a: webforms.update_webform(
            actor=a, form=w["web_form"], name="Mine"
        ),
        "sales.create_assignment_rule": lambda a: assignment.create_assignment_rule(
            actor=a,
            name="x",
            condition={"field": "country", "op": "eq", "value": "FR"},
            target_user=w["owner"],
        ),
        "sales.update_scoring_rule": lambda a: scoring.update_scoring_rule(
            actor=a, rule=w["scoring_rule"], points=99
        ),
        "sales.delete_assignment_rule": lambda a: assignment.delete_assignment_rule(
            actor=a, rule=w["assignment_rule"]
        ),
        "sales.reassign_leads": lambda a: assignment.reassign_leads(actor=a, scope="all"),
        "analytics.update_segment": lambda a: analytics.update_segment(
            actor=a, segment=w["segment"], name="Mine"
        ),
        "analytics.add_to_list": lambda a: analytics.add_to_list(
            actor=a, segment=w["segment"], contact_ids=[w["contact"].pk]
        ),
        "analytics.remove_from_list": lambda a: analytics.remove_from_list(
            actor=a, segment=w["segment"], contact_ids=[w["contact"].pk]
        ),
        "analytics.archive_segment": lambda a: analytics.archive_segment(
            actor=a, segment=w["segment"]
        ),
        "analytics.update_configuration": lambda a: analytics.update_configuration(
            actor=a, rfm_window_days=90
        ),
        "contacts.absorb_contact_rows": lambda a: contact_merges.absorb_contact_rows(
            actor=a, survivor=w["contact"], loser=w["contact"]
        ),
        "sales.assign_by_rules": lambda a: assignment_records.assign_by_rules(
            actor=a, kind="deal", record=w["deal"]
        ),
        "reports.update_report": lambda a: reports.update_report(
            actor=a, report=w["report"], name="Mine now"
        ),
        "reports.delete_report": lambda a: reports.delete_report(actor=a, report=w["report"]),
        "reports.update_dashboard": lambda a: dashboards.update_dashboard(
            actor=a, dashboard=w["dashboard"], name="Mine now"
        ),
        "reports.delete_dashboard": lambda a: dashboards.delete_dashboard(
            actor=a, dashboard=w["dashboard"]
        ),
        "reports.set_role_defaults": lambda a: dashboards.set_role_defaults(
            actor=a, dashboard=w["dashboard"], roles=[]
        ),
        "reports.add_widget": lambda a: dashboards.add_widget(
            actor=a, dashboard=w["dashboard"], kind="list", list_key="my_open_tasks"
        ),
        "reports.remove_widget": lambda a: dashboards.remove_widget(
            actor=a, widget=w["dashboard_widget"]
        ),
        "reports.resize_widget": lambda a: dashboards.resize_widget(
            actor=a, widget=w["dashboard_widget"], span=12
        ),
        "reports.move_widget": lambda a: dashboards.move_widget(
            actor=a, widget=w["dashboard_widget"], offset=1
        ),
        **_mail_service_calls(w),
        **_automation_service_calls(w),
        **_delivery_service_calls(w),
        **_quote_service_calls(w),
        **_currency_service_calls(w),
    }


def _mail_service_calls(w):
    from rapport.mail import ignoring, mailboxes, receiving, sending, templating, tracking

    return {
        "mail.send_email": lambda a: sending.send_email(
            actor=a,
            mailbox=w["mailbox"],
            to=["ada@example.com"],
            subject="Hi",
            body_html="<p>Hi</p>",
            contact=w["contact"],
        ),
        "mail.send_email (own mailbox, owner's contact)": lambda a: sending.send_email(
            actor=a,
            mailbox=w["own_mailboxes"].get(a.pk, w["mailbox"]),
            to=["ada@example.com"],
            subject="Hi",
            body_html="<p>Hi</p>",
            contact=w["contact"],
        ),
        "mail.retry_message": lambda a: sending.retry_message(actor=a, message=w["email_message"]),
        "mail.triage_create_contact": lambda a: receiving.triage_create_contact(
            actor=a, message=w["email_message"], first_name="Eve"
        ),
        "mail.triage_ignore": lambda a: receiving.triage_ignore(
            actor=a, message=w["email_message"]
        ),
        "mail.triage_ignore_sender": lambda a: receiving.triage_ignore_sender(
            actor=a, message=w["email_message"]
        ),
        "mail.ignore_sender": lambda a: ignoring.ignore_sender(actor=a, message=w["email_message"]),
        "mail.ignore_sender (every mailbox)": lambda a: ignoring.ignore_sender(
            actor=a, message=w["email_message"], every_mailbox=True
        ),
        "mail.release_suppressed": lambda a: tracking.release_suppressed(
            actor=a, address=w["suppressed_address"]
        ),
        "mail.update_mailbox": lambda a: mailboxes.update_mailbox(
            actor=a, mailbox=w["mailbox"], name="Taken over", check=False
        ),
        "mail.set_mailbox_paused": lambda a: mailboxes.set_mailbox_paused(
            actor=a, mailbox=w["mailbox"], paused=True
        ),
        "mail.delete_mailbox": lambda a: mailboxes.delete_mailbox(actor=a, mailbox=w["mailbox"]),
        "mail.create_mailbox (shared)": lambda a: mailboxes.create_mailbox(
            actor=a,
            kind="shared",
            name="Sales",
            email_address="sales@example.com",
            smtp_host="127.0.0.1",
            smtp_security="none",
            check=False,
        ),
        "mail.update_template": lambda a: templating.update_template(
            actor=a, template=w["email_template"], name="Mine now"
        ),
        "mail.delete_template": lambda a: templating.delete_template(
            actor=a, template=w["email_template"]
        ),
    }


def _quote_service_calls(w):
    from rapport.sales import quotas
    from rapport.sales.quotes import services as quotes

    return {
        "sales.create_quote": lambda a: quotes.create_quote(actor=a, deal=w["deal"]),
        "sales.send_quote": lambda a: quotes.send_quote(
            actor=a,
            quote=w["quote"],
            mailbox=w["mailbox"].pk,
            to=["ada@example.com"],
            subject="Quote",
            message="Hi",
        ),
        "sales.mark_quote_accepted": lambda a: quotes.mark_accepted(actor=a, quote=w["quote"]),
        "sales.mark_quote_declined": lambda a: quotes.mark_declined(
            actor=a, quote=w["quote"], reason="No"
        ),
        "sales.update_quote_settings": lambda a: quotes.update_quote_settings(
            actor=a, company_name="Theirs"
        ),
        "sales.set_quota": lambda a: quotas.set_quota(
            actor=a,
            user=a,
            amount="1000000",
            period_start=w["quota"].period_start,
            period_end=w["quota"].period_end,
        ),
        "sales.set_quotas": lambda a: quotas.set_quotas(actor=a, entries=[]),
        "sales.delete_quota": lambda a: quotas.delete_quota(actor=a, quota=w["quota"]),
    }


def _delivery_service_calls(w):
    from rapport.reports import deliveries

    schedule = {"recipients": [w["owner"].pk], "frequency": "daily", "time_of_day": "07:00"}
    return {
        "reports.create_delivery": lambda a: deliveries.create_delivery(
            actor=a, report=w["report"], **schedule
        ),
        "reports.create_delivery (dashboard)": lambda a: deliveries.create_delivery(
            actor=a, dashboard=w["dashboard"], **schedule
        ),
        "reports.update_delivery": lambda a: deliveries.update_delivery(
            actor=a, delivery=w["report_delivery"], time_of_day="09:00"
        ),
        "reports.set_delivery_active": lambda a: deliveries.set_delivery_active(
            actor=a, delivery=w["dashboard_delivery"], is_active=False
        ),
        "reports.request_send_now": lambda a: deliveries.request_send_now(
            actor=a, delivery=w["report_delivery"]
        ),
        "reports.delete_delivery": lambda a: deliveries.delete_delivery(
            actor=a, delivery=w["report_delivery"]
        ),
    }


def _currency_service_calls(w):
    from rapport.commerce import rates

    return {
        "commerce.set_company_currency": lambda a: rates.set_company_currency(actor=a, code="GBP"),
        "commerce.add_rate": lambda a: rates.add_rate(
            actor=a, currency="GBP", rate="1.2", valid_on=dt.date(2026, 1, 1)
        ),
        "commerce.delete_rate": lambda a: rates.delete_rate(actor=a, rate=w["exchange_rate"]),
        "commerce.import_ecb_rates": lambda a: rates.import_ecb_rates(
            actor=a, text="Date,USD\n2026-01-02,1.1\n"
        ),
        "commerce.add_demo_rates": lambda a: rates.add_demo_rates(actor=a),
    }


def _automation_service_calls(w):
    from rapport.automation import webhooks
    from rapport.core import bulk

    subscription = w["webhook_subscription"]
    return {
        "automation.create_subscription": lambda a: webhooks.create_subscription(
            actor=a, name="Mine", url="https://93.184.215.14/hook", event_types=["deal.created"]
        ),
        "automation.update_subscription": lambda a: webhooks.update_subscription(
            actor=a, subscription=subscription, name="Mine"
        ),
        "automation.rotate_secret": lambda a: webhooks.rotate_secret(
            actor=a, subscription=subscription
        ),
        "automation.delete_subscription": lambda a: webhooks.delete_subscription(
            actor=a, subscription=subscription
        ),
        "automation.send_test_event": lambda a: webhooks.send_test_event(
            actor=a, subscription=subscription
        ),
        "automation.replay_delivery": lambda a: webhooks.replay_delivery(
            actor=a, delivery=w["webhook_delivery"]
        ),
        "core.bulk.start_undo": lambda a: bulk.start_undo(
            actor=a, operation=w["bulk_operation"], inline=True
        ),
    }


@pytest.mark.parametrize("role", ["read_only", "outsider"])
def test_every_writing_service_refuses_who_may_not(world, people, admin_user, role):  # noqa: F811
    from django.core.exceptions import ValidationError

    from rapport.core import bulk

    actor = people[role]
    problems = []
    calls = service_calls(world, admin_user)
    if role == "read_only":
        # A writer's bulk action over records they may not change is refused record by record
        # (test_bulk: "skipped: not yours", their own operation is written); a read-only seat
        # is refused the whole operation.
        calls["core.bulk.start"] = lambda a: bulk.start(
            actor=a,
            entity_key="contacts",
            action_key="add_tag",
            params={"tag": "theirs"},
            ids=[world["contact"].pk],
            inline=True,
        )
    for name, call in calls.items():
        before = domain_counts()
        try:
            call(actor)
        except PermissionDenied:
            pass
        except ValidationError as exc:
            problems.append(f"{name} as {role}: ValidationError {exc.messages}")
        else:
            problems.append(f"{name} as {role}: allowed")
        after = domain_counts()
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        if changed:
            problems.append(f"{name} as {role}: wrote {changed}")
    assert not problems, "\n".join(problems)
