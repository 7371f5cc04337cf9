"""`make bench`: seed, serve, load, close a month, export, and print one table.

    python -m bench [--duration 6] [--warmup 2] [--hosts 1000 --per-host 100 --whale 100000]

gunicorn serves the app as the README's production command does, with 2 workers x 4 threads
(GUNICORN_WORKERS / GUNICORN_THREADS override them) and no background worker; a bare WSGI app
(bench/bare.py), served the same way in the same run, is the ceiling every round is read against.

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/corrosion_bench; the
database is dropped and created again on every run, so its name must contain "bench"),
BENCH_CACHE_URL (default redis://127.0.0.1:6379/3, flushed on every run), BENCH_HOST_API_RATE_LIMIT
(default 1000000/min: the limit is still counted in Redis on every host request, but one host
listing its licenses at full speed must not be the thing that answers), REQUEST_LOG_LEVEL
(default INFO, as in production: one JSON line per request).
"""

import argparse
import json
import logging
import os
import platform
import secrets
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _environment():
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/corrosion_bench")
    env = {
        "DJANGO_SETTINGS_MODULE": "corrosion.settings",
        "DATABASE_URL": database_url,
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/3"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HOST_API_RATE_LIMIT": os.environ.get("BENCH_HOST_API_RATE_LIMIT", "1000000/min"),
        "REQUEST_LOG_LEVEL": os.environ.get("REQUEST_LOG_LEVEL", "INFO"),
        # The harness's own process logs nothing per request; the app's log goes to bench/out.
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    for name in ("HEARTBEAT_RATE_LIMIT", "CONN_MAX_AGE", "HEARTBEAT_WSGI_ROUTE"):
        if name in os.environ:
            env[name] = os.environ[name]
    # The calibration, on a 2-core machine: -w 2 --threads 4, the app and its ceiling alike.
    env["GUNICORN_WORKERS"] = os.environ.get("GUNICORN_WORKERS", "2")
    env["GUNICORN_THREADS"] = os.environ.get("GUNICORN_THREADS", "4")
    return env


def _machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "wrk": wrk_version.split(" [")[0].strip(),
    }


class RequestLog:
    """Counts the app's answers of one status to one path in its JSON request log, from a mark on."""

    def __init__(self, path, *, route, status):
        self.path = path
        self.needle = f'"path": "{route}", "status": {status},'
        self.offset = 0

    def mark(self):
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def count(self):
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace").count(self.needle)


def heartbeat_keys(license_keys, count, path):
    """`count` live license keys drawn at random, written one a line for heartbeat.lua."""
    import random

    chosen = random.sample(license_keys, min(count, len(license_keys)))
    path.write_text("\n".join(chosen) + "\n")
    return path


HTTP_CASES = (
    "bare",
    "heartbeat",
    "healthz",
    "list_small",
    "list_whale",
    "list_whale_deep",
    "portal_small",
    "portal_whale",
    "provision",
    "provision_bulk",
    "healthz_after",
    "bare_after",
)
JOBS = ("checks", "close", "integrity", "memory", "pdf", "webhooks")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times every HTTP case runs; each row shows the median round"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--per-host", type=int, default=100)
    parser.add_argument("--whale", type=int, default=100_000)
    parser.add_argument(
        "--heartbeat-keys", type=int, default=5000, help="live license keys the heartbeat draws from at random"
    )
    parser.add_argument("--seed-only", action="store_true", help="create and seed the database, then stop")
    parser.add_argument("--reuse", action="store_true", help="skip seeding: reuse the last seeded database")
    parser.add_argument(
        "--only", help=f"comma-separated parts to run, of: {', '.join(HTTP_CASES + JOBS)} (default: all)"
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(HTTP_CASES + JOBS)
    if only - set(HTTP_CASES + JOBS):
        parser.error(f"unknown parts: {', '.join(sorted(only - set(HTTP_CASES + JOBS)))}")

    env = _environment()
    os.environ.update(env)
    # The harness seeds 200,000 licenses in a few set-based statements: no request time limit for
    # it (the server it starts keeps the default, as in production).
    os.environ["DATABASE_STATEMENT_TIMEOUT_SECONDS"] = "0"
    OUT.mkdir(exist_ok=True)
    step = _stepper(time.monotonic())

    from bench.load import Load, ensure_wrk, recreate_database

    ensure_wrk()
    load = Load(threads=args.threads, connections=args.connections, duration=args.duration, warmup=args.warmup)
    if not args.reuse:
        step("database")
        recreate_database(env["DATABASE_URL"], must_contain="bench")
    import django

    django.setup()
    # The in-process checks would print a request line each; gunicorn's own logging is untouched.
    logging.getLogger("corrosion.request").setLevel(logging.WARNING)
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the checks' deliberate 401
    warnings.filterwarnings("ignore", "No directory at")  # whitenoise: nothing is served from static here

    from bench.seed import Shape

    if args.reuse:
        seeded = _load_seeded()
        shape = seeded.shape
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        shape = Shape(hosts=args.hosts, per_host=args.per_host, whale=args.whale)
        step(f"seeding {shape.hosts:,} hosts, {shape.fleet_licenses + shape.whale:,} licenses")
        seeded = _seed(shape)
        if args.seed_only:
            step(f"seeded {env['DATABASE_URL']}; keys in {OUT}")
            return 0
    from django.core.cache import cache

    cache.clear()  # only the benchmark's Redis database: fresh rate-limit counters

    results = {"machine": _machine(), "shape": asdict(shape), "env": _public(env), "load": asdict(load)}
    http, checked, close, memory = {}, None, None, {}
    cases = [name for name in HTTP_CASES if name in only]
    if cases:
        step("HTTP under gunicorn")
        http = _http(env, load, seeded, step, cases, args.rounds, args.heartbeat_keys)
        results["http"] = {name: [asdict(result) for result in runs] for name, runs in http.items()}

    if "checks" in only:
        step("checks: hashers, key lookups, list plans")
        from bench import checks

        checked = checks.run(
            host_key=seeded.small_key,
            whale_id=seeded.whale_id,
            whale_key=seeded.whale_key,
            license_key=seeded.license_keys[-1],
            month=seeded.month.strftime("%Y-%m"),
        )
        results["checks"] = asdict(checked)

    from bench import jobs

    if "close" in only:
        step("month close against its SQL ceiling")
        close = jobs.month_close(month=seeded.month)
        results["month_close"] = asdict(close)

    integrity = None
    if "integrity" in only:
        step("check_integrity on the seeded database")
        integrity = jobs.integrity()
        results["integrity"] = asdict(integrity)
        print(integrity.output, end="", flush=True)

    if "memory" in only:
        from django.utils import timezone

        from billing.months import month_of

        step("CSV exports' peak memory")
        memory = {
            "csv_big": jobs.csv_memory(host_key=seeded.whale_key, month=seeded.month),
            "csv_small": jobs.csv_memory(host_key=seeded.small_key, month=seeded.month),
            "csv_open_big": jobs.csv_memory(host_key=seeded.whale_key, month=month_of(timezone.now())),
            "csv_open_small": jobs.csv_memory(host_key=seeded.small_key, month=month_of(timezone.now())),
            "export_big": jobs.export_memory(month=seeded.month),
            "export_small": jobs.export_memory(month=seeded.small_month),
        }
        results["memory"] = {name: asdict(result) for name, result in memory.items()}

    webhooks = None
    if "webhooks" in only:
        step("webhook deliveries by real workers to a local receiver")
        from bench.webhooks import deliveries_per_second

        webhooks = deliveries_per_second()
        results["webhooks"] = asdict(webhooks)

    from bench.report import render, table_rows

    rows = table_rows(
        http=http, checked=checked, close=close, memory=memory, shape=shape, integrity=integrity, webhooks=webhooks
    )
    if "pdf" in only:
        from django.conf import settings

        from bench.report import pdf_row

        step("invoice PDFs' time and peak memory")
        pdf = {
            "big": jobs.invoice_pdf(host_id=seeded.whale_id, host_key=seeded.whale_key, month=seeded.month),
            "small": jobs.invoice_pdf(host_id=seeded.small_id, host_key=seeded.small_key, month=seeded.month),
        }
        results["invoice_pdf"] = {name: asdict(result) for name, result in pdf.items()}
        rows.append(pdf_row(pdf["big"], pdf["small"], max_lines=settings.INVOICE_PDF_MAX_LINES))
    results["elapsed_seconds"] = round(step.elapsed(), 1)
    machine = results["machine"]
    title = (
        f"make bench: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, {machine['wrk']}; "
        f"wrk -t{load.threads} -c{load.connections}, {load.duration:g} s runs after {load.warmup:g} s warm-up, "
        f"{args.rounds} rounds; "
        f"{shape.hosts:,} hosts, {seeded.licenses:,} licenses; REQUEST_LOG_LEVEL={env['REQUEST_LOG_LEVEL']}"
    )
    table = render(rows, title=title)
    results["table"] = table
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "table.txt").write_text(table + "\n")
    print()
    print(table)
    print(f"\n({results['elapsed_seconds']} s in all; figures in bench/out/results.json, app log in bench/out/)")
    return 0 if all(row.met is not False for row in rows) else 1


def _public(env):
    return {name: value for name, value in env.items() if name != "SECRET_KEY"}


def _stepper(started):
    def step(message):
        print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)

    step.elapsed = lambda: time.monotonic() - started
    return step


def _seed(shape):
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.seed import seed

    with transaction.atomic(), connection.cursor() as cursor:
        seeded = seed(cursor, now=timezone.now(), shape=shape)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    (OUT / "license_keys.txt").write_text("\n".join(seeded.license_keys) + "\n")
    (OUT / "host_keys.txt").write_text("\n".join(seeded.host_keys) + "\n")
    (OUT / "seeded.json").write_text(json.dumps(asdict(seeded), default=str))
    return seeded


def _load_seeded():
    from datetime import date

    from bench.seed import Seeded, Shape

    data = json.loads((OUT / "seeded.json").read_text())
    data["shape"] = Shape(**data["shape"])
    data["month"], data["small_month"] = date.fromisoformat(data["month"]), date.fromisoformat(data["small_month"])
    return Seeded(**data)


def _collect_static(env):
    """The portal's pages link their stylesheet by its hashed name, as in production, so the static
    files are collected first (as a deploy does); the API's cases never needed them."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, **env},
        check=True,
    )


def portal_cookie(host_id):
    """A signed-in partner owner of the host, as the session cookie a browser would send: the portal's
    license page is measured as a person sees it (session, membership, host, mode, page)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from portal.models import Membership, Role

    email = f"bench-owner-{str(host_id)[:8]}@bench.test"
    user, _ = get_user_model().objects.get_or_create(username=f"partner:{email}", defaults={"email": email})
    Membership.objects.get_or_create(user=user, defaults={"host_id": host_id, "role": Role.OWNER})
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _http(env, load, seeded, step, names, rounds, key_count):
    from django.db import connection

    from bench.load import CpuMeter, Server, measure
    from corrosion.api import pagination
    from hosts.models import Host
    from licensing.selectors import licenses_for_host

    whale = Host.objects.get(pk=seeded.whale_id)
    newest_first = licenses_for_host(host=whale, livemode=True).order_by("-provisioned_at", "-license_id")
    middle = newest_first.values_list("provisioned_at", "license_id")[whale.host_licenses.count() // 2]
    deep_cursor = pagination._encode("n", *middle)
    keys_path = heartbeat_keys(seeded.license_keys, key_count, OUT / "heartbeat_keys.txt")
    small_cookie = whale_cookie = ""
    if {"portal_small", "portal_whale"} & set(names):
        _collect_static(env)
        small_cookie, whale_cookie = portal_cookie(seeded.small_id), portal_cookie(seeded.whale_id)
    nonce = secrets.token_hex(3)
    results = {}

    def backend_pids():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return [row[0] for row in cursor.fetchall()]

    bare_server = Server(env=env, log_path=OUT / "bare.log", app="bench.bare:application", ready_path="/")
    with Server(env=env, log_path=OUT / "gunicorn.log") as server, bare_server as bare:
        meters = {"app": CpuMeter(server, backend_pids), "bare": CpuMeter(bare, list)}
        bare_cases = {"bare", "bare_after"}
        cases = [
            ("bare", "/", "get.lua", {}),
            ("heartbeat", "/api/plugin/heartbeat", "heartbeat.lua", {"BENCH_KEYS": str(keys_path)}),
            ("healthz", "/healthz", "get.lua", {}),
            ("list_small", "/api/host/licenses?page_size=100", "get.lua", {"BENCH_AUTH": seeded.small_key}),
            ("list_whale", "/api/host/licenses?page_size=100", "get.lua", {"BENCH_AUTH": seeded.whale_key}),
            (
                "list_whale_deep",
                f"/api/host/licenses?page_size=100&cursor={deep_cursor}",
                "get.lua",
                {"BENCH_AUTH": seeded.whale_key},
            ),
            ("portal_small", "/portal/licenses/", "get.lua", {"BENCH_COOKIE": small_cookie}),
            ("portal_whale", "/portal/licenses/", "get.lua", {"BENCH_COOKIE": whale_cookie}),
            (
                "provision",
                "/api/host/provision",
                "provision.lua",
                {"BENCH_HOST_KEYS": str(OUT / "host_keys.txt"), "BENCH_BULK": "0", "BENCH_NONCE": nonce + "s"},
            ),
            (
                "provision_bulk",
                "/api/host/provision",
                "provision.lua",
                {"BENCH_HOST_KEYS": str(OUT / "host_keys.txt"), "BENCH_BULK": "100", "BENCH_NONCE": nonce + "b"},
            ),
            ("healthz_after", "/healthz", "get.lua", {}),
            ("bare_after", "/", "get.lua", {}),
        ]
        refusals = RequestLog(OUT / "gunicorn.log", route="/api/plugin/heartbeat", status=429)

        def heartbeat_env():
            refusals.mark()  # asked before each run: the last mark is the measured run's
            return {"BENCH_KEYS": str(keys_path)}

        for round_number in range(1, rounds + 1):
            for name, path, script, case_env in cases:
                if name not in names:
                    continue
                step(f"  round {round_number}/{rounds}, {name}: {path[:60]}")
                target = bare if name in bare_cases else server
                meter = meters["bare" if name in bare_cases else "app"]
                if name == "heartbeat":
                    case_env = heartbeat_env
                result = measure(target.url + path, script=script, load=load, env=case_env, meter=meter)
                if name == "heartbeat":
                    time.sleep(0.2)  # the log lines of the last answers wrk saw
                    # A 429 is the contract's answer (the per-license limit), not an error.
                    result = replace(result, refused=min(result.errors.get("status", 0), refusals.count()))
                results.setdefault(name, []).append(result)
    return results


if __name__ == "__main__":
    sys.exit(main())
