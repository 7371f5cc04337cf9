"""One memory measurement per fresh process, so each peak RSS is that job's alone.

    python -m bench.rss csv HOST_KEY YYYY-MM      # GET /api/host/billing/YYYY-MM?format=csv, streamed
    python -m bench.rss export YYYY-MM FILE       # manage.py export_billing --month YYYY-MM --output FILE
    python -m bench.rss pdf HOST_KEY NUMBER       # GET /api/host/invoices/NUMBER.pdf

The child prints what it did as JSON, with its own peak RSS (VmHWM). Not the parent's
os.wait4 rusage: Linux carries ru_maxrss across exec, so a child forked from the harness would
report the harness's own peak.
"""

import json
import os
import subprocess
import sys
import time


def peak_rss(args, *, env):
    """Run `python -m bench.rss ARGS` and return (its JSON report, its peak RSS in MB)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.rss", *args], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.rss {' '.join(args)} failed:\n{completed.stderr}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    return report, report.pop("peak_kb") / 1024


def _peak_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _csv(host_key, month):
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    started = time.perf_counter()
    response = client.get(
        f"/api/host/billing/{month}",
        {"format": "csv"},
        secure=True,  # as behind the TLS proxy, so SECURE_SSL_REDIRECT stays on
        HTTP_AUTHORIZATION=f"Bearer {host_key}",
    )
    if response.status_code != 200 or not response.streaming:
        raise SystemExit(f"expected a streamed 200, got {response.status_code}")
    lines = size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\n")
        size += len(chunk)
    return {"lines": lines - 1, "bytes": size, "seconds": time.perf_counter() - started}


def _export(month, output):
    from django.core.management import call_command

    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        call_command("export_billing", "--month", month, "--output", output, stdout=devnull)
    with open(output, "rb") as handle:
        lines = sum(1 for _ in handle) - 1
    return {"lines": lines, "seconds": time.perf_counter() - started}


def _pdf(host_key, number):
    from django.test import Client

    from billing.models import Invoice

    client = Client(HTTP_HOST="127.0.0.1")
    started = time.perf_counter()
    response = client.get(f"/api/host/invoices/{number}.pdf", secure=True, HTTP_AUTHORIZATION=f"Bearer {host_key}")
    seconds = time.perf_counter() - started
    if response.status_code != 200 or response["Content-Type"] != "application/pdf":
        raise SystemExit(f"expected a PDF, got {response.status_code}")
    servers = Invoice.objects.get(number=number).active_license_count
    return {"lines": servers, "bytes": len(response.content), "seconds": seconds}


def main(argv):
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "corrosion.settings")
    django.setup()
    kind, *args = argv
    if kind == "csv":
        report = _csv(*args)
    elif kind == "export":
        report = _export(*args)
    elif kind == "pdf":
        report = _pdf(*args)
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps({**report, "peak_kb": _peak_kb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
