"""The leaderboard site (``mamp-bench site``): what its pages say and link to, checked on the committed results
and on stores that hold real, custom and synthetic rows; then in headless Chromium (one browser for the
module): pages open from file:// without errors, no request leaves the machine, sorting, filtering, a row's
link, a narrow window, the comparison, and the pages without JavaScript.

The browser tests skip, saying why, only when no Chromium is installed (``.ci/run`` installs Debian's and then
sets ``MAMP_BENCH_REQUIRE_BROWSER=1``, which turns that skip into a failure)."""

from __future__ import annotations

import json
import os
import shlex
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from mamp_bench.cli import main
from mamp_bench.results.frame import load_checked
from mamp_bench.results.site.build import build_site
from mamp_bench.results.site.contents import table_page
from mamp_bench.results.site.row_pages import reproduce_command
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.tables import build_tables, compare, table_names
from mamp_bench.results.verify import verify_store
from tests.browser import CHROMIUM_ENV, Browser, find_chromium
from tests.store_helpers import write_record

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results"
REQUIRE_BROWSER = "MAMP_BENCH_REQUIRE_BROWSER"


class Parsed(HTMLParser):
    """The links, sections, record names and text of one page."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (attribute, value) of every href and src
        self.measured: list[tuple[str | None, str]] = []  # (enclosing section's kind, href) of each measured number
        self.records: list[str] = []  # data-record values
        self.sections: list[str | None] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("data-section"))
        for key in ("href", "src"):
            if key in attrs:
                self.links.append((key, attrs[key]))
        if tag == "a" and "measured" in (attrs.get("class") or "").split():
            kinds = [s for s in self.sections if s]
            self.measured.append((kinds[-1] if kinds else None, attrs["href"]))
        if "data-record" in attrs:
            self.records.append(attrs["data-record"])

    def handle_endtag(self, tag):
        if tag == "section" and self.sections:
            self.sections.pop()

    def handle_data(self, data):
        self.text.append(data)


def pages(site: Path) -> dict[str, Parsed]:
    return {p.relative_to(site).as_posix(): Parsed(p.read_text()) for p in sorted(site.rglob("*.html"))}


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory) -> Path:
    """The site of the committed results store (built once for the module)."""
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(COMMITTED, out)
    return out


# ---------------------------------------------------------------------------------------------------------
# what the pages say and link to


def test_every_link_stays_in_the_site_and_every_measured_number_reaches_its_records(committed_site):
    """Every href and src is a relative path to a file of the site (nothing from the network); every measured
    number of every table links to a page that lists exactly the records of its cell, and the copied records
    verify as a results store of their own."""
    found = pages(committed_site)
    for name, page in found.items():
        for attribute, value in page.links:
            assert not urlparse(value).scheme and not value.startswith("//"), (name, value)
            target = (committed_site / name).parent / unquote(value.split("#")[0])
            assert value.startswith("#") or target.resolve().is_file(), (name, attribute, value)
    results = load_checked(COMMITTED)
    expected_links = 0
    for table_name in table_names():
        for t in build_tables(table_name, results.frame, left_out=results.left_out):
            for row in t.rows:
                for cell in row.cells:
                    expected_links += bool(row.kind == "measured" and cell.by_seed)
    leaderboards = [found[table_page(name)] for name in table_names()]
    linked = [href for page in leaderboards for _, href in page.measured]
    assert len(linked) == expected_links > 20
    for href in linked:
        row_page = found[href]
        assert row_page.records, href
        for record in row_page.records:
            matches = list(committed_site.glob(f"records/*/*/*/{record}.json"))
            assert len(matches) == 1, record
    verification = verify_store(committed_site)
    assert verification.problems == [] and verification.records == len(results.frame)


def test_a_row_page_shows_the_records_of_its_cell_with_their_evidence(committed_site):
    """The linear synthetic mamp row: its three seeds' records by name, the command of each, its commit, the
    checkpoint sha256 and data fingerprint the records carry, the curves, confusion matrix and per-class accuracy,
    and links to the record, predictions and log."""
    store = ResultsStore(COMMITTED)
    records = sorted(
        (r for r in store.records() if (r["protocol"], r["method"]) == ("linear", "mamp")), key=lambda r: r["seed"]
    )
    index = Parsed((committed_site / "index.html").read_text())
    hrefs = {href for kind, href in index.measured if kind == "synthetic" and "/mamp/" in href}
    assert len(hrefs) == 1
    page_path = committed_site / hrefs.pop()
    page = Parsed(page_path.read_text())
    text = page_path.read_text()
    assert page.records == [f"{r['config_hash']}-s{r['seed']}" for r in records]
    for r in records:
        assert reproduce_command(r) in text.replace("&#x27;", "'")
        assert r["environment"]["git_commit"] in text and r["encoder"]["checkpoint_sha256"] in text
        assert r["data"]["evaluated"]["fingerprint"] in text
        for suffix in (".json", ".predictions.npz", ".log.csv"):
            assert any(v.endswith(f"{r['config_hash']}-s{r['seed']}{suffix}") for _, v in page.links)
    assert text.count("<svg") == 4  # top-1 and loss per epoch, confusion matrix, per-class accuracy
    assert "verifies" in text and "summed over 3 seed(s)" in text


def test_the_command_on_a_row_page_resolves_to_the_records_configuration(committed_site, monkeypatch):
    """Each record's command, run through the command line as printed, resolves to its configuration hash."""
    from mamp_bench.plan import Options, resolve

    class Stop(Exception):
        pass

    resolved = []

    def plan_only(request, options):
        resolved.append(resolve(request, Options(runs_dir=str(committed_site / "no-runs"))).digest)
        raise Stop

    monkeypatch.setattr("mamp_bench.pipeline.run", plan_only)
    records = ResultsStore(COMMITTED).records()
    for record in records:
        with pytest.raises(Stop):
            main(shlex.split(reproduce_command(record))[1:])
    assert resolved == [r["config_hash"] for r in records]


#: the name of the setting the custom row was given: text from a record, which must never become markup
HOSTILE = '<img src=x onerror="alert(1)">'


def kinds_store(root: Path) -> ResultsStore:
    """A store with a real row (paper scale, recipe), a custom row (real data with a setting given, whose name
    is ``HOSTILE``) and a synthetic row, two seeds each, and a third seed of the real row edited by hand."""
    store = ResultsStore(root)
    base = {
        "method": "mamp",
        "protocol": "linear",
        "family": "ntu60",
        "split": "xsub",
        "scale": "paper",
        "setting": {},
        "environment": {"device": "cpu", "git_commit": "c" * 40, "git_dirty": False},
    }
    for seed in (0, 1):
        write_record(
            store,
            {
                **base,
                "dataset": "ntu60-xsub",
                "seed": seed,
                "overrides": {},
                "metrics": {"top1_best": 84.0 + seed, "top1_final": 83.0},
            },
        )
        write_record(
            store,
            {
                **base,
                "dataset": "ntu60-xsub",
                "seed": seed,
                "overrides": {HOSTILE: "2"},
                "metrics": {"top1_best": 30.0 + seed, "top1_final": 29.0},
            },
        )
        write_record(
            store,
            {
                **base,
                "dataset": "synthetic-ntu60",
                "seed": seed,
                "scale": "smoke",
                "overrides": {},
                "metrics": {"top1_best": 40.0 + seed, "top1_final": 39.0},
            },
        )
    forged = write_record(store, {**base, "dataset": "ntu60-xsub", "seed": 2, "overrides": {},
                                  "metrics": {"top1_best": 84.5, "top1_final": 83.0}})  # fmt: skip
    path = store.path_for(forged)
    path.write_text(path.read_text().replace('"top1_best": 84.5', '"top1_best": 99.5'))  # edited after it was written
    return store


@pytest.fixture(scope="module")
def kinds_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    build_site(kinds_store(root / "results").root, root / "site")
    return root / "site"


def records_behind(site: Path, page: str, href: str) -> list[dict]:
    """The records (copied into the site) of the row page a link on ``page`` opens."""
    target = ((site / page).parent / href).resolve().relative_to(site.resolve()).as_posix()
    names = Parsed((site / target).read_text()).records
    return [json.loads(next(site.glob(f"records/*/*/*/{name}.json")).read_text()) for name in names]


def test_real_custom_and_synthetic_rows_stay_in_their_own_sections(kinds_site):
    """On the leaderboard and on the column's page, a measured number sits only in the section of its kind, beside
    the published rows only when real."""
    for name in ("index.html", "columns/linear/ntu-60-xsub.html"):
        found = {}
        for kind, href in Parsed((kinds_site / name).read_text()).measured:
            records = records_behind(kinds_site, name, href)
            found.setdefault(kind, []).append(sorted({(r["dataset"], tuple(r["overrides"])) for r in records}))
        assert found == {
            "real": [[("ntu60-xsub", ())]],
            "custom": [[("ntu60-xsub", (HOSTILE,))]],
            "synthetic": [[("synthetic-ntu60", ())]],
        }, name
    index = (kinds_site / "index.html").read_text()
    real_section = index.split('data-section="real"')[1].split("</section>")[0]
    assert "MAMP (ICCV 2023)" in real_section and "Δ vs reported" in real_section
    for other in ("custom", "synthetic"):
        section = index.split(f'data-section="{other}"')[1].split("</section>")[0]
        assert "ICCV 2023" not in section and "Δ vs reported" not in section


def test_a_record_that_does_not_verify_is_named_with_its_reason_and_shown_nowhere(kinds_site):
    text = {p.relative_to(kinds_site).as_posix(): p.read_text() for p in kinds_site.rglob("*.html")}
    assert not any("99.5" in page for page in text.values())
    (row,) = [r.split("</tr>")[0] for r in text["records.html"].split("<tr") if "-s2.json" in r]
    assert "left out: edited: its checksum does not match its content" in row and "href" not in row
    assert "Left out 1 record file(s) that do not verify (1 edited)" in text["index.html"]
    assert not list(kinds_site.glob("records/**/*-s2.*"))


def test_text_from_records_is_text_on_every_page(kinds_site):
    """The name of a setting from a user's ``--set`` (it labels the custom row) never becomes markup."""
    found = [p.read_text() for p in kinds_site.rglob("*.html")]
    assert not any(HOSTILE in text for text in found)
    assert sum("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text for text in found) >= 3


def test_site_command_writes_replaces_its_own_site_and_refuses_other_folders(tmp_path, capsys):
    store = ResultsStore(tmp_path / "results")
    write_record(
        store,
        {
            "method": "mamp",
            "protocol": "knn",
            "dataset": "synthetic-ntu60",
            "family": "ntu60",
            "split": "xsub",
            "seed": 0,
            "scale": "smoke",
            "setting": {},
            "overrides": {},
            "metrics": {"top1_best": 40.0},
        },
    )
    out = tmp_path / "site"
    assert main(["site", "--results-dir", str(store.root), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "index.html").is_file()
    assert main(["site", "--results-dir", str(store.root), "--out", str(out)]) == 0  # its own site: replaced
    assert not list(tmp_path.glob(".site.*"))  # nothing left beside it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (out / "extra.html").write_text("a user's page")
    for folder, why in (
        (mine, "did not write (notes.txt)"),
        (out, "did not write (extra.html)"),
        (store.root, "would replace the results store"),
        (store.root / "records" / "x", "inside the records"),
    ):
        assert main(["site", "--results-dir", str(store.root), "--out", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err, err
    assert main(["site", "--results-dir", str(store.root), "--out", str(tmp_path / "s2"), "--figures", "nowhere"]) == 2
    assert "--figures nowhere is not a folder" in capsys.readouterr().err and not (tmp_path / "s2").exists()
    assert (mine / "notes.txt").read_text() == "keep me" and (out / "extra.html").read_text() == "a user's page"
    assert main(["site", "--results-dir", str(store.root)]) == 0  # default: beside the tables, <results>/site
    assert (store.root / "site" / "index.html").is_file()


def test_the_readme_says_what_the_site_of_the_committed_results_is(committed_site):
    """The README's figures: the pages and size of the committed results' site, and the script's and stylesheet's
    sizes."""
    import re

    readme = (REPO / "README.md").read_text()
    pages_claimed, megabytes = re.search(r"On the committed results: (\d+) pages and ([\d.]+) MB", readme).groups()
    size = sum(p.stat().st_size for p in committed_site.rglob("*") if p.is_file())
    assert len(list(committed_site.rglob("*.html"))) == int(pages_claimed)
    assert abs(size / 1e6 - float(megabytes)) <= 0.1
    script_kb, style_kb = map(
        int, re.search(r"a (\d+) kB hand-written script .* a (\d+) kB stylesheet", readme, re.S).groups()
    )
    assets = committed_site / "assets"
    assert (assets / "site.js").stat().st_size <= script_kb * 1024 and (
        assets / "site.css"
    ).stat().st_size <= style_kb * 1024


def test_the_figures_of_plot_are_embedded(committed_site):
    figures = sorted(p.name for p in (COMMITTED / "figures").glob("*.png"))
    page = Parsed((committed_site / "figures.html").read_text())
    assert figures and [v for k, v in page.links if v.startswith("figures/")] == [f"figures/{n}" for n in figures]
    for name in figures:
        assert (committed_site / "figures" / name).read_bytes() == (COMMITTED / "figures" / name).read_bytes()


def test_nox_site_builds_it_from_the_committed_results(monkeypatch):
    """``nox -s site``: the session's own code run against a recording session (the noxfile executed with a stand-in
    ``nox`` module, so that nox's registry, which another test fills from the same file, is left alone)."""
    import sys
    import types

    from tests.test_figures import RecordingSession

    stand_in = types.ModuleType("nox")
    stand_in.session, stand_in.Session, stand_in.options = (lambda f: f), object, types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "nox", stand_in)
    namespace: dict = {"__name__": "noxfile_under_test"}
    exec(compile((REPO / "noxfile.py").read_text(), "noxfile.py", "exec"), namespace)  # noqa: S102 - our noxfile
    session = RecordingSession([])
    namespace["site"](session)
    assert session.commands == [["mamp-bench", "site", "--results-dir", "results", "--out", "results/site"]]


# ---------------------------------------------------------------------------------------------------------
# in a real browser


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        reason = (
            f"no Chromium found (Debian: apt-get install chromium; or set {CHROMIUM_ENV}): the site's browser "
            "tests did not run"
        )
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{REQUIRE_BROWSER} is set but {reason}", pytrace=False)
        print(f"\nnote: {reason}")
        pytest.skip(reason)
    started = Browser(executable)
    yield started
    started.close()


def test_every_page_opens_from_the_file_system_without_errors_and_requests_nothing_from_outside(
    committed_site, browser
):
    page = browser.page()
    chosen = sorted(committed_site.glob("*.html"))  # the leaderboards, the comparison, figures, records
    for folder in ("columns", "rows"):  # and the first column page and row page of each protocol
        chosen += [sorted(p.rglob("*.html"))[0] for p in sorted((committed_site / folder).iterdir())]
    for path in chosen:
        page.goto(path.as_uri())
    assert page.errors == []
    assert (
        len(chosen) >= 18
        and len(page.requests) > len(chosen)
        and all(  # each page's stylesheet, script, ...
            url.startswith("file://") for url in page.requests
        )
    ), [url for url in page.requests if not url.startswith("file://")]
    page.close()


VALUES = """[...document.querySelectorAll('section[data-section="synthetic"] table.board tbody tr')]
            .map(row => row.cells[1].getAttribute('data-sort'))"""


def test_sorting_a_column_reorders_its_rows(committed_site, browser):
    page = browser.page()
    page.goto((committed_site / "index.html").as_uri())
    original = page.evaluate(VALUES)
    button = 'section[data-section="synthetic"] table.board thead th:nth-child(2) button.sort'
    page.click(button)
    descending = [float(v) for v in page.evaluate(VALUES)]
    assert descending == sorted(descending, reverse=True) and len(descending) == len(original) >= 5
    page.click(button)
    ascending = [float(v) for v in page.evaluate(VALUES)]
    assert ascending == sorted(ascending)
    page.click(button)
    assert page.evaluate(VALUES) == original  # the third click restores the table's own order
    assert page.errors == []
    page.close()


VISIBLE = "(s => [...document.querySelectorAll(s)].filter(e => e.offsetParent !== null).length)"


def test_a_filter_hides_the_synthetic_section_and_the_published_rows(committed_site, browser):
    page = browser.page()
    page.goto((committed_site / "index.html").as_uri())
    synthetic = f"{VISIBLE}('section[data-section=\"synthetic\"]')"
    published = f"{VISIBLE}('tr[data-kind=\"published\"]')"
    assert page.evaluate(synthetic) == 1 and page.evaluate(published) > 20
    page.click('input[data-facet="section"][value="synthetic"]')
    assert page.evaluate(synthetic) == 0 and page.evaluate(f"{VISIBLE}('section[data-section=\"real\"]')") == 1
    page.click('input[data-facet="kind"][value="published"]')
    assert page.evaluate(published) == 0
    page.click('input[data-facet="section"][value="synthetic"]')
    assert page.evaluate(synthetic) == 1
    assert page.errors == []
    page.close()


def test_a_row_link_opens_its_page_with_its_records(committed_site, browser):
    store = ResultsStore(COMMITTED)
    expected = sorted(
        f"{r['config_hash']}-s{r['seed']}" for r in store.records() if (r["protocol"], r["method"]) == ("linear", "mae")
    )
    page = browser.page()
    page.goto((committed_site / "index.html").as_uri())
    page.click('section[data-section="synthetic"] a.measured[href*="/mae/"]')
    page.wait_load()
    assert page.evaluate("location.pathname").startswith(str(committed_site / "rows" / "linear"))
    shown = page.evaluate("[...document.querySelectorAll('tr[data-record]')].map(r => r.dataset.record)")
    assert sorted(shown) == expected
    assert page.errors == []
    page.close()


def test_a_narrow_window_scrolls_tables_inside_their_box(committed_site, browser):
    page = browser.page(width=375, height=800)
    for name in ("index.html", "compare.html"):
        page.goto((committed_site / name).as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
    page.goto(
        page.evaluate("document.querySelector('a.measured') && document.querySelector('a.measured').href")
        or (committed_site / "records.html").as_uri()
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.close()


def test_the_comparison_shows_the_chosen_pair_as_the_tables_compute_it(committed_site, browser):
    results = load_checked(COMMITTED)
    (expected,) = compare(results.frame, "linear", "mamp", "mae")
    page = browser.page()
    page.goto((committed_site / "compare.html").as_uri())
    page.evaluate("""(() => { const f = document.querySelector('form.pick');
        f.elements.table.value = 'linear'; f.elements.a.value = 'mae'; f.elements.b.value = 'mamp';
        f.dispatchEvent(new Event('change')); })()""")
    shown = page.evaluate("[...document.querySelectorAll('section.pair')].filter(s => !s.hidden).map(s => s.id)")
    assert shown == ["pair-linear-mamp-mae"]  # each pair once, in table order; the note says it is reversed
    assert page.evaluate("document.getElementById('pair-swapped').hidden") is False
    cells = page.evaluate("[...document.querySelectorAll('#pair-linear-mamp-mae td')].map(c => c.textContent)")
    assert cells[0] == str(expected.n) and cells[1] == f"{expected.mean_difference:+.2f}"
    assert cells[4] == f"{expected.p:.3g}"
    page.close()


def test_without_javascript_every_row_reads_and_no_control_is_shown(committed_site, browser):
    page = browser.page()
    page.send("Emulation.setScriptExecutionDisabled", {"value": True})
    page.goto((committed_site / "index.html").as_uri())
    assert page.evaluate("1") == 1  # (evaluation from the driver still works)
    rows = page.evaluate("document.querySelectorAll('table.board tbody tr').length")
    assert page.evaluate(f"{VISIBLE}('table.board tbody tr')") == rows > 30
    assert page.evaluate(f"{VISIBLE}('form.filters')") == 0 and page.evaluate(f"{VISIBLE}('button.sort')") == 0
    page.close()
