"""A run's figures and ``report.html``: what they draw follows from the ledger (every lane's flow
is on an arrow, gathered boxes carry the sums of their members), the page is self-contained and a
real browser (headless Chromium, ``tests/browser.py``) loads it without an error and shows every
figure; ``twin.run`` checks its output before simulating and draws progress on a terminal only.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from browser import Browser, chromium
from hypothesis import example, given
from hypothesis import strategies as st

from reconciliation import run_report
from reconciliation.kpis import compute_kpis
from reconciliation.network_graph import MAX_ROWS, Edge, edges_of, levels, network_svg
from reconciliation.report import PLOT_FILES, RUN_FILES, customer_nodes
from reconciliation.run_report import FIGURE_FILES, MAX_PANELS, MAX_TABLE_NODES
from reconciliation.svg import nice_ticks
from twin.cli import error_line
from twin.engine import run_scenario
from twin.run import main, resolve_scenario

REPO = Path(__file__).resolve().parents[1]
HMARL = REPO / "scenarios" / "hmarl_3store.yaml"
RETAIL = REPO / "scenarios" / "retail_1000.yaml"
SVG = "{http://www.w3.org/2000/svg}"
ARROW = re.compile(r"^(.+) → (.+): ([\d,.]+) units (ordered|sold) per period")


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _run(out: Path, scenario: Path, *extra: str) -> Path:
    assert main([str(scenario), "--out", str(out), "--quiet", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def hmarl_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "hmarl"
    return _run(out, HMARL, "--periods", "80", "--warmup", "10", "--replications", "3")


@pytest.fixture(scope="module")
def retail_run(tmp_path_factory) -> Path:
    """The 1,023-location network: columns and panels past their limits."""
    out = tmp_path_factory.mktemp("report") / "retail"
    return _run(out, RETAIL, "--periods", "30", "--warmup", "5")


def _tooltips(svg: str) -> list[tuple[str, str, float, str]]:
    """``(origin, destination, units per period, ordered|sold)`` of every arrow of a network SVG."""
    root = ET.fromstring(svg)
    out = []
    for path in root.iter(f"{SVG}path"):
        title = path.find(f"{SVG}title")
        match = ARROW.match(title.text if title is not None and title.text else "")
        assert match, title.text if title is not None else path.attrib
        out.append((match[1], match[2], float(match[3].replace(",", "")), match[4]))
    return out


# --------------------------------------------------------------------------------------------------
# The network graph.


def test_levels_follow_the_longest_chain_and_circles_take_their_fallback():
    def edge(a: str, b: str) -> Edge:
        return Edge(a, b, 1.0, (f"{a}->{b}",))

    chain = levels(["s", "w", "r"], [edge("s", "w"), edge("w", "r")], {})
    assert chain == {"s": 3, "w": 2, "r": 1}
    # A short cut does not pull a node down: s -> r directly and through w.
    assert levels(["s", "w", "r"], [edge("s", "w"), edge("w", "r"), edge("s", "r")], {})["s"] == 3
    circle = levels(["a", "b", "c"], [edge("a", "b"), edge("b", "a"), edge("b", "c")], {"a": 5, "b": 2})
    assert circle["c"] == 1 and circle["a"] == 5 and circle["b"] == 2
    outside = levels(["f"], [Edge("production", "f", 3.0, ("production->f",), inside=False)], {})
    assert outside == {"f": 1}


def test_lanes_of_several_skus_between_two_locations_are_one_arrow():
    points = ["S/a", "S/b", "F/a", "F/b"]
    nodes = ["S", "S", "F", "F"]
    edges = edges_of(
        points, nodes, ["S/a->F/a", "S/b->F/b", "production->S/a"], [2, 3, 0], [2.0, 3.5, 9.0]
    )
    assert Edge("S", "F", 5.5, ("S/a->F/a", "S/b->F/b")) in edges
    assert Edge("production", "S", 9.0, ("production->S/a",), inside=False) in edges


def _star(stores: int, warehouses: int = 2) -> dict:
    locations = ["sup", *(f"w{j}" for j in range(warehouses)), *(f"s{i:02d}" for i in range(stores))]
    edges = [Edge("sup", f"w{j}", 10.0 + j, (f"sup->w{j}",)) for j in range(warehouses)]
    edges += [Edge(f"w{i % warehouses}", f"s{i:02d}", 1.0 + i, (f"lane{i}",)) for i in range(stores)]
    tiers = {n: "supplier" if n == "sup" else "warehouse" if n[0] == "w" else "store" for n in locations}
    cost = {n: float(i) for i, n in enumerate(locations)}  # later stores cost more
    return {
        "locations": locations,
        "tiers": tiers,
        "echelons": {},
        "edges": edges,
        "cost": cost,
        "sold": {n: 2.0 for n in locations if tiers[n] == "store"},
        "fill_rate": {n: 1.0 for n in locations},
        "title": "star",
    }


@given(st.integers(1, 40), st.integers(1, 4))
@example(MAX_ROWS, 1).via("a full column, nothing gathered")
@example(MAX_ROWS + 1, 2).via("one location too many")
def test_every_lane_flow_is_drawn_once_and_gathered_boxes_carry_the_sums(stores, warehouses):
    star = _star(stores, warehouses)
    svg = network_svg(**star)
    root = ET.fromstring(svg)
    arrows = _tooltips(svg)
    ordered = [a for a in arrows if a[3] == "ordered"]
    assert math.isclose(
        sum(a[2] for a in ordered), sum(e.flow for e in star["edges"]), abs_tol=0.01 * len(ordered)
    )
    assert math.isclose(sum(a[2] for a in arrows if a[3] == "sold"), 2.0 * stores, abs_tol=0.01 * stores)
    boxes = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    names = [r.find(f"{SVG}title").text.split(":")[0] for r in boxes]
    assert len(boxes) == 1 + warehouses + min(stores, MAX_ROWS)
    if stores > MAX_ROWS:
        gathered = stores - (MAX_ROWS - 1)
        assert f"{gathered} more (store)" in names
        shown = {n for n in names if n.startswith("s") and n != "sup"}
        top = {f"s{i:02d}" for i in range(stores - (MAX_ROWS - 1), stores)}  # the costliest
        assert shown == top
    else:
        assert {f"s{i:02d}" for i in range(stores)} <= set(names)


def test_names_are_escaped_in_the_drawing():
    star = _star(2, 1)
    star["locations"][0] = "A<&>\"'"
    star["tiers"]["A<&>\"'"] = "supplier"
    star["edges"][0] = Edge("A<&>\"'", "w0", 10.0, ("lane",))
    root = ET.fromstring(network_svg(**star))  # well-formed
    assert any((t.text or "").startswith("A<&>\"': cost") for t in root.iter(f"{SVG}title"))


@pytest.mark.parametrize("name", ["hmarl_3store", "multi_sku_bom", "liu_net_2x3"])
def test_arrows_carry_the_ledgers_orders_and_sales(name):
    """Into each location, the arrows' flows add up to its ``ordered`` column (mean after warm-up,
    mean over replications: a node orders on its lanes), and its sales arrow to ``sold``."""
    scenario = resolve_scenario(
        REPO / "scenarios" / f"{name}.yaml",
        overrides={"periods": 60, "warmup_periods": 10, "replications": 2},
    )
    results = run_scenario(scenario)
    kpis = compute_kpis(results, 10, customer_nodes=customer_nodes(scenario))
    ledgers = [r.ledger for r in results]
    svg = run_report.network_figure(ledgers, kpis, warmup=10, name=name)
    arrows = _tooltips(svg)
    layout = ledgers[0].layout
    for column, kind in (("ordered", "ordered"), ("sold", "sold")):
        per_point = np.mean([lg.column(column, 10).mean(axis=0) for lg in ledgers], axis=0)
        for node in dict.fromkeys(layout.nodes):
            expected = per_point[layout.positions(node)].sum()
            drawn = sum(
                a[2] for a in arrows if a[1 if kind == "ordered" else 0] == node and a[3] == kind
            )
            assert drawn == pytest.approx(expected, abs=0.006 * max(len(arrows), 1)), (node, column)


@pytest.mark.parametrize("name", ["hmarl_3store", "multi_sku_bom", "constrained_network"])
def test_orders_per_echelon_read_lane_by_lane_are_the_ordered_column(name):
    scenario = resolve_scenario(
        REPO / "scenarios" / f"{name}.yaml", overrides={"periods": 40, "replications": 1}
    )
    ledger = run_scenario(scenario)[0].ledger
    ordered = ledger.column("ordered")
    echelons = np.asarray(ledger.layout.echelons)
    by_lane = run_report.echelon_orders(ledger)
    for echelon in set(echelons.tolist()):
        expected = ordered[:, echelons == echelon].sum(axis=1)
        np.testing.assert_allclose(by_lane.get(echelon, np.zeros(ledger.periods)), expected, rtol=1e-12)


@given(st.floats(-1e9, 1e9), st.floats(0, 1e9), st.integers(2, 8))
@example(0.0, 0.0, 5).via("all zero")
@example(0.0, 0.3, 4).via("a step of 0.1")
@example(536870912.0, 0.5, 5).via("a step of 0.1 far from 0")
@example(0.0, 5e-324, 2).via("a span of rounding noise")
@example(5e-324, 0.0, 2).via("flat at rounding noise")
@example(-5.685792402747927e-09, 11.0, 2).via("a low end a rounding error below a tick")
def test_axis_ticks_are_round_and_cover_the_data(low, span, count):
    high = low + span
    ticks = nice_ticks(low, high, count)
    steps = np.diff(ticks)
    step = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
    ulp = 4 * float(np.spacing(max(abs(ticks[0]), abs(ticks[-1]))))  # doubles far from 0 are coarse
    assert ticks[0] <= low + 1e-9 * step + ulp and ticks[-1] >= high - 1e-9 * step - ulp  # covered
    assert len(ticks) <= count + 3 and np.allclose(steps, step, rtol=1e-9, atol=ulp)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-9 + ulp / step) for m in (1, 2, 2.5, 5, 10))


# --------------------------------------------------------------------------------------------------
# The run folder's figures and report.


def test_every_figure_is_a_file_and_inline_in_the_report(hmarl_run):
    assert sorted(p.name for p in hmarl_run.iterdir()) == sorted(RUN_FILES)
    assert set(PLOT_FILES) == set(FIGURE_FILES)
    html = (hmarl_run / "report.html").read_text()
    for name in FIGURE_FILES:
        svg = (hmarl_run / name).read_text()
        ET.fromstring(svg)  # well-formed
        assert svg.strip() in html, name
    assert html.count("<figure>") == len(FIGURE_FILES)


def test_the_report_is_self_contained(hmarl_run, retail_run):
    for folder in (hmarl_run, retail_run):
        html = (folder / "report.html").read_text()
        assert "<script" not in html and "<link" not in html and "@import" not in html
        assert not re.search(r"(src|href)\s*=\s*['\"](?!data:|#)", html)  # only data: and anchors
        assert set(re.findall(r"https?://[^\s'\"]+", html)) <= {"http://www.w3.org/2000/svg"}


def test_the_report_shows_the_kpis_of_summary_json(hmarl_run):
    summary = json.loads((hmarl_run / "summary.json").read_text())
    text = unescape((hmarl_run / "report.html").read_text())
    kpis = summary["kpis"]
    cost = kpis["network"]["cost_per_period"]
    assert f"{cost['mean']:,.2f} ± {cost['se']:,.2f}" in text
    for tier, values in kpis["tiers"].items():
        assert f"<td>{tier}</td>" in text
        assert f"{values['cost_per_period']['mean']:,.2f}" in text
    for echelon, stat in kpis["network"]["bullwhip"].items():
        assert f"<td class='n'>{echelon}</td>" in text and f"{stat['mean']:,.2f}" in text


def test_revenue_and_profit_are_shown_where_the_network_earned_revenue(hmarl_run, tmp_path):
    assert "profit per period" not in (hmarl_run / "report.html").read_text()
    out = _run(
        tmp_path / "priced",
        REPO / "scenarios" / "profit_serial.yaml",
        "--periods",
        "40",
        "--replications",
        "2",
    )
    network = json.loads((out / "summary.json").read_text())["kpis"]["network"]
    text = unescape((out / "report.html").read_text())
    assert network["revenue_per_period"]["mean"] > 0
    profit = network["profit_per_period"]
    assert f"network profit per period</b>: {profit['mean']:,.2f} ± {profit['se']:,.2f}" in text
    assert "<th>revenue per period</th>" in text and "<th>profit per period</th>" in text


def test_a_large_network_is_summarised(retail_run):
    """1,023 locations: panels, table rows and boxes stop at their limits, choosing the costliest."""
    summary = json.loads((retail_run / "summary.json").read_text())
    nodes = summary["kpis"]["nodes"]
    costliest = sorted(nodes, key=lambda n: -nodes[n]["cost_per_period"]["mean"])
    inventory = ET.fromstring((retail_run / "inventory.svg").read_text())
    titles = {(t.text or "").split(" (")[0] for t in inventory.iter(f"{SVG}title")}
    assert set(costliest[:MAX_PANELS]) <= titles
    assert not (set(costliest[MAX_PANELS:]) & titles)
    html = (retail_run / "report.html").read_text()
    per_node = html.split("<h3>Per node</h3>")[1].split("</table>")[0]
    assert per_node.count("<tr>") == MAX_TABLE_NODES + 1  # the header and the nodes shown
    assert f"the {MAX_TABLE_NODES} of 1,023 nodes with the highest cost" in per_node
    network = (retail_run / "network.svg").read_text()
    assert "989 more (store)" in network  # 1,000 stores: 11 drawn, 989 gathered
    assert len(network) < 200_000 and len(html) < 1_000_000


def test_no_plots_writes_the_report_without_figures(tmp_path):
    out = _run(tmp_path / "bare", HMARL, "--periods", "40", "--replications", "1", "--no-plots")
    html = (out / "report.html").read_text()
    assert "<figure>" not in html and "without figures" in html and "cost per period" in html
    assert not any(p.suffix == ".svg" for p in out.iterdir())


_NO_MATPLOTLIB = """
import sys
from twin.run import main
assert main(["scenarios/hmarl_3store.yaml", "--periods", "40", "--replications", "2", "--quiet",
             "--out", sys.argv[1]]) == 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "PIL"))
assert not loaded, f"the run imported {loaded[:5]}"
print("ok")
"""


def test_a_run_with_its_figures_never_imports_matplotlib(tmp_path):
    """The figures are drawn without a plotting library: matplotlib's modules and canvases were
    most of a large run's memory (benchmarks/RESULTS.md)."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_MATPLOTLIB, str(tmp_path / "run")],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "ok", done.stderr[-2000:]
    assert (tmp_path / "run" / "inventory.svg").is_file()


# --------------------------------------------------------------------------------------------------
# twin.run's edges: output checked before simulating, progress on a terminal only.


def test_an_out_below_a_file_is_refused_before_simulating(tmp_path, monkeypatch, capsys):
    import twin.run

    def never(*args, **kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(twin.run, "run_scenario", never)
    (tmp_path / "a_file").write_text("keep")
    out = tmp_path / "a_file" / "run"
    assert main([str(HMARL), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == error_line(f"--out {str(out)!r}: {str(tmp_path / 'a_file')!r} is a file, not a folder") + "\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert (tmp_path / "a_file").read_text() == "keep"


def _on_a_terminal(args: list[str]) -> tuple[int, bytes]:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        done = subprocess.run(
            args, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=follower, timeout=180
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    return done.returncode, b"".join(chunks)


def test_run_draws_its_bar_on_a_terminal_and_not_in_a_pipe_or_with_quiet(tmp_path):
    args = [sys.executable, "-m", "twin.run", str(HMARL), "--periods", "40", "--replications", "3"]
    piped = subprocess.run(
        [*args, "--out", str(tmp_path / "a")],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert piped.returncode == 0 and piped.stderr == "" and "run folder:" in piped.stdout
    code, shown = _on_a_terminal([*args, "--out", str(tmp_path / "b")])
    assert code == 0 and b"replication" in shown and b"3/3" in shown
    code, shown = _on_a_terminal([*args, "--out", str(tmp_path / "c"), "--quiet"])
    assert code == 0 and shown == b""


# --------------------------------------------------------------------------------------------------
# In a real browser.


@pytest.fixture(scope="module")
def browser():
    with Browser(chromium()) as b:
        yield b


def _check_page(browser: Browser, path: Path, figures: int) -> None:
    page = browser.load(path)
    assert page.errors == [], page.errors
    assert page.requests == [path.resolve().as_uri()] or all(
        u == path.resolve().as_uri() or u.startswith("data:") for u in page.requests
    ), page.requests
    assert page.scripts == 0
    assert len(page.figures) == figures, page.figures
    for figure in page.figures:
        assert figure["tag"] in ("svg", "img") and figure["width"] > 50 and figure["height"] > 50, figure
        if figure["tag"] == "img":
            assert figure["natural_width"] > 0, figure  # the embedded PNG decoded


def test_the_run_report_loads_in_a_browser_and_shows_every_figure(
    browser, hmarl_run, retail_run, tmp_path
):
    _check_page(browser, hmarl_run / "report.html", len(FIGURE_FILES))
    _check_page(browser, retail_run / "report.html", len(FIGURE_FILES))
    bare = _run(tmp_path / "bare", HMARL, "--periods", "40", "--replications", "1", "--no-plots")
    _check_page(browser, bare / "report.html", 0)
    for name in FIGURE_FILES:  # each figure file opens on its own too
        page = browser.load(hmarl_run / name)
        assert page.errors == [], (name, page.errors)


SHIPPED = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if p.stem != "retail_1000")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_reports_in_a_browser(browser, path, tmp_path):
    out = _run(tmp_path / "run", path, "--periods", "30", "--warmup", "5", "--replications", "2")
    _check_page(browser, out / "report.html", len(FIGURE_FILES))


def test_the_study_report_loads_in_a_browser_and_shows_its_plots(browser, tmp_path):
    from twin.compare import main as compare_main

    study = tmp_path / "study.yaml"
    study.write_text(
        f"scenario: {HMARL}\nreplications: 2\nperiods: 40\nwarmup_periods: 5\n"
        "variants:\n  sS: [agents.warehouse_1=s_S:s=522,S=534]\n"
    )
    out = tmp_path / "s"
    assert compare_main([str(study), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    images = len(list(out.glob("*.png")))
    page = browser.load(out / "report.html")
    assert page.errors == [] and page.scripts == 0
    assert len(page.figures) == 0  # the study's images are plain <img> under headings
    sizes = browser._evaluate(
        "[...document.images].map(i => [i.naturalWidth, i.getBoundingClientRect().height])"
    )
    assert len(sizes) == images >= 3 and all(w > 0 and h > 0 for w, h in sizes), sizes


def test_the_browser_check_sees_what_goes_wrong(browser, tmp_path):
    """The checks above can fail: a script error, a missing image and an outside request are seen."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!doctype html><html><head><title>broken</title></head><body>"
        "<figure><img alt='gone' src='missing.png'></figure>"
        "<script>console.error('drawn wrong'); undefined_function();</script></body></html>"
    )
    seen = browser.load(page)
    assert any("drawn wrong" in e for e in seen.errors)
    assert any("undefined_function" in e or "exception" in e for e in seen.errors)
    assert any(u.endswith("missing.png") for u in seen.requests) and seen.scripts == 1
    assert seen.figures[0]["natural_width"] == 0
