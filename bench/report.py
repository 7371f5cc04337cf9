"""The one table `make bench` prints: each figure, its ratio to the ceiling of the same run, the target."""

from dataclasses import dataclass

from bench.load import WrkResult

HEADERS = ("case", "rps", "p50 ms", "p99 ms", "app CPU", "db CPU", "ratio to ceiling", "target", "met")


@dataclass(frozen=True)
class Row:
    case: str
    rps: str = ""
    p50: str = ""
    p99: str = ""
    app_cpu: str = ""
    db_cpu: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None

    def cells(self):
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return (self.case, self.rps, self.p50, self.p99, self.app_cpu, self.db_cpu, self.ratio, self.target, met)


def _us(value):
    return "" if value is None else f"{value:,.0f} us"


def http_row(case, result: WrkResult, *, ratio="", target="", met=None):
    errors = f" ({result.failed} errors)" if result.failed else ""
    if result.refused:
        errors += f" ({result.refused / result.requests:.0%} 429)"
    return Row(
        case=case + errors,
        rps=f"{result.rps:,.0f}",
        p50=f"{result.p50_ms:.1f}",
        p99=f"{result.p99_ms:.1f}",
        app_cpu=_us(result.cpu_us(result.app_cpu)),
        db_cpu=_us(result.cpu_us(result.db_cpu)),
        ratio=ratio,
        target=target,
        met=met,
    )


def render(rows, *, title=""):
    cells = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    numeric = {1, 2, 3, 4, 5}

    def line(values):
        return "  ".join(
            value.rjust(width) if i in numeric else value.ljust(width)
            for i, (value, width) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    out = [title] if title else []
    out.append(line(HEADERS))
    out.append("  ".join("-" * width for width in widths))
    out.extend(line(row.cells()) for row in rows)
    return "\n".join(out)


def _median(values):
    """The index of the median value (the lower one of an even count)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    return order[(len(order) - 1) // 2]


def _spread(values, fmt):
    return "" if len(values) < 2 else f" ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _labels(shape):
    return {
        "healthz": "GET /healthz",
        "heartbeat": "POST /api/plugin/heartbeat (limits on)",
        "provision": "POST /api/host/provision (1 license, audited)",
        "provision_bulk": "POST /api/host/provision (bulk of 100)",
        "list_small": f"GET /api/host/licenses page of 100, host of {shape.per_host:,}",
        "list_whale": f"  same, host of {shape.whale:,}, first page",
        "list_whale_deep": f"  same, host of {shape.whale:,}, a page in the middle",
        "portal_small": f"GET /portal/licenses/ (signed in), host of {shape.per_host:,}",
        "portal_whale": f"  same, host of {shape.whale:,}",
    }


def _per_round(http, names, rounds):
    """Each round's mean rps, p50 and p99 over the runs of these cases (a ceiling's before and after)."""
    names = [name for name in names if name in http]
    if not names:
        return []
    return [
        tuple(
            sum(getattr(http[name][i], field) for name in names) / len(names) for field in ("rps", "p50_ms", "p99_ms")
        )
        for i in range(rounds)
    ]


def table_rows(*, http, checked, close, memory, shape, integrity=None, webhooks=None):
    """The table's rows, for whichever parts ran.

    `http` maps each case to its runs, one per round. The ceiling is the bare WSGI app (bench/bare.py)
    served the same way, measured at the start and the end of every round; provisioning and the
    license pages are read against `/healthz`, as their targets are set. Each ratio is taken within
    a round (the machine is shared and its speed drifts between rounds); a row shows the median of
    each ratio over the rounds, the range in brackets, and the figures of the round with the median
    rps ratio.
    """
    rows = []
    labels = _labels(shape)
    rounds = len(next(iter(http.values()))) if http else 0
    bare = _per_round(http, ("bare", "bare_after"), rounds)
    health = _per_round(http, ("healthz", "healthz_after"), rounds)
    if bare:
        i = _median([rps for rps, _, _ in bare])
        first = http["bare"][i] if "bare" in http else http["bare_after"][i]
        rows.append(
            Row(
                case="bare WSGI app answering {} (ceiling: its runs before and after, each round)",
                rps=f"{bare[i][0]:,.0f}",
                p50=f"{bare[i][1]:.1f}",
                p99=f"{bare[i][2]:.1f}",
                app_cpu=_us(first.cpu_us(first.app_cpu)),
                ratio="1.00x" + _spread([rps for rps, _, _ in bare], "{:,.0f} rps"),
            )
        )

    def versus(name, ceiling, *, target="", rps_at_least=None, p99_at_most=None, label=None):
        runs = http[name]
        label = label or labels[name]
        if not ceiling:
            return http_row(label, runs[-1])
        rps_ratios = [run.rps / ceiling[i][0] for i, run in enumerate(runs)]
        p99_ratios = [run.p99_ms / ceiling[i][2] for i, run in enumerate(runs)]
        # Each figure's own median: a p99 is one stall away from any value on this machine, and
        # the round with the median throughput is not the one with the median tail.
        i, j = _median(rps_ratios), _median(p99_ratios)
        met = None
        if rps_at_least is not None:
            met = all(run.failed == 0 for run in runs) and rps_ratios[i] >= rps_at_least
            if p99_at_most is not None:
                met = met and p99_ratios[j] <= p99_at_most
        ratio = (
            f"rps {rps_ratios[i]:.2f}x{_spread(rps_ratios, '{:.2f}')}, "
            f"p99 {p99_ratios[j]:.1f}x{_spread(p99_ratios, '{:.1f}')}"
        )
        return http_row(label, runs[i], ratio=ratio, target=target, met=met)

    def vs_health(name, **kwargs):
        return versus(name, health, **kwargs)

    if "heartbeat" in http:
        rows.append(versus("heartbeat", bare, target="rps >= 0.18x, p99 <= 3x bare", rps_at_least=0.18, p99_at_most=3))
    if "healthz" in http:
        label = "GET /healthz (runs before and after, each round; the ceiling of the rows below)"
        if bare:
            rows.append(versus("healthz", bare, label=label))
        else:
            rows.append(http_row(label, http["healthz"][-1]))
    if "provision" in http:
        rows.append(vs_health("provision", target="rps >= 0.08x", rps_at_least=0.08))
        if "provision_bulk" in http:
            bulk, single = http["provision_bulk"], http["provision"]
            speedups = [b.rps * 100 / s.rps if s.rps else 0 for b, s in zip(bulk, single, strict=True)]
            i = _median(speedups)
            rows.append(
                http_row(
                    labels["provision_bulk"],
                    bulk[i],
                    ratio=f"{speedups[i]:.1f}x{_spread(speedups, '{:.1f}')} the licenses/s of single calls",
                    target="per license >= 5x faster",
                    met=bulk[i].failed == 0 and speedups[i] >= 5,
                )
            )
    if "list_small" in http:
        rows.append(vs_health("list_small"))
        small = http["list_small"]
        for name in ("list_whale", "list_whale_deep"):
            if name in http:
                runs = http[name]
                ratios = [run.p50_ms / small[i].p50_ms for i, run in enumerate(runs)]
                i = _median(ratios)
                rows.append(
                    http_row(
                        labels[name],
                        runs[i],
                        ratio=f"p50 {ratios[i]:.2f}x{_spread(ratios, '{:.2f}')} the small host's",
                        target="p50 <= 1.5x",
                        met=runs[i].failed == 0 and ratios[i] <= 1.5,
                    )
                )
    if "portal_small" in http and "portal_whale" in http:
        rows.append(vs_health("portal_small"))
        small, runs = http["portal_small"], http["portal_whale"]
        ratios = [run.p50_ms / small[i].p50_ms for i, run in enumerate(runs)]
        i = _median(ratios)
        rows.append(
            http_row(
                labels["portal_whale"],
                runs[i],
                ratio=f"p50 {ratios[i]:.2f}x{_spread(ratios, '{:.2f}')} the small host's",
                target="p50 <= 1.5x",
                met=runs[i].failed == 0 and ratios[i] <= 1.5,
            )
        )
    if integrity:
        rows.append(
            Row(
                case=f"check_integrity on the seeded database, {integrity.checks} checks",
                rps=f"{integrity.violations:,}",
                p50=f"{integrity.seconds:.2f} s",
                ratio="every invariant holds" if not integrity.violations else "violations: see the output above",
                target="0 violations",
                met=integrity.violations == 0,
            )
        )
    if close:
        rows.append(
            Row(
                case=f"close_billing_month: {close.lines:,} lines, {shape.hosts:,} hosts",
                rps=f"{close.lines / close.app_seconds:,.0f} lines/s",
                p50=f"{close.app_seconds:.2f} s",
                ratio=f"{close.app_seconds / close.ceiling_seconds:.2f}x the minimal SQL ({close.ceiling_seconds:.2f} s)",
                target="<= 3x",
                met=close.app_seconds <= 3 * close.ceiling_seconds,
            )
        )
    if webhooks:
        rows.append(
            Row(
                case=(
                    f"worker: {webhooks.deliveries:,} webhook deliveries to a local receiver "
                    f"({webhooks.workers} workers x {webhooks.concurrency})"
                ),
                rps=f"{webhooks.deliveries / webhooks.seconds:,.0f} deliveries/s",
                p50=f"{webhooks.seconds:.1f} s",
            )
        )
    if memory:
        rows.append(
            _memory_row(
                f"GET closed month as CSV, {memory['csv_big'].lines:,} lines", memory["csv_big"], memory["csv_small"]
            )
        )
        if "csv_open_big" in memory:
            rows.append(
                _memory_row(
                    f"GET open month as CSV, {memory['csv_open_big'].lines:,} lines",
                    memory["csv_open_big"],
                    memory["csv_open_small"],
                )
            )
        rows.append(
            _memory_row(
                f"export_billing, {memory['export_big'].lines:,} records", memory["export_big"], memory["export_small"]
            )
        )
    if checked:
        rows += [
            Row(
                case=f"password hashers run, {checked.requests} requests of every kind",
                rps=str(checked.hasher_calls),
                target="0",
                met=checked.hasher_calls == 0,
            ),
            Row(
                case="queries per key check, and the index it reads",
                rps=str(checked.key_check_queries),
                ratio=checked.key_check_plan,
                target="1, indexed",
                met=checked.key_check_queries == 1
                and "Index" in checked.key_check_plan
                and "key_id" in checked.key_check_plan,
            ),
            Row(
                case="license list pages of the big host: index read, rows thrown away",
                ratio="; ".join(
                    f"{page}: {index}, {dropped:,}" for page, (index, dropped) in checked.list_plans.items()
                ),
                target="list index, < 100",
                met=all(
                    index == "host_licenses_list_idx" and dropped < 100
                    for index, dropped in checked.list_plans.values()
                ),
            ),
        ]
    return rows


def _memory_row(case, big, small):
    ratio = big.peak_mb / small.peak_mb
    return Row(
        case=case,
        rps=f"{big.lines / big.seconds:,.0f} lines/s",
        p50=f"{big.seconds:.2f} s",
        ratio=f"peak RSS {big.peak_mb:.0f} MB, {ratio:.2f}x a small month's ({small.lines:,} lines, {small.peak_mb:.0f} MB)",
        target="flat: <= 1.1x",
        met=ratio <= 1.1,
    )


def pdf_row(big, small, *, max_lines):
    """The invoice PDF of the biggest host against an ordinary one's: with INVOICE_PDF_MAX_LINES rows
    at most, its time and memory stay those of a small document, whatever the host's size."""
    ratio = big.peak_mb / small.peak_mb
    return Row(
        case=f"invoice PDF, host of {big.servers:,} servers (rows capped at {max_lines:,})",
        p50=f"{big.seconds:.2f} s",
        ratio=(
            f"peak RSS {big.peak_mb:.0f} MB, {ratio:.2f}x a {small.servers:,}-server invoice's "
            f"({small.peak_mb:.0f} MB, {small.seconds:.2f} s); {big.size_kb:,.0f} kB"
        ),
        target="< 2 s, <= 1.2x",
        met=big.seconds < 2 and ratio <= 1.2,
    )
