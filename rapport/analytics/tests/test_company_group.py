"""Company groups: one parent per company, no loops, and a tree with roll-ups on the page."""

import pytest
from django.core.exceptions import ValidationError

from rapport.commerce.tests.factories import make_order
from rapport.contacts import hierarchy
from rapport.contacts.services import add_relationship
from rapport.contacts.tests.factories import make_organization
from rapport.sales.choices import StageKind
from rapport.sales.services.deals import create_deal, move_deal
from rapport.sales.services.pipelines import create_pipeline


def parent(actor, upper, lower):
    return add_relationship(
        actor=actor, from_organization=upper, to_organization=lower, kind="parent"
    )


@pytest.fixture
def group(owner, outsider, admin_user):
    holding = make_organization(actor=owner, owner=owner, name="Holding")
    alpha = make_organization(actor=owner, owner=owner, name="Alpha")
    alpha_one = make_organization(actor=owner, owner=owner, name="Alpha One")
    beta = make_organization(actor=owner, owner=owner, name="Beta")
    hidden = make_organization(actor=outsider, owner=outsider, name="Hidden Co")
    parent(owner, holding, alpha)
    parent(owner, alpha, alpha_one)
    parent(owner, holding, beta)
    parent(owner, holding, hidden)
    pipeline = create_pipeline(actor=admin_user, name="Group sales", currency="EUR")
    deal = dict(pipeline=pipeline, expected_close_date="2030-01-01")
    create_deal(actor=owner, owner=owner, name="A1", amount="1000", organization=alpha_one, **deal)
    won = create_deal(actor=owner, owner=owner, name="B", amount="500", organization=beta, **deal)
    move_deal(actor=owner, deal=won, stage=pipeline.stages.get(kind=StageKind.WON))
    create_deal(
        actor=outsider, owner=outsider, name="Secret", amount="9999", organization=hidden, **deal
    )
    make_order(organization=alpha, total="200.00", currency="EUR")
    return {"holding": holding, "alpha": alpha, "alpha_one": alpha_one, "beta": beta}


def test_a_company_has_one_parent_and_a_group_never_loops(owner, group):
    other = make_organization(actor=owner, owner=owner, name="Other parent")
    with pytest.raises(ValidationError) as second:
        parent(owner, other, group["alpha"])
    assert "already has a parent company (Holding)" in second.value.messages[0]
    with pytest.raises(ValidationError) as loop:
        parent(owner, group["alpha_one"], group["holding"])
    assert "a group cannot loop" in loop.value.messages[0]


def test_the_tree_is_read_from_any_company_in_it(group):
    root, size, cut = hierarchy.group_tree(group["alpha_one"].pk)
    assert root.organization_id == group["holding"].pk and size == 5 and not cut
    depths = [node.depth for node in hierarchy.flatten(root)]
    assert depths == [0, 1, 2, 1, 1]


def test_the_panel_rolls_up_what_the_reader_may_see(web_client_for, owner, group):
    page = web_client_for(owner).get(f"/organizations/{group['alpha'].pk}/")

    html = page.content.decode()
    assert "Company group" in html
    panel = next(p for p in page.context["main_panels"] if p["panel"].key == "company_group")
    assert not panel.get("failed")
    rows = {row["name"] or "hidden": row for row in panel["context"]["rows"]}
    assert rows["Holding"]["open"] == "€1,000.00"  # Alpha One's deal, two levels down
    assert rows["Holding"]["won"] == "€500.00"
    # Alpha's shop order and Beta's won deal, which is revenue as an order of kind "deal".
    assert rows["Holding"]["revenue"] == "€700.00"
    assert rows["Alpha"]["is_current"] and rows["Alpha"]["open"] == "€1,000.00"
    assert rows["hidden"]["open"] == "" and "Hidden Co" not in html and "9,999" not in html
    assert "A company outside your access" in html


def test_a_company_without_a_group_has_no_panel(web_client_for, owner):
    alone = make_organization(actor=owner, owner=owner, name="Alone")
    page = web_client_for(owner).get(f"/organizations/{alone.pk}/")
    assert "Company group" not in page.content.decode()
