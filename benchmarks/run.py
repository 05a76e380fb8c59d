"""Run Rapport's benchmarks: every benchmarks/bench_*.py, or the ones named.

    python benchmarks/run.py                        # all of them
    python benchmarks/run.py contacts --full        # bench_contacts.py with 1,000,000 contacts
    make bench BENCH_ARGS="contacts --contacts 200000"

Each benchmark runs in its own Python process (each sets Django up for its own database) and
gets every flag given here: a benchmark's `main(argv)` takes the flags it knows and ignores the
rest (argparse's parse_known_args), so `--contacts` reaches the benchmarks that seed contacts.
A benchmark whose `main()` takes no arguments runs with none.
"""

from __future__ import annotations

import importlib.util
import inspect
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def run_one(path: Path, argv: list[str]) -> int:
    """Import one benchmark module and call its main (used inside the child process)."""
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if main is None:
        print(f"{path.name} has no main(argv)", file=sys.stderr)
        return 2
    if inspect.signature(main).parameters:
        outcome = main(argv)
    else:
        sys.argv = [str(path)]
        outcome = main()
    return int(outcome or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--one"]:
        return run_one(Path(argv[1]), argv[2:])
    available = discover()
    names = []
    while argv and not argv[0].startswith("-"):
        names.append(argv.pop(0))
    unknown = [name for name in names if name not in available]
    if unknown:
        print(
            f"No benchmark named {', '.join(unknown)}; there are: {', '.join(available)}",
            file=sys.stderr,
        )
        return 2
    chosen = names or list(available)
    from rich.console import Console
    from rich.rule import Rule

    console = Console()
    failures = []
    for name in chosen:
        console.print(Rule(f"[bold]bench_{name}[/bold] {' '.join(argv)}"))
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--one", str(available[name]), *argv]
        )
        # Pass a termination on, so the benchmark can stop the servers it started.
        signal.signal(signal.SIGTERM, lambda signum, frame, child=child: child.terminate())
        code = child.wait()
        console.print(f"[dim]bench_{name}: {time.monotonic() - started:.0f} s, exit {code}[/dim]")
        if code:
            failures.append(name)
    if failures:
        console.print(f"[red]failed: {', '.join(failures)}[/red]")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
