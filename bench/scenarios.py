"""The benchmark scenarios of issue 6, each against its baseline, measured in the same run.

A scenario whose target (page, command, endpoint) does not exist yet raises `NotAvailable` and is
reported as such; any other error is reported as a failure. Nothing a scenario writes is kept:
services and commands run inside transactions that are rolled back, OCPI CDRs are deleted.
"""

import base64
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.management import call_command, get_commands
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone

from evse_payout.models import (
    CDR,
    EVSE,
    Assignment,
    AuditAction,
    AuditEvent,
    CDRStatus,
    Connector,
    Location,
    OCPIToken,
    PayoutAccount,
    StatementLine,
)
from evse_payout.services.assignments import assign_evses
from evse_payout.services.invoicing import cutoff_instant, run_invoicing

from . import admin_baseline
from .generate import ocpi_cdr, random_session
from .report import FAILED, NOT_AVAILABLE, Goal, Result
from .rolled_back import PEAK_RSS_MARKER

ROOT = Path(__file__).resolve().parent.parent
BENCH_PREFIX = "BENCH-"
OCPI_CDRS_PATH = "/ocpi/2.2.1/cdrs"


class NotAvailable(Exception):
    """The scenario's target does not exist yet."""


class ScenarioFailed(Exception):
    """The target exists but did not do what the scenario expects."""


@dataclass(frozen=True)
class Plan:
    page_runs: int
    page_warmup: int
    job_runs: int
    job_warmup: int
    bulk_assign: int
    import_cdrs: int
    ocpi_requests: int
    ocpi_warmup: int


@dataclass
class Context:
    plan: Plan
    client: Client
    user: object
    env: dict
    workdir: Path


SCENARIOS: list[tuple[str, Callable[[Context], Result]]] = []


def scenario(name: str):
    def register(function):
        SCENARIOS.append((name, function))
        return function

    return register


def run_all(context: Context, only: str | None = None, log=print) -> list[Result]:
    results = []
    for name, function in SCENARIOS:
        if only and only.lower() not in name.lower():
            continue
        log(f"- {name}")
        try:
            results.append(function(context))
        except NotAvailable as exc:
            log(f"  not available yet: {exc}")
            results.append(Result(name=name, status=NOT_AVAILABLE, why=str(exc)))
        except Exception as exc:
            traceback.print_exc()
            results.append(Result(name=name, status=FAILED, why=f"{type(exc).__name__}: {exc}"))
    return results


def timed(function, *, runs: int, warmup: int, factor: float = 1000.0) -> list[float]:
    """Wall time of `runs` calls after `warmup` calls; milliseconds by default."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * factor)
    return samples


def remove_leftovers() -> None:
    """Rows an interrupted earlier run may have left: OCPI CDRs and tokens of the bench."""
    CDR.objects.filter(cdr_id__startswith=BENCH_PREFIX).delete()
    OCPIToken.objects.filter(name__startswith=BENCH_PREFIX.lower()).delete()


# Pages ---------------------------------------------------------------------------------------


def unassigned_evses():
    return EVSE.objects.active().filter(
        ~Exists(Assignment.objects.open().filter(evse=OuterRef("pk")))
    )


def busiest_city() -> str:
    return (
        unassigned_evses()
        .values("location__city")
        .annotate(n=Count("pk"))
        .order_by("-n", "location__city")[0]["location__city"]
    )


def busiest_account() -> PayoutAccount:
    return PayoutAccount.objects.annotate(
        n=Count("assignments", filter=Q(assignments__unassigned_at__isnull=True))
    ).order_by("-n", "pk")[0]


def admin_model(model):
    """The fair baseline's ModelAdmin of `model` (bench/admin_baseline.py)."""
    model_admin = admin_baseline.site._registry.get(model)
    if model_admin is None:
        raise NotAvailable(f"{model.__name__} has no admin baseline in bench/admin_baseline.py")
    return model_admin


def admin_url(model, params: dict) -> str:
    changelist = f"{admin_baseline.site.name}:evse_payout_{model._meta.model_name}_changelist"
    return reverse(changelist) + "?" + urlencode(params)


def admin_order(context: Context, model, field_name: str) -> str:
    """The changelist's `o` parameter that sorts by `field_name` (an index into list_display)."""
    request = RequestFactory().get("/")
    request.user = context.user
    model_admin = admin_model(model)
    columns = list(model_admin.get_list_display(request))
    if model_admin.get_actions(request):
        columns.insert(0, "action_checkbox")
    return str(columns.index(field_name))


def page_query_count(context: Context, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        context.client.get(url)
    return len(queries)


def fetch_page(context: Context, url: str, expected: str, looks_real: str) -> None:
    """Check the page answers 200 and shows `expected`; a stub (without `looks_real`) is not there."""
    response = context.client.get(url)
    if response.status_code == 404:
        raise NotAvailable(f"{url} answers 404")
    if response.status_code != 200:
        raise ScenarioFailed(f"{url} answers {response.status_code}")
    content = response.content.decode()
    if looks_real not in content:
        raise NotAvailable(f"{url} is still a stub (no {looks_real!r} on the page)")
    if expected not in content:
        raise ScenarioFailed(f"{url} does not show {expected!r}, the row expected first")


def measure_page(
    context: Context,
    *,
    name: str,
    url_name: str,
    params: dict,
    expected: str,
    looks_real: str,
    baseline_model,
    baseline_params: dict,
    goal_ms: float = 100,
    goal_ratio: float = 2,
) -> Result:
    try:
        path = reverse(f"evse_payout:{url_name}")
    except NoReverseMatch as exc:
        raise NotAvailable(f"no URL named {url_name!r} yet") from exc
    per_page = admin_model(baseline_model).list_per_page
    url = f"{path}?{urlencode({**params, 'per_page': per_page})}"
    fetch_page(context, url, expected, looks_real)
    runs = {"runs": context.plan.page_runs, "warmup": context.plan.page_warmup}
    result = Result(name=name, samples=timed(lambda: context.client.get(url), **runs))
    default_size = f"{path}?{urlencode(params)}"
    at_default_size = statistics.median(timed(lambda: context.client.get(default_size), **runs))
    small, large = (
        page_query_count(context, f"{path}?{urlencode({**params, 'per_page': size})}")
        for size in (25, 500)
    )
    result.details += [
        f"{at_default_size:.1f} ms at the default page size",
        f"{small} queries at 25 rows, {large} at 500",
    ]
    result.goals += [
        Goal(f"median {result.median:.1f} ms ≤ {goal_ms:.0f} ms", result.median <= goal_ms),
        Goal(f"query count independent of page size ({small} vs {large})", small == large),
    ]
    baseline = admin_url(baseline_model, baseline_params)
    response = context.client.get(baseline)
    if response.status_code != 200:
        result.baseline_note = f"admin n/a ({response.status_code} for {baseline})"
        return result
    result.baseline_name = "admin"
    result.baseline_samples = timed(lambda: context.client.get(baseline), **runs)
    result.details.append(f"admin {page_query_count(context, baseline)} queries")
    result.goals.append(
        Goal(
            f"{result.ratio:.1f}× faster than the admin (≥ {goal_ratio:g}×)",
            result.ratio >= goal_ratio,
        )
    )
    return result


def unassigned_in_city_page(context: Context, deep: bool) -> Result:
    city = busiest_city()
    per_page = admin_model(EVSE).list_per_page
    rows = unassigned_evses().filter(location__city__istartswith=city).order_by("evse_id", "pk")
    page = max(1, (rows.count() - 1) // per_page * 4 // 5 + 1) if deep else 1
    expected = rows.values_list("evse_id", flat=True)[(page - 1) * per_page]
    return measure_page(
        context,
        name=f"Unassigned EVSEs, city {city}, by EVSE ID, page {page}",
        url_name="evses_unassigned",
        params={"city": city, "sort": "evse_id", "page": page},
        expected=expected,
        looks_real="BE*BEC*E",
        baseline_model=EVSE,
        baseline_params={
            "location__city": city,
            "unassigned": "yes",
            "o": admin_order(context, EVSE, "evse_id"),
            "p": page,
        },
        goal_ms=50,  # issue 14
    )


@scenario("Unassigned EVSEs, city filter, page 1")
def unassigned_first_page(context: Context) -> Result:
    return unassigned_in_city_page(context, deep=False)


@scenario("Unassigned EVSEs, city filter, deep page")
def unassigned_deep_page(context: Context) -> Result:
    return unassigned_in_city_page(context, deep=True)


@scenario("Assigned EVSEs, one account's tab")
def assigned_tab(context: Context) -> Result:
    account = busiest_account()
    expected = (
        Assignment.objects.open()
        .filter(payout_account=account)
        .order_by("evse__evse_id", "evse__pk")
        .values_list("evse__evse_id", flat=True)[0]
    )
    return measure_page(
        context,
        name=f"Assigned EVSEs, tab of account {account.pk} ({account.n:,} EVSEs)",
        url_name="evses_assigned",
        params={"account": account.pk, "sort": "evse_id"},
        expected=expected,
        looks_real="BE*BEC*E",
        baseline_model=Assignment,
        baseline_params={
            "payout_account__id__exact": account.pk,
            "unassigned_at__isempty": "1",
            "o": admin_order(context, Assignment, "evse__evse_id"),
        },
        goal_ratio=1.5,  # issue 14
    )


@scenario("CDR overview, one account, one month")
def cdr_overview(context: Context) -> Result:
    account_id = (
        CDR.objects.values("payout_account")
        .filter(payout_account__isnull=False)
        .annotate(n=Count("pk"))
        .order_by("-n", "payout_account")[0]["payout_account"]
    )
    newest = CDR.objects.aggregate(newest=Max("end_date_time"))["newest"]
    month_end = newest.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month_start = (month_end - timedelta(days=1)).replace(day=1)
    in_month = CDR.objects.filter(
        payout_account_id=account_id, end_date_time__gte=month_start, end_date_time__lt=month_end
    )
    expected = in_month.order_by("-end_date_time", "-pk").values_list("cdr_id", flat=True)[0]
    return measure_page(
        context,
        name=f"CDR overview, account {account_id}, {month_start:%Y-%m} ({in_month.count():,} CDRs)",
        url_name="cdr_list",
        params={
            "account": account_id,
            "ended_after": month_start.date().isoformat(),
            "ended_before": month_end.date().isoformat(),
        },
        expected=expected,
        looks_real="CDR0",
        baseline_model=CDR,
        baseline_params={
            "payout_account__id__exact": account_id,
            "end_date_time__gte": month_start.isoformat(),
            "end_date_time__lt": month_end.isoformat(),
        },
    )


# Bulk assign ---------------------------------------------------------------------------------


@scenario("Bulk assign (select all matching)")
def bulk_assign(context: Context) -> Result:
    own_unassigned = unassigned_evses().filter(location__owner__isnull=True).order_by("pk")
    pks = list(own_unassigned.values_list("pk", flat=True)[: context.plan.bulk_assign])
    selection = own_unassigned.filter(pk__lte=pks[-1])
    account = PayoutAccount.objects.filter(holder__isnull=True, is_active=True).order_by("pk")[0]
    now = timezone.now()

    def service():
        with transaction.atomic():
            assigned = assign_evses(evses=selection, account_id=account.pk, actor=context.user)
            if assigned.count != len(pks):
                raise ScenarioFailed(f"assign_evses assigned {assigned.count} of {len(pks)}")
            transaction.set_rollback(True)

    def per_row_loop():
        with transaction.atomic():
            for evse in selection:
                Assignment.objects.create(
                    evse=evse, payout_account=account, assigned_at=now, assigned_by=context.user
                )
            transaction.set_rollback(True)

    runs = {"runs": context.plan.job_runs, "warmup": context.plan.job_warmup}
    result = Result(
        name=f"Bulk assign {len(pks):,} EVSEs (assign_evses)",
        samples=timed(service, **runs),
        baseline_name="per-row loop",
        baseline_samples=timed(per_row_loop, **runs),
    )
    result.goals += [
        Goal(f"median {result.median:,.0f} ms ≤ 1,000 ms", result.median <= 1000),
        Goal(f"{result.ratio:.1f}× faster than the per-row loop (≥ 20×)", result.ratio >= 20),
    ]
    return result


# Commands ------------------------------------------------------------------------------------


@dataclass
class JobRun:
    seconds: float
    peak_rss_mb: float
    output: str


def require_command(name: str) -> None:
    if name not in get_commands():
        raise NotAvailable(f"no management command {name!r} yet")


def run_rolled_back(context: Context, *args: str) -> JobRun:
    """Run a management command in a subprocess, rolled back at its end; time and peak RSS."""
    command = [sys.executable, "-m", "bench.rolled_back", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=context.env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    # The rolled-back rows are dead tuples; without a VACUUM each run would be slower than the last.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
    if process.returncode != 0:
        tail = " / ".join((errors or output).strip().splitlines()[-3:])
        raise ScenarioFailed(f"`{' '.join(args)}` exited {process.returncode}: {tail}")
    peak_kb = usage.ru_maxrss
    for line in errors.splitlines():
        if line.startswith(PEAK_RSS_MARKER) and line.split()[1:]:
            peak_kb = int(line.split()[1])
    return JobRun(seconds=seconds, peak_rss_mb=peak_kb / 1024, output=output)


def run_job(context: Context, *args: str) -> list[JobRun]:
    for _ in range(context.plan.job_warmup):
        run_rolled_back(context, *args)
    return [run_rolled_back(context, *args) for _ in range(context.plan.job_runs)]


def last_line(runs: list[JobRun]) -> str:
    lines = runs[-1].output.strip().splitlines()
    return f"said: {lines[-1].strip()[:120]}" if lines else "said nothing"


def peak_rss(runs: list[JobRun]) -> float:
    return max(run.peak_rss_mb for run in runs)


def bench_cdr_payloads(count: int, prefix: str, seed: int) -> list[dict]:
    """New CDRs of the last month on existing EVSEs (assigned or not), as a peer sends them."""
    rng = random.Random(seed)
    evses = list(
        EVSE.objects.active()
        .order_by("pk")
        .values(
            "uid",
            "evse_id",
            "power_type",
            "location__location_id",
            "location__address",
            "location__city",
            "location__postal_code",
            "location__country",
        )
    )
    for evse in evses:
        for key in ("location_id", "address", "city", "postal_code", "country"):
            evse[key] = evse.pop(f"location__{key}")
    now = timezone.now()
    payloads = []
    for index in range(count):
        end = now - timedelta(seconds=rng.randrange(3600, 30 * 24 * 3600))
        start, energy, excl_vat, incl_vat = random_session(rng, end)
        payloads.append(
            ocpi_cdr(
                cdr_id=f"{prefix}{index:07d}",
                evse=rng.choice(evses),
                start=start,
                end=end,
                energy=energy,
                excl_vat=excl_vat,
                incl_vat=incl_vat,
            )  # fmt: skip
        )
    return payloads


@scenario("import_cdrs throughput")
def import_cdrs(context: Context) -> Result:
    require_command("import_cdrs")
    path = context.workdir / "cdrs.jsonl"
    payloads = bench_cdr_payloads(context.plan.import_cdrs, f"{BENCH_PREFIX}IMP-", seed=61)
    path.write_text("".join(json.dumps(payload) + "\n" for payload in payloads))
    runs = run_job(context, "import_cdrs", str(path))
    result = Result(
        name=f"import_cdrs, {len(payloads):,} CDRs (JSON Lines)",
        unit="CDRs/s",
        samples=[len(payloads) / run.seconds for run in runs],
        details=[f"peak RSS {peak_rss(runs):.0f} MB", last_line(runs)],
    )
    result.goals.append(
        Goal(f"median {result.median:,.0f} CDRs/s ≥ 5,000 CDRs/s", result.median >= 5000)
    )
    return result


# OCPI ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(context: Context):
    """A gunicorn server with 2 workers on a free loopback port; always stopped on exit."""
    port = free_port()
    log = open(context.workdir / "gunicorn.log", "w")  # noqa: SIM115 (closed in finally)
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=ROOT, env=context.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise ScenarioFailed(f"gunicorn exited {server.returncode}; see {log.name}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ScenarioFailed("gunicorn did not start listening within 30 s") from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@scenario("OCPI POST /cdrs latency")
def ocpi_post(context: Context) -> Result:
    try:
        resolve(OCPI_CDRS_PATH)
    except Resolver404 as exc:
        raise NotAvailable(f"{OCPI_CDRS_PATH} is not routed yet") from exc
    require_command("create_ocpi_token")
    plan = context.plan
    name = f"{BENCH_PREFIX.lower()}{os.getpid()}"
    output = StringIO()
    party = f"{settings.CPO_COUNTRY_CODE}/{settings.CPO_PARTY_ID}"  # the bench CDRs' party
    call_command("create_ocpi_token", name, "--party", party, stdout=output)
    token = output.getvalue().split()[-1]
    headers = {
        "Authorization": f"Token {base64.b64encode(token.encode()).decode()}",
        "Content-Type": "application/json",
    }
    payloads = bench_cdr_payloads(plan.ocpi_warmup + plan.ocpi_requests, f"{BENCH_PREFIX}OCPI-", 62)
    latencies = []
    try:
        with gunicorn(context) as port:
            peer = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for index, payload in enumerate(payloads):
                started = time.perf_counter()
                peer.request("POST", OCPI_CDRS_PATH, json.dumps(payload), headers)
                response = peer.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status == 404 and index == 0:
                    raise NotAvailable(f"POST {OCPI_CDRS_PATH} answers 404")
                if response.status not in (200, 201):
                    raise ScenarioFailed(f"POST {OCPI_CDRS_PATH} answered {response.status}: {body[:200]!r}")  # fmt: skip
                if index >= plan.ocpi_warmup:
                    latencies.append(elapsed)
            peer.close()
    finally:
        CDR.objects.filter(cdr_id__startswith=f"{BENCH_PREFIX}OCPI-").delete()
        OCPIToken.objects.filter(name=name).delete()
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    result = Result(
        name=f"OCPI POST /cdrs, {len(latencies):,} sequential requests",
        samples=latencies,
        details=[f"p50 {p50:.1f} ms, p95 {p95:.1f} ms", "gunicorn, 2 workers, loopback"],
    )
    result.goals.append(Goal(f"p50 {p50:.1f} ms ≤ 20 ms", p50 <= 20))
    return result


def bench_location(evse_count: int, location_id: str, series: int) -> dict:
    """An OCPI location of the CPO's party with `evse_count` new EVSEs of two connectors each."""
    connector = {"standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                 "max_voltage": 230, "max_amperage": 32, "last_updated": "2026-01-01T00:00:00Z"}  # fmt: skip
    return {
        "country_code": settings.CPO_COUNTRY_CODE, "party_id": settings.CPO_PARTY_ID,
        "id": location_id, "publish": True, "name": "Bench depot", "address": "Kaai 1",
        "city": "Antwerpen", "postal_code": "2000", "country": "BEL",
        "coordinates": {"latitude": "51.2", "longitude": "4.4"},
        "time_zone": "Europe/Brussels", "last_updated": "2026-01-01T00:00:00Z",
        "evses": [
            {"uid": f"{location_id}-{n}", "status": "AVAILABLE",
             "evse_id": f"{settings.CPO_COUNTRY_CODE}*{settings.CPO_PARTY_ID}*EBENCH{series}X{n:06d}",
             "connectors": [{**connector, "id": "1"}, {**connector, "id": "2"}],
             "last_updated": "2026-01-01T00:00:00Z"}
            for n in range(evse_count)
        ],
    }  # fmt: skip


@scenario("OCPI PUT location with 1,000 EVSEs")
def ocpi_put_location(context: Context) -> Result:
    require_command("create_ocpi_token")
    name = f"{BENCH_PREFIX.lower()}put-{os.getpid()}"
    output = StringIO()
    party = f"{settings.CPO_COUNTRY_CODE}/{settings.CPO_PARTY_ID}"
    call_command("create_ocpi_token", name, "--party", party, stdout=output)
    headers = {
        "Authorization": f"Token {base64.b64encode(output.getvalue().split()[-1].encode()).decode()}",
        "Content-Type": "application/json",
    }
    location_ids = [f"{BENCH_PREFIX}PUT-{run}" for run in range(3)]
    latencies = []
    try:
        with gunicorn(context) as port:
            peer = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            # A small PUT first warms the worker up (imports, connection); then each location
            # twice: created, then every EVSE updated.
            warmup = f"/ocpi/2.2.1/locations/{party}/{location_ids[0]}"
            peer.request("PUT", warmup, json.dumps(bench_location(1, location_ids[0], 9)), headers)
            peer.getresponse().read()
            for series, location_id in [*enumerate(location_ids)] * 2:
                body = json.dumps(bench_location(1000, location_id, series))
                path = f"/ocpi/2.2.1/locations/{party}/{location_id}"
                started = time.perf_counter()
                peer.request("PUT", path, body, headers)
                response = peer.getresponse()
                answer = response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise ScenarioFailed(f"PUT {path} answered {response.status}: {answer[:200]!r}")
            peer.close()
    finally:
        evses = EVSE.objects.filter(location__location_id__in=location_ids)
        Connector.objects.filter(evse__in=evses).delete()
        evses.delete()
        Location.objects.filter(location_id__in=location_ids).delete()
        OCPIToken.objects.filter(name=name).delete()
    worst = max(latencies)
    result = Result(
        name="OCPI PUT of a location with 1,000 EVSEs (create, then update)",
        samples=latencies,
        details=[
            f"worst {worst:.0f} ms over {len(latencies)} PUTs: "
            + ", ".join(f"{ms:.0f}" for ms in latencies),
            "gunicorn, 2 workers",
        ],
    )
    result.goals.append(Goal(f"worst {worst:.0f} ms ≤ 1,000 ms", worst <= 1000))
    return result


@scenario("rerate_cdrs over all CDRs")
def rerate_cdrs(context: Context) -> Result:
    """As in production — outside a transaction, so with its worker processes — and committed:
    on the generated data (all rated already) it changes no CDR, which the scenario checks; its
    audit rows are removed afterwards."""
    require_command("rerate_cdrs")
    started = timezone.now()
    runs = run_job(context, "--committed", "rerate_cdrs")
    AuditEvent.objects.filter(action=AuditAction.RERATE, at__gte=started).delete()
    if " 0 changed status" not in last_line(runs):
        raise ScenarioFailed(f"the re-rate changed the bench data: {last_line(runs)}")
    result = Result(
        name=f"rerate_cdrs, all {CDR.objects.count():,} CDRs",
        unit="s",
        samples=[run.seconds for run in runs],
        details=[
            f"{settings.RERATE_WORKERS} worker processes",
            f"peak RSS {peak_rss(runs):.0f} MB",
            last_line(runs),
        ],
    )
    result.goals.append(Goal(f"median {result.median:.1f} s ≤ 30 s", result.median <= 30))
    return result


FLOOR_LINES = "bench_floor_line"


def floor_membership(cutoff: datetime) -> None:
    """The bare SQL an invoice run cannot beat (issue 14): write the same statement membership —
    an `INSERT … SELECT` of the CDRs the run takes (rated, not on a statement, ended before the
    cutoff, EVSE open-assigned to the CDR's account) into a narrow table whose primary key is the
    CDR, the guarantee that a CDR is on one statement at most — plus the same totals, one
    `GROUP BY` per account. Rolled back, like the run it stands for."""
    cdr = CDR._meta.db_table
    assignment = Assignment._meta.db_table
    lines = StatementLine._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {FLOOR_LINES} "
            "(cdr_id bigint PRIMARY KEY, payout_account_id bigint NOT NULL) ON COMMIT DROP"
        )
        cursor.execute(
            f"INSERT INTO {FLOOR_LINES} (cdr_id, payout_account_id) "
            f"SELECT c.id, c.payout_account_id FROM {cdr} c "
            "WHERE c.rating_status = %s AND c.end_date_time < %s "
            f"AND NOT EXISTS (SELECT 1 FROM {lines} l WHERE l.cdr_id = c.id) "
            f"AND EXISTS (SELECT 1 FROM {assignment} a WHERE a.evse_id = c.evse_id "
            "AND a.payout_account_id = c.payout_account_id AND a.unassigned_at IS NULL)",
            [CDRStatus.RATED, cutoff],
        )
        cursor.execute(
            "SELECT l.payout_account_id, count(*), sum(c.total_cost_excl_vat), "
            "sum(coalesce(c.total_cost_incl_vat, c.total_cost_excl_vat)), sum(c.fee), "
            "sum(c.payout), min(c.start_date_time), max(c.end_date_time) "
            f"FROM {FLOOR_LINES} l JOIN {cdr} c ON c.id = l.cdr_id GROUP BY 1"
        )
        cursor.fetchall()
        transaction.set_rollback(True)


def service_in_process(cutoff: date, *, dry_run: bool, runs: int = 3) -> list[float]:
    """The run's own work without the command's process start (which dominates at small scale),
    rolled back, with a VACUUM (not timed) after each run as for the command."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        with transaction.atomic():
            run_invoicing(cutoff=cutoff, dry_run=dry_run)
            transaction.set_rollback(True)
        samples.append(time.perf_counter() - started)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
    return samples


def invoice_run(context: Context, *, dry_run: bool) -> Result:
    """The run as users start it now — a job in a running worker, so in process — against the
    floor; the command (process start included) is reported beside it."""
    require_command("run_invoicing")
    cutoff = date.today()
    args = ["run_invoicing", "--cutoff", cutoff.isoformat()] + (["--dry-run"] if dry_run else [])
    runs = run_job(context, *args)
    cutoff_moment = cutoff_instant(cutoff)
    floor_runs = {"runs": context.plan.page_runs, "warmup": context.plan.page_warmup}
    command = statistics.median(run.seconds for run in runs)
    result = Result(
        name=f"Invoice run, cutoff {cutoff}{' (preview)' if dry_run else ''}, in a worker",
        unit="s",
        samples=service_in_process(cutoff, dry_run=dry_run),
        baseline_name="SQL INSERT … SELECT + GROUP BY",
        baseline_samples=timed(lambda: floor_membership(cutoff_moment), factor=1, **floor_runs),
        ratio_kind="floor",
        details=[
            f"`run_invoicing{' --dry-run' if dry_run else ''}` command: {command:.2f} s "
            "(process start included)",
            f"peak RSS {peak_rss(runs):.0f} MB",
            last_line(runs),
        ],
    )
    if not dry_run:
        result.goals += [
            Goal(f"median {result.median:.1f} s ≤ 10 s", result.median <= 10),
            Goal(f"{result.ratio:.1f}× the floor (≤ 3×)", result.ratio <= 3),
            Goal(f"peak RSS {peak_rss(runs):.0f} MB ≤ 300 MB", peak_rss(runs) <= 300),
        ]
    return result


@scenario("Invoice run over all CDRs")
def invoicing(context: Context) -> Result:
    return invoice_run(context, dry_run=False)


@scenario("Invoice run over all CDRs, dry run")
def invoicing_dry_run(context: Context) -> Result:
    return invoice_run(context, dry_run=True)
