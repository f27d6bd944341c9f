"""The comparison of two methods: their paired differences over the seeds both were run with, per column and kind
of data, and the paired t-test's p-value, exactly as ``mamp-bench table --compare A B`` computes them
(``results/tables.compare``). Every pair with shared seeds is written out (the page reads without script),
each pair once in table order; the script shows the one chosen in the form."""

from __future__ import annotations

from mamp_bench.results.site.contents import Site, tables_in_order
from mamp_bench.results.site.html import el, esc, table
from mamp_bench.results.site.layout import wrap
from mamp_bench.results.tables import METRIC_NAMES, compare, fmt_number, layout, method_rank


def compared_methods(site: Site, name: str) -> list[str]:
    """The methods with a default row (no ``--set``) in a table's own protocol, in table order."""
    own = layout(name)[0][0]
    frame = site.frame[(site.frame["protocol"] == own) & site.frame["overrides"].apply(lambda o: not o)]
    return sorted(set(frame["method"]), key=method_rank)


def comparison_page(site: Site) -> str:
    sections, methods, tables = [], set(), []
    for name in tables_in_order():
        chosen = compared_methods(site, name)
        for i, a in enumerate(chosen):
            for b in chosen[i + 1 :]:  # each pair once, in table order (the picker shows B - A as A - B)
                pair = site.frame[site.frame["method"].isin([a, b])]
                rows = compare(pair, name, a, b, metric=site.metric)
                if rows:
                    sections.append(_pair(name, a, b, rows))
                    methods |= {a, b}
                    tables.append(name) if name not in tables else None
    ordered = sorted(methods, key=method_rank)
    form = ""
    if sections:
        options = {
            key: "".join(el("option", esc(v), value=v) for v in values)
            for key, values in (("table", tables), ("a", ordered), ("b", ordered[1:] + ordered[:1]))
        }
        fields = "".join(
            el("label", f"{label} " + el("select", options[key], name=key))
            for key, label in (("table", "table"), ("a", "method A"), ("b", "method B"))
        )
        form = el("form", fields, class_="pick", hidden=True, aria_label="Choose two methods")
    none = el("p", "These two methods share no seed in this table's columns.", id="pair-none", hidden=True)
    none += el(
        "p",
        "Shown the other way round: B − A (each pair is computed once, in table order).",
        id="pair-swapped",
        hidden=True,
    )
    intro = (
        f"Paired differences of two methods' default rows (no <code>--set</code>) over the seeds both were "
        f"run with, and the paired t-test (metric: {esc(METRIC_NAMES[site.metric])}), as "
        "<code>mamp-bench table --protocol T --compare A B</code> computes them. A column of synthetic or "
        "custom data is named so; kinds are never paired with each other."
    )
    body = "".join(sections) or el("p", "No two methods of the store share a seed in any table.")
    content = el("h1", "Compare two methods") + el("p", intro) + form + none + body
    return wrap(site, "compare two methods", content, "compare.html")


def _pair(name: str, a: str, b: str, rows) -> str:
    headers = [
        ("column", {}),
        ("paired seeds", {"data_numeric": True}),
        (esc(f"mean {a} − {b}"), {"data_numeric": True}),
        ("std", {"data_numeric": True}),
        ("t", {"data_numeric": True}),
        ("p (paired t-test)", {"data_numeric": True}),
    ]
    body = [
        el(
            "tr",
            el("th", esc(r.column), scope="row")
            + el("td", str(r.n))
            + "".join(
                el("td", fmt_number(v, spec), data_sort=v)
                for v, spec in ((r.mean_difference, "+.2f"), (r.std_difference, ".2f"), (r.t, ".2f"), (r.p, ".3g"))
            ),
        )
        for r in rows
    ]
    heading = el("h2", f"{esc(a)} − {esc(b)} · {esc(name)}")
    return el(
        "section",
        heading + table(headers, body, sortable=False),
        class_="pair",
        id=pair_id(name, a, b),
        data_table=name,
        data_a=a,
        data_b=b,
    )


def pair_id(name: str, a: str, b: str) -> str:
    return f"pair-{name}-{a}-{b}"
