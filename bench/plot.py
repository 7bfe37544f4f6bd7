#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Turn socksbench's results.tsv into results.svg: four small panels of
horizontal bars, one bar (or group of bars) per server, from the median
rows.  Servers missing from the file, or from a measure, are not drawn,
nor are the measures not named here (the scale section's, CPU, system
calls and context switches per connection): the tables on stdout show
those.

    plot.py [results.tsv [results.svg]]    (defaults: next to this file)
"""
import argparse
import csv
import os
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 900, 600
MARGIN, GAP, HEADER = 16, 24, 34
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK, MUTED, RULE = "#222", "#666", "#bbb"
# one colour per series of a grouped panel, neutral and apart in grey
COLOURS = ["#4a6a8a", "#a7b4c2", "#c9a66b"]


def load(path):
    """{(server, measure): (value, ratio or None)} of the median rows, and
    the servers in the order of the file."""
    data, servers, rounds = {}, [], set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            server = row["server"]
            if server not in servers:
                servers.append(server)
            if row["round"] != "median":
                rounds.add(row["round"])
                continue
            ratio = row["ratio_to_direct"]
            data[server, row["measure"]] = (
                float(row["value"]), float(ratio) if ratio else None)
    return data, servers, len(rounds)


def largest_tunnels(data):
    """N of the tN_rss_per_tunnel measure with the largest N, or None."""
    counts = [int(m[1:-len("_rss_per_tunnel")]) for _, m in data
              if m.startswith("t") and m.endswith("_rss_per_tunnel")
              and m[1:-len("_rss_per_tunnel")].isdigit()]
    return max(counts) if counts else None


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def fmt_us(us):
    if us >= 10000:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} \u00b5s"


def text_width(s, size):
    """A rough width of s in px: about 0.62 em a character."""
    return len(s) * size * 0.62


def text(x, y, s, size=11, fill=INK, anchor="start", weight="normal"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" '
            f'fill="{fill}" text-anchor="{anchor}" font-weight="{weight}">'
            f'{escape(s)}</text>')


def panel(x0, y0, w, h, title, series, rows, label=fmt):
    """One panel at (x0, y0), w x h.  series: the names of the bars of a
    group (a legend when more than one); rows: (server, [value or None per
    series], note or "") per server shown, the note under the bars; label:
    formats the values at the bars' ends.  Returns SVG elements."""
    out = [f'<g transform="translate({x0},{y0})">',
           text(0, 14, title, size=13, weight="bold")]
    top = 24
    if len(series) > 1 and rows:
        lx = 0
        for i, name in enumerate(series):
            out.append(f'<rect x="{lx}" y="{top + 2}" width="10" '
                       f'height="10" fill="{COLOURS[i]}"/>')
            out.append(text(lx + 14, top + 11, name, size=11, fill=MUTED))
            lx += 14 + text_width(name, 11) + 16
        top += 22
    top += 4
    if not rows:
        out.append(text(w / 2, top + 40, "no data", fill=MUTED,
                        anchor="middle"))
        return out + ["</g>"]

    label_w = max(text_width(r[0], 12) for r in rows) + 10
    bar_w = w - label_w
    # a scale that leaves room for each bar's label after its end
    room = [(bar_w - text_width(label(v), 11) - 8) / v
            for _, values, _ in rows for v in values if v and v > 0]
    scale = min(room) if room else 0
    row_h = (h - top) / len(rows)
    notes = any(note for _, _, note in rows)
    bar_h = min(18, (row_h - (16 if notes else 0)) * 0.76 / len(series))
    for n, (server, values, note) in enumerate(rows):
        y = top + n * row_h
        group_y = y + (row_h - bar_h * len(series)) / 2
        if notes:
            group_y -= 7
            out.append(text(label_w + 2, group_y + bar_h * len(series) + 12,
                            note, size=10.5, fill=MUTED))
        out.append(text(label_w - 8, y + row_h / 2 + 4, server, size=12,
                        anchor="end"))
        for i, v in enumerate(values):
            if v is None:
                continue
            by = group_y + i * bar_h
            bw = max(v * scale, 0.5)
            out.append(f'<rect x="{label_w:.1f}" y="{by:.1f}" '
                       f'width="{bw:.1f}" height="{bar_h - 1:.1f}" '
                       f'fill="{COLOURS[i]}"/>')
            out.append(text(label_w + bw + 4, by + bar_h / 2 + 3.5,
                            label(v)))
    out.append(f'<line x1="{label_w:.1f}" y1="{top}" x2="{label_w:.1f}" '
               f'y2="{h}" stroke="{RULE}"/>')
    return out + ["</g>"]


def panels(data, servers):
    """(title, series, rows, label format) of the four panels."""
    def value(server, measure):
        v = data.get((server, measure))
        return v[0] if v else None

    def ratio(server, measure):
        v = data.get((server, measure))
        if not v:
            return None
        return 1.0 if server == "direct" else v[1]

    def rows_of(get, measures, note=lambda s: ""):
        rows = []
        for s in servers:
            values = [get(s, m) for m in measures]
            if any(v is not None for v in values):
                rows.append((s, values, note(s)))
        return rows

    thru = ["up_x1", "down_x1", "down_x64"]
    cpu = ["up_x1_cpu", "down_x1_cpu"]

    def hs_note(s):
        p50 = value(s, "conn_x16_hs_p50")
        return f"handshake p50 {fmt_us(p50)}" if p50 else ""

    n = largest_tunnels(data)
    idle_title = ("RSS per idle tunnel" + (f", {n:,} tunnels" if n else "")
                  + " (KiB)")
    return [
        ("Throughput, ratio to direct (\u00d7)",
         ["up, 1 stream", "down, 1 stream", "down, 64 streams"],
         rows_of(ratio, thru), lambda v: f"{v:.2f}"),
        ("Server CPU per GiB moved, 1 stream (s/GiB)",
         ["up", "down"], rows_of(value, cpu), fmt),
        ("Connections, 16 clients (conn/s)", ["conn/s"],
         rows_of(value, ["conn_x16"], hs_note), fmt),
        (idle_title, ["KiB"],
         rows_of(value, [f"t{n}_rss_per_tunnel"] if n else []), fmt),
    ]


def svg(data, servers, rounds):
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'font-family="{FONT}">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
           f'<text x="{MARGIN}" y="22" font-size="15" font-weight="bold" '
           f'fill="{INK}">socksbench<tspan dx="10" font-size="12" '
           f'font-weight="normal" fill="{MUTED}">medians of {rounds} '
           f'round{"s" if rounds != 1 else ""}, 127.0.0.1</tspan></text>']
    pw = (WIDTH - 2 * MARGIN - GAP) / 2
    ph = (HEIGHT - HEADER - MARGIN - GAP) / 2
    for i, (title, series, rows, form) in enumerate(panels(data, servers)):
        x = MARGIN + (i % 2) * (pw + GAP)
        y = HEADER + 8 + (i // 2) * (ph + GAP)
        out += panel(x, y, pw, ph, title, series, rows, form)
    return "\n".join(out + ["</svg>", ""])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(
        description="socksbench's results.tsv as bar charts in an SVG")
    p.add_argument("tsv", nargs="?", default=os.path.join(here, "results.tsv"),
                   help="default: results.tsv next to this program")
    p.add_argument("svg", nargs="?", default=None,
                   help="default: results.svg next to this program")
    a = p.parse_args()
    out = a.svg or os.path.join(here, "results.svg")
    try:
        data, servers, rounds = load(a.tsv)
    except (OSError, KeyError, ValueError) as e:
        sys.exit(f"plot.py: {a.tsv}: {e}")
    with open(out, "w") as f:
        f.write(svg(data, servers, rounds))
    print(f"plot.py: wrote {out}")


if __name__ == "__main__":
    main()
