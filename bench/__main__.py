"""`python -m bench --scale {small,full}`: create and fill the bench database once, run the scenarios.

Uses DATABASE_URL when set, else a dedicated local PostgreSQL database per scale. Exits 1 only when
a scenario fails; a scenario whose page, command or endpoint does not exist yet is reported and
skipped.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import dj_database_url
import psycopg
from psycopg import sql

DEFAULT_URLS = {
    "full": "postgres://postgres@127.0.0.1:5432/evse_payout_bench",
    "small": "postgres://postgres@127.0.0.1:5432/evse_payout_bench_small",
}
RESULT_FILES = {"full": "RESULTS.md", "small": "RESULTS-small.md"}


def ensure_database(url: str) -> None:
    """Create the database if it does not exist (connecting to the server's `postgres` database)."""
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"The benchmark needs PostgreSQL; DATABASE_URL is {url}")
    server = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=["small", "full"], default="full")
    parser.add_argument("--regenerate", action="store_true", help="generate the data again")
    parser.add_argument("--only", metavar="TEXT", help="run only the scenarios whose name has TEXT")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URLS[args.scale]
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.bench"
    started = time.perf_counter()
    ensure_database(url)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from . import generate, report, scenarios

    scale, plan = scales()[args.scale]
    print(f"Benchmark at {args.scale} scale on {dj_database_url.parse(url)['NAME']}")
    call_command("migrate", interactive=False, verbosity=0)
    scenarios.remove_leftovers()
    if args.regenerate or not generate.is_generated(scale):
        print("Generating the data (once; reused by later runs) …")
        generate.generate(scale)
    else:
        print("Reusing the generated data.")
    print(f"Ready after {time.perf_counter() - started:.0f} s. Scenarios:")

    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", None)
    client = Client()
    client.force_login(user)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        context = scenarios.Context(
            plan=plan, client=client, user=user, env=dict(os.environ), workdir=Path(workdir)
        )
        results = scenarios.run_all(context, only=args.only)

    print()
    report.print_table(results)
    if args.only:
        return exit_code(results, report)
    output = Path(__file__).parent / RESULT_FILES[args.scale]
    counts = (
        f"{scale.evses:,} EVSEs, {scale.locations:,} locations, {scale.sub_cpos} Sub-CPOs, "
        f"{scale.accounts} payout accounts, {scale.cdrs:,} CDRs"
    )
    report.write_markdown(output, results, scale=args.scale, counts=counts)
    print(f"\nWrote {output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output}"
          f" in {time.perf_counter() - started:.0f} s.")  # fmt: skip
    return exit_code(results, report)


def exit_code(results, report) -> int:
    return 1 if any(result.status == report.FAILED for result in results) else 0


def scales():
    from .generate import Scale
    from .scenarios import Plan

    return {
        "small": (
            Scale("small", evses=2_000, locations=100, sub_cpos=5, accounts=10, cdrs=20_000),
            Plan(page_runs=3, page_warmup=1, job_runs=3, job_warmup=0, bulk_assign=200,
                 import_cdrs=2_000, ocpi_requests=200, ocpi_warmup=10),
        ),
        "full": (
            Scale("full", evses=100_000, locations=5_000, sub_cpos=50, accounts=200,
                  cdrs=1_000_000),
            Plan(page_runs=15, page_warmup=2, job_runs=3, job_warmup=0, bulk_assign=10_000,
                 import_cdrs=100_000, ocpi_requests=2_000, ocpi_warmup=50),
        ),
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
