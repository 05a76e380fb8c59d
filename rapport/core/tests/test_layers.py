"""The layer check: imports between Rapport's apps point one way only (docs/architecture.md).

    core  <-  platform (accounts, audit, customfields)  <-  contacts
          <-  domains (interactions, sales, commerce, data_exchange)  <-  top (analytics, ...)

A lower layer that needs to react to a higher one subscribes to an event or fills a registry;
it never imports upward. Every import counts, including those inside functions, because a lazy
import upward is the same coupling, only hidden. `rapport.analytics.metrics` is pure numerical
code: no Django and no other part of Rapport.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # .../rapport
REPO_ROOT = PACKAGE_ROOT.parent

CORE = {"core"}
PLATFORM = {"accounts", "audit", "customfields"}
CONTACTS = {"contacts"}
DOMAINS = {"interactions", "sales", "commerce", "data_exchange"}
TOP = {
    "analytics",
    "frameworks",
    "privacy",
    "mail",
    "demo",
    "automation",
    "sequences",
    "service",
    "marketing",
    "portal",
    "reports",
}
# Modules that assemble the whole project: settings, URLs, the API mount, the CLI, WSGI.
PROJECT_MODULES = {"settings", "test_settings", "urls", "api", "cli", "wsgi", "__init__"}

ALLOWED: dict[str, set[str]] = {
    **{app: set(CORE) for app in CORE},
    **{app: CORE | PLATFORM for app in PLATFORM},
    **{app: CORE | PLATFORM | CONTACTS for app in CONTACTS},
    # Domains build on contacts and put entries on the interactions timeline; they do not
    # import each other (sales reacts to an order through an event, not an import).
    **{app: CORE | PLATFORM | CONTACTS | {"interactions", app} for app in DOMAINS},
}
PURE_PACKAGES = ("rapport.analytics.metrics",)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    line: int

    def __str__(self) -> str:
        path = self.module.replace(".", "/") + ".py"
        return f"{path}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> list[Path]:
    files = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = path.relative_to(PACKAGE_ROOT).parts
        if "tests" in parts or "migrations" in parts or "static" in parts:
            continue
        files.append(path)
    return files


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A relative import: resolve it against the importing module's package.
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from rapport import contacts` imports the contacts app, not `rapport`.
            if target == "rapport":
                found += [Import(module, f"rapport.{a.name}", node.lineno) for a in node.names]
            else:
                found.append(Import(module, target, node.lineno))
    return found


def app_of(module: str) -> str | None:
    """The app a `rapport.<app>...` module belongs to; None for project-level modules."""
    parts = module.split(".")
    if parts[0] != "rapport" or len(parts) < 2:
        return None
    if parts[1] in PROJECT_MODULES and len(parts) == 2:
        return None
    # Management commands are the CLI: they compose the whole project like `rapport.cli`.
    if parts[1] == "core" and len(parts) > 2 and parts[2] == "management":
        return None
    return parts[1]


def all_imports() -> list[Import]:
    return [item for path in source_files() for item in imports_of(path)]


def layer_violations(imports: list[Import]) -> list[str]:
    problems = []
    known = CORE | PLATFORM | CONTACTS | DOMAINS | TOP
    for item in imports:
        source_app = app_of(item.module)
        if source_app is None:
            continue
        if source_app not in known:
            problems.append(f"{item.module}: app {source_app!r} is in no layer (add it)")
            continue
        if not item.target.startswith("rapport."):
            continue
        target_app = app_of(item.target)
        if source_app in TOP:
            continue
        if target_app is None:
            problems.append(f"{item} (a project-level module; apps must not import it)")
        elif target_app != source_app and target_app not in ALLOWED[source_app]:
            problems.append(f"{item} ({source_app} may not depend on {target_app})")
    return sorted(set(problems))


def purity_violations(imports: list[Import]) -> list[str]:
    problems = []
    for item in imports:
        if not item.module.startswith(PURE_PACKAGES):
            continue
        top = item.target.split(".")[0]
        if top == "django":
            problems.append(f"{item} (pure numerical code imports no Django)")
        elif top == "rapport" and not item.target.startswith(PURE_PACKAGES):
            problems.append(f"{item} (pure numerical code imports nothing else of Rapport)")
    return sorted(set(problems))


def test_the_check_sees_every_app_and_their_imports():
    imports = all_imports()
    apps = {app_of(i.module) for i in imports} - {None}
    assert {"core", "accounts", "contacts", "interactions", "demo"} <= apps
    # Sanity: the scanner does find a real import, so an empty report means something.
    assert any(
        i.module == "rapport.contacts.services" and i.target == "rapport.audit.services"
        for i in imports
    )


def test_layers_point_one_way():
    problems = layer_violations(all_imports())
    assert not problems, "Imports against the layers:\n  " + "\n  ".join(problems)


def test_pure_metrics_import_no_django():
    problems = purity_violations(all_imports())
    assert not problems, "Impure numerical code:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("rapport.core.events", "rapport.contacts.models", False),
        ("rapport.core.events", "rapport.core.context", True),
        ("rapport.accounts.services", "rapport.audit.services", True),
        ("rapport.audit.services", "rapport.contacts.models", False),
        ("rapport.contacts.services", "rapport.customfields.validation", True),
        ("rapport.contacts.apps", "rapport.interactions.models", False),
        ("rapport.sales.services", "rapport.interactions.services", True),
        ("rapport.sales.services", "rapport.commerce.models", False),
        ("rapport.commerce.models", "rapport.contacts.models", True),
        ("rapport.interactions.models", "rapport.urls", False),
        ("rapport.analytics.queries", "rapport.commerce.models", True),
        ("rapport.demo.people", "rapport.sales.services", True),
        ("rapport.core.management.commands.openapi", "rapport.api", True),
    ],
)
def test_the_rules_themselves(module, target, allowed):
    assert (not layer_violations([Import(module, target, 1)])) is allowed


def test_relative_imports_are_resolved(tmp_path, monkeypatch):
    package = tmp_path / "rapport" / "audit"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from . import services\n")
    (package / "services.py").write_text("from ..contacts import models\nfrom .models import X\n")
    monkeypatch.setattr("rapport.core.tests.test_layers.REPO_ROOT", tmp_path)
    targets = {i.target for i in imports_of(package / "services.py")}
    assert targets == {"rapport.contacts", "rapport.audit.models"}
    assert {i.target for i in imports_of(package / "__init__.py")} == {"rapport.audit"}
    assert layer_violations(imports_of(package / "services.py")) == [
        "rapport/audit/services.py:1 imports rapport.contacts (audit may not depend on contacts)"
    ]


def test_pure_code_importing_django_is_reported():
    item = Import("rapport.analytics.metrics.rfm", "django.db.models", 3)
    assert purity_violations([item]) == [
        "rapport/analytics/metrics/rfm.py:3 imports django.db.models "
        "(pure numerical code imports no Django)"
    ]
