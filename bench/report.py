"""Results of the scenarios: the console table and bench/RESULTS.md."""

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import django
from django.db import connection

OK = "ok"
NOT_AVAILABLE = "not available yet"
FAILED = "FAILED"


@dataclass
class Goal:
    text: str
    met: bool


@dataclass
class Result:
    """One scenario's figures; `ratio_kind` says how its baseline compares.

    "faster": the baseline's median ÷ ours (how many times faster we are than the baseline);
    "floor": our median ÷ the baseline's (how many times the bare-SQL floor we take).
    """

    name: str
    unit: str = "ms"
    samples: list[float] = field(default_factory=list)
    baseline_name: str = ""
    baseline_samples: list[float] = field(default_factory=list)
    baseline_note: str = ""
    ratio_kind: str = "faster"
    details: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    status: str = OK
    why: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_samples) if self.baseline_samples else None

    @property
    def ratio(self) -> float | None:
        if not (self.median and self.baseline_median):
            return None
        if self.ratio_kind == "faster":
            return self.baseline_median / self.median
        return self.median / self.baseline_median

    def ratio_text(self) -> str:
        if self.ratio is None:
            return self.baseline_note or ""
        word = "faster" if self.ratio_kind == "faster" else "the floor"
        return f"{self.ratio:.1f}× {word}"


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def figures(result: Result) -> list[str]:
    if result.status != OK:
        return [result.name, result.status, "", "", "", "", "", result.why]
    samples = result.samples
    baseline = ""
    if result.baseline_name:
        baseline = f"{result.baseline_name}: {number(result.baseline_median)} {result.unit}"
    return [
        result.name,
        result.unit,
        number(min(samples)),
        number(result.median),
        number(max(samples)),
        baseline,
        result.ratio_text(),
        "; ".join(result.details),
    ]


HEADERS = ["Scenario", "Unit", "Min", "Median", "Max", "Baseline (median)", "Ratio", "Details"]


def print_table(results: list[Result]) -> None:
    rows = [HEADERS] + [figures(result) for result in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS) - 1)]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in [*widths, len(HEADERS[-1])]))
    print()
    for result in results:
        for goal in result.goals:
            print(f"{'met    ' if goal.met else 'NOT MET'}  {result.name}: {goal.text}")


def machine() -> dict[str, str]:
    cpu = memory = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), cpu)
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (postgres,) = cursor.fetchone()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Commit": commit or "?",
        "CPU": f"{os.cpu_count()} cores ({cpu})",
        "Memory": memory,
        "PostgreSQL": postgres,
        "Python": platform.python_version(),
        "Django": django.get_version(),
    }


METHOD = """\
- Pages: in-process Django test `Client`, logged in as a superuser, `DEBUG = False`
  (config/settings/bench.py). Server time is the wall time of `client.get()`. The product pages
  are timed at the admin changelist's page size (`per_page` = the admin's `list_per_page`) so
  both render the same number of rows; the median at the default page size is in the details.
  Query counts come from `CaptureQueriesContext`. The admin baselines are fair ones, built for
  the benchmark in bench/admin_baseline.py on a bench-only AdminSite (`/bench-admin/`; the
  product's admin is unchanged), each with `list_select_related` and, like the product's admin,
  `show_full_result_count = False`: for the unassigned EVSEs, an EVSE changelist with list
  filters on the location's city, country and owner, the power type and an "unassigned"
  `SimpleListFilter` (not removed, no open assignment: read, like the product page, from the
  narrow table of unassigned EVSEs the database keeps), the product page's columns but the CDR
  figures, filtered by the exact city (not the admin search, whose four `ILIKE`s flattered the
  product page) at page 1 and a deep page (page 39 at full scale); for an account's assigned
  tab, the Assignment changelist of its open assignments with the tab's columns (EVSE ID,
  location, city, owner, power type); for the CDR overview, the product's CDR changelist
  filtered by payout account and end date. Goals (issue 14): the unassigned pages ≤ 50 ms
  median and ≥ 2× the admin, the assigned tab ≥ 1.5× the admin.
- Bulk assign: `assign_evses(evses=<filtered queryset>)` against a loop of one
  `Assignment.objects.create()` per EVSE; both inside a transaction that is rolled back.
- Commands (`import_cdrs`, `rerate_cdrs`, `run_invoicing`) run as a subprocess
  (`python -m bench.rolled_back COMMAND …`): the real command, in one outer transaction that is
  rolled back at the end, so the data stays as generated. The time includes the process start
  (about a second) and excludes the final commit. The invoice run is measured both real (rolled
  back) and `--dry-run`; the goals use the real run. Peak RSS is the child's `ru_maxrss`.
  A `VACUUM` (not timed) follows each run. At small scale the commands get no warm-up run
  (the data is in PostgreSQL's buffers already) to keep `make bench SCALE=small` short.
- OCPI: `gunicorn config.wsgi --workers 2` on loopback, sequential requests over `http.client`,
  each a new CDR; the stored CDRs are deleted afterwards.
"""


def write_markdown(path: Path, results: list[Result], *, scale: str, counts: str) -> None:
    lines = [f"# Benchmark results ({scale} scale)", ""]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    lines += [f"- Scale: {scale} ({counts})", "", "## Figures", ""]
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for result in results:
        cells = [cell.replace("|", "\\|") for cell in figures(result)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Goals (issues 6 and 14)", ""]
    if scale != "full":
        lines += ["Goals are set for the full scale; at this scale they only show the harness works.", ""]  # fmt: skip
    for result in results:
        if result.status != OK:
            lines.append(f"- **not measured**: {result.name} — {result.status}: {result.why}")
        for goal in result.goals:
            lines.append(f"- {'met' if goal.met else '**not met**'}: {result.name} — {goal.text}")
    causes = path.parent / "CAUSES.md"
    if scale == "full" and causes.exists():
        # Why a goal is not met: measured causes, kept by hand beside the generated figures.
        lines += ["", causes.read_text().strip()]
    lines += ["", "## How it is measured", "", METHOD]
    path.write_text("\n".join(lines))
