"""`rapport openapi --write FILE` / `--check FILE`: the committed OpenAPI document and its drift check."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


def current_schema_text() -> str:
    from rapport.api import api

    schema = api.get_openapi_schema()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Write the OpenAPI document, or check that the committed one matches the code."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--write", metavar="FILE")
        group.add_argument("--check", metavar="FILE")
        group.add_argument("--print", action="store_true")

    def handle(self, *args, write=None, check=None, print=False, **options):
        text = current_schema_text()
        if print:
            sys.stdout.write(text)
        elif write:
            Path(write).write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {write}")
        else:
            path = Path(check)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise CommandError(
                    f"{check} is out of date with the API: run `make openapi` and commit it."
                )
            self.stdout.write(f"{check} matches the API")
