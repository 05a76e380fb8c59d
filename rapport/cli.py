"""The `rapport` command: Rapport's own subcommands plus every Django management command.

rapport serve [--port 8000]       gunicorn + a task worker (+ the local mail sink when no
                                  RAPPORT_SMTP_URL is set), stopped together by Ctrl-C
rapport mailsink [--port 8025]    the local SMTP sink alone: keeps mail, sends nothing out
rapport worker [--batch]          the task worker alone (database or RQ backend)
rapport demo [--contacts 3000]    a believable demo business (into an empty database
                                  unless --force; --if-empty skips a filled one)
rapport openapi --check FILE      the committed OpenAPI document's drift check
rapport backup [--output FILE]    the database at one moment plus the media files, in one tar
rapport restore FILE --yes        put a backup back (stop the server and workers first)
rapport export-contact ID --output FILE     everything about a person as JSON (subject access)
rapport erase-contact ID --reason "…" --yes erase a person (GDPR), keeping an anonymous record
rapport migrate, rapport createsuperuser --noinput, …   Django's commands, passed through
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    argv[0] = "rapport"
    if argv[1:] in ([], ["help"], ["-h"], ["--help"]):
        # Rapport's own commands first; Django's full list follows.
        print(__doc__)
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
