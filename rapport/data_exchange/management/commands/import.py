"""`rapport import contacts|organizations|orders FILE --mapping NAME [--dry-run] [--policy skip|update_empty|overwrite]`

Imports a file from the command line with a progress bar. It runs here, in this process (no
worker needed); `--enqueue` hands it to the task worker instead and follows its progress.
"""

import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from rapport.core.context import work_context
from rapport.core.importing import importers
from rapport.data_exchange.choices import ImportPolicy, ImportStatus
from rapport.data_exchange.importing import jobs
from rapport.data_exchange.models import ImportJob, MappingPreset

ENTITY_NAMES = {"contacts": "contact", "organizations": "organization", "activities": "activity"}


class Command(BaseCommand):
    help = "Import contacts, organizations or orders from a CSV or XLSX file."

    def add_arguments(self, parser):
        named = set(ENTITY_NAMES.values())
        names = sorted(
            {*ENTITY_NAMES, *(f"{i.entity}s" for i in importers() if i.entity not in named)}
        )
        parser.add_argument("entity", choices=names, help="What the file holds.")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--mapping", help="Name of a saved mapping (else headers are recognised)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Report only; write nothing.")
        parser.add_argument("--policy", choices=ImportPolicy.values, default=ImportPolicy.SKIP)
        parser.add_argument("--as", dest="user", help="Email or username of the importing user.")
        parser.add_argument("--batch-size", type=int, default=jobs.DEFAULT_BATCH_SIZE)
        parser.add_argument("--system", help="System the external ids come from (e.g. hubspot).")
        parser.add_argument(
            "--enqueue", action="store_true", help="Let the task worker run it; follow progress."
        )
        parser.add_argument(
            "--keep-leads",
            action="store_true",
            help="Contacts: the importing user owns new leads that name no owner (by default "
            "the assignment rules place them).",
        )

    def handle(
        self,
        *args,
        entity,
        file,
        mapping,
        dry_run,
        policy,
        user,
        batch_size,
        system,
        enqueue,
        keep_leads=False,
        **options,
    ):
        entity = ENTITY_NAMES.get(entity, entity.rstrip("s"))
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        actor = None
        if user:
            actor = (
                get_user_model()
                .objects.filter(Q(email__iexact=user) | Q(username=user), is_active=True)
                .first()
            )
            if actor is None:
                raise CommandError(f"No active user {user!r}.")
        preset = None
        if mapping:
            preset = MappingPreset.objects.filter(entity=entity, name=mapping).first()
            if preset is None:
                names = ", ".join(
                    MappingPreset.objects.filter(entity=entity).values_list("name", flat=True)
                )
                raise CommandError(f"No saved mapping {mapping!r}. Saved: {names or 'none'}.")
        with open(file, "rb") as handle:
            try:
                job = jobs.create_import(
                    actor=actor,
                    entity=entity,
                    upload=File(handle, name=file.name),
                    preset=preset,
                    policy=policy,
                    dry_run=dry_run,
                    options={
                        **({"external_id_system": system} if system else {}),
                        **({"assign_leads_by_rules": False} if keep_leads else {}),
                    }
                    or None,
                    batch_size=batch_size,
                )
            except ValidationError as exc:
                raise CommandError(
                    "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                ) from exc
        mapped = ", ".join(f"{k} → {v}" for k, v in job.mapping.items())
        self.stdout.write(f"Import #{job.pk}: {job.file_format} {job.encoding} {mapped}")
        if enqueue:
            jobs.start_import(actor=actor, job=job)
            job = self._follow(job)
        else:
            job = self._run(job)
        self._report(job)

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        return Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )

    def _run(self, job):
        with self._progress() as progress, work_context(source="cli"):
            task = progress.add_task("dry run" if job.is_dry_run else "importing", total=None)

            def update(current):
                progress.update(
                    task,
                    total=current.total_rows,
                    completed=max(0, current.processed_rows - 1),
                )

            try:
                return jobs.run_import(job.pk, progress=update)
            except Exception as exc:
                raise CommandError(
                    f"Import #{job.pk} stopped: {exc}. Batches before the failure are saved; "
                    "run the same command again (rows already imported are matched, not "
                    "duplicated) or resume the import from its page."
                ) from exc

    def _follow(self, job):
        with self._progress() as progress:
            task = progress.add_task("queued", total=None)
            while True:
                job = ImportJob.objects.get(pk=job.pk)
                progress.update(
                    task,
                    description=job.get_status_display(),
                    total=job.total_rows,
                    completed=max(0, job.processed_rows - 1),
                )
                if job.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
                    return job
                time.sleep(0.5)

    def _report(self, job):
        verb = "would be" if job.is_dry_run else "were"
        self.stdout.write(
            f"{job.created_count} {verb} created, {job.updated_count} updated, "
            f"{job.unchanged_count} unchanged, {job.skipped_count} skipped, "
            f"{job.error_count} rows with errors."
        )
        for row, column, _field, message, value in list(jobs.error_rows(job))[:20]:
            self.stdout.write(f"  row {row}, {column or 'row'}: {message} ({value!r})")
        if job.error_count > 20:
            self.stdout.write(f"  … the full report: /data/imports/{job.pk}/errors.csv")
        if job.status == ImportStatus.FAILED:
            raise CommandError(f"Import #{job.pk} failed: {job.failure}")
