"""The demo's identity part plants duplicates the scan finds and takes a quality snapshot."""

import random

import pytest
from django.utils import timezone
from faker import Faker
from rich.console import Console

from rapport.contacts.tests.factories import make_contact, make_organization
from rapport.data_exchange.models import ContactDuplicate, OrganizationDuplicate, QualitySnapshot
from rapport.demo import identity
from rapport.demo.context import DemoContext

pytestmark = pytest.mark.django_db


def test_build_plants_duplicates_that_are_found(owner, admin_user):
    rng = random.Random(4)
    faker = Faker()
    faker.seed_instance(4)
    organizations = [
        make_organization(actor=owner, owner=owner, name=f"{faker.last_name()} {i} Ltd")
        for i in range(4)
    ]
    contacts = [
        make_contact(
            actor=owner,
            owner=owner,
            first_name=faker.first_name(),
            last_name=faker.last_name(),
            emails=[f"person{i}@company{i}.example.org"],
            phones=[f"+4420794600{i:02d}"],
            organization=organizations[i % 4],
        )
        for i in range(30)
    ]
    ContactDuplicate.objects.all().delete()
    ctx = DemoContext(
        rng=rng,
        faker=faker,
        now=timezone.now(),
        scale=30,
        admin=admin_user,
        console=Console(quiet=True),
        contacts=contacts,
        organizations=organizations,
        show_progress=False,
    )
    identity.build(ctx)
    assert ContactDuplicate.objects.count() >= 4
    assert OrganizationDuplicate.objects.count() >= 3
    assert QualitySnapshot.objects.count() == 1
