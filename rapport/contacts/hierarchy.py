"""Company groups: the parent → subsidiary tree read from "parent company of" relationships.

A company has at most one parent and a parent chain never loops (`contacts.services` refuses
both), so a group is a tree. It is walked one level per query, with bounds, so a huge group or
damaged data cannot make a page hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rapport.contacts.choices import RelationshipKind
from rapport.contacts.models import Organization, OrganizationRelationship

DEEPEST = 12
LARGEST = 400


@dataclass
class Node:
    organization_id: int
    depth: int
    children: list[Node] = field(default_factory=list)


def parent_id(organization_id: int) -> int | None:
    return (
        OrganizationRelationship.objects.filter(
            to_organization_id=organization_id, kind=RelationshipKind.PARENT
        )
        .values_list("from_organization_id", flat=True)
        .first()
    )


def ancestor_ids(organization_id: int) -> list[int]:
    """The parent, its parent, … up to the group's top (nearest first)."""
    chain: list[int] = []
    current = organization_id
    for _ in range(DEEPEST):
        parent = parent_id(current)
        if parent is None or parent in chain or parent == organization_id:
            break
        chain.append(parent)
        current = parent
    return chain


def group_tree(organization_id: int) -> tuple[Node, int, bool]:
    """(the group's top node with its subsidiaries, how many companies, whether it was cut)."""
    ancestors = ancestor_ids(organization_id)
    root = Node(ancestors[-1] if ancestors else organization_id, 0)
    seen = {root.organization_id}
    level = [root]
    cut = False
    for depth in range(1, DEEPEST + 1):
        if not level:
            break
        by_parent = {node.organization_id: node for node in level}
        edges = OrganizationRelationship.objects.filter(
            from_organization_id__in=list(by_parent), kind=RelationshipKind.PARENT
        ).values_list("from_organization_id", "to_organization_id")
        names = dict(
            Organization.objects.filter(pk__in=[child for _, child in edges]).values_list(
                "pk", "name"
            )
        )
        level = []
        for parent, child in sorted(edges, key=lambda edge: (names.get(edge[1], ""), edge[1])):
            if child in seen:
                continue
            if len(seen) >= LARGEST:
                cut = True
                break
            seen.add(child)
            node = Node(child, depth)
            by_parent[parent].children.append(node)
            level.append(node)
    return root, len(seen), cut or bool(level and depth == DEEPEST)


def flatten(root: Node) -> list[Node]:
    """The tree in reading order: each company followed by its subsidiaries."""
    rows, stack = [], [root]
    while stack:
        node = stack.pop()
        rows.append(node)
        stack.extend(reversed(node.children))
    return rows
