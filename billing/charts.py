"""The overview's chart, drawn as SVG on the server: no JavaScript, no CDN, works offline."""

from django.utils.html import format_html, format_html_join

WIDTH, HEIGHT = 720, 260
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 60, 40, 20


def _bar(index, figures, *, slot, top, plot_height, closed):
    height = plot_height * float(figures.revenue_usd / top)
    left, middle, bar_top = (
        MARGIN_LEFT + index * slot,
        MARGIN_LEFT + index * slot + slot / 2,
        MARGIN_TOP + plot_height - height,
    )
    numbers = [f"{value:.1f}" for value in (left + slot * 0.15, bar_top, slot * 0.7, height, middle)]
    # A month never closed has no bill yet: it says so, rather than look like a month of zero.
    summary = f"{figures.servers} servers, {figures.revenue_usd} USD" if closed else "not closed"
    return (
        f"{figures.month:%Y-%m}",
        summary,
        *numbers,
        HEIGHT - MARGIN_BOTTOM + 16,
        f"{figures.month:%b %y}",
        numbers[4],
        f"{bar_top - 4:.1f}",
        figures.servers if closed else "—",  # its title, and the table under the chart, say "not closed"
    )


def revenue_chart_svg(totals, *, closed=None):
    """Bars of revenue per month, each labelled with its month and billed servers.

    `closed` is the set of closed months among them (default: all of them).
    """
    closed = {figures.month for figures in totals} if closed is None else closed
    plot_height = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    slot = (WIDTH - MARGIN_LEFT) / max(1, len(totals))
    top = max((figures.revenue_usd for figures in totals), default=0) or 1
    bars = format_html_join(
        "",
        '<g class="bar"><title>{}: {}</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"></rect>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>'
        '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text></g>',
        (
            _bar(i, f, slot=slot, top=top, plot_height=plot_height, closed=f.month in closed)
            for i, f in enumerate(totals)
        ),
    )
    return format_html(
        '<svg id="revenue-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-label="Revenue per month">'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"></line>'
        '<text x="4" y="{}" font-size="11">{} USD</text><text x="4" y="{}" font-size="11">0</text>{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        MARGIN_LEFT,
        HEIGHT - MARGIN_BOTTOM,
        WIDTH,
        HEIGHT - MARGIN_BOTTOM,
        MARGIN_TOP + 10,
        top if top != 1 else 0,
        HEIGHT - MARGIN_BOTTOM,
        bars,
    )
