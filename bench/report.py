"""The one table `make bench` prints: each figure, its ratio to the ceiling of the same run, the target."""

from dataclasses import dataclass

from bench.load import WrkResult

HEADERS = ("case", "rps", "p50 ms", "p99 ms", "ratio to ceiling", "target", "met")


@dataclass(frozen=True)
class Row:
    case: str
    rps: str = ""
    p50: str = ""
    p99: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None

    def cells(self):
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return (self.case, self.rps, self.p50, self.p99, self.ratio, self.target, met)


def http_row(case, result: WrkResult, *, ratio="", target="", met=None):
    errors = f" ({result.failed} errors)" if result.failed else ""
    return Row(
        case=case + errors,
        rps=f"{result.rps:,.0f}",
        p50=f"{result.p50_ms:.1f}",
        p99=f"{result.p99_ms:.1f}",
        ratio=ratio,
        target=target,
        met=met,
    )


def render(rows, *, title=""):
    cells = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    numeric = {1, 2, 3}

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


def table_rows(*, http, checked, close, memory, shape):
    """The table's rows, for whichever parts ran."""
    rows = []
    health = [http[name] for name in ("healthz", "healthz_after") if name in http]
    if health:
        health_rps = sum(r.rps for r in health) / len(health)
        health_p99 = sum(r.p99_ms for r in health) / len(health)
        rows.append(
            Row(
                case="GET /healthz (ceiling: mean of first and last run)",
                rps=f"{health_rps:,.0f}",
                p50=f"{sum(r.p50_ms for r in health) / len(health):.1f}",
                p99=f"{health_p99:.1f}",
                ratio="1.00x",
            )
        )

    def vs_health(result):
        if not health:
            return ""
        return f"rps {result.rps / health_rps:.2f}x, p99 {result.p99_ms / health_p99:.1f}x"

    if "heartbeat" in http:
        heartbeat = http["heartbeat"]
        rows.append(
            http_row(
                "POST /api/plugin/heartbeat (limits on)",
                heartbeat,
                ratio=vs_health(heartbeat),
                target="rps >= 0.25x, p99 < 3x",
                met=bool(health)
                and heartbeat.failed == 0
                and heartbeat.rps >= 0.25 * health_rps
                and heartbeat.p99_ms < 3 * health_p99,
            )
        )
    if "provision" in http:
        provision = http["provision"]
        rows.append(
            http_row(
                "POST /api/host/provision (1 license, audited)",
                provision,
                ratio=vs_health(provision),
                target="rps >= 0.08x",
                met=bool(health) and provision.failed == 0 and provision.rps >= 0.08 * health_rps,
            )
        )
        if "provision_bulk" in http:
            bulk = http["provision_bulk"]
            per_license = bulk.rps * 100 / provision.rps if provision.rps else 0
            rows.append(
                http_row(
                    "POST /api/host/provision (bulk of 100)",
                    bulk,
                    ratio=f"{per_license:.1f}x the licenses/s of single calls",
                    target="per license >= 5x faster",
                    met=bulk.failed == 0 and per_license >= 5,
                )
            )
    if "list_small" in http:
        small = http["list_small"]
        rows.append(
            http_row(f"GET /api/host/licenses page of 100, host of {shape.per_host:,}", small, ratio=vs_health(small))
        )
        for name, label in (("list_whale", "first page"), ("list_whale_deep", "a page in the middle")):
            if name in http:
                result = http[name]
                rows.append(
                    http_row(
                        f"  same, host of {shape.whale:,}, {label}",
                        result,
                        ratio=f"p50 {result.p50_ms / small.p50_ms:.2f}x the host of {shape.per_host:,}",
                        target="p50 <= 1.5x",
                        met=result.failed == 0 and result.p50_ms <= 1.5 * small.p50_ms,
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
    if memory:
        rows.append(
            _memory_row(f"GET bill as CSV, {memory['csv_big'].lines:,} lines", memory["csv_big"], memory["csv_small"])
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
                met=checked.key_check_queries == 1 and "key_id" in checked.key_check_plan,
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
