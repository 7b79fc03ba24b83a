"""The margin instrument (``replearn margins``): recorded checks, spreads, margins and flags."""
import json
import math

import nbformat
import pandas as pd
import pytest

from replearn_tools import margins


def test_margins_measure_spread_and_distance_on_the_passing_side():
    rows = []
    for run, v in enumerate((1.0, 1.1, 1.2)):
        rows += [{"run": run, "chapter": "c", "name": "loose", "op": "<", "bound": 10.0, "value": v, "ok": True},
                 {"run": run, "chapter": "c", "name": "tight", "op": ">", "bound": 1.0 - 0.1, "value": v, "ok": True},
                 {"run": run, "chapter": "c", "name": "constant", "op": ">=", "bound": 5.0, "value": 6.0, "ok": True},
                 {"run": run, "chapter": "c", "name": "failing", "op": "<", "bound": 1.15, "value": v, "ok": v < 1.15}]
    table = margins.margins(pd.DataFrame(rows)).set_index("check")
    assert table.loc["loose", "spread"] == pytest.approx(0.1)
    assert table.loc["loose", "margin_spreads"] == pytest.approx((10 - 1.1) / 0.1)
    assert table.loc["tight", "margin_spreads"] == pytest.approx(2.0)  # (1.1 - 0.9) / 0.1
    assert math.isinf(table.loc["constant", "margin_spreads"])
    assert table.loc["failing", "failures"] == 1
    assert table["flagged"].to_dict() == {"loose": False, "tight": True, "constant": False, "failing": True}


NOTEBOOK_CODE = """\
import replearn_core as rl
device = rl.setup_notebook()
value = 1.0 + 0.01 * rl.devices.seed_offset()
rl.check("far from its bound", value, "<", 10)
rl.check("deliberately tight", value, "<", 1.025)
"""


def test_the_command_flags_a_deliberately_tight_check(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CODE)])
    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "margins.csv"
    rc = margins.main(["--notebooks", str(path), "--seeds", "0,1,2", "--threads", "1", "--jobs", "2",
                       "--work", str(tmp_path / "work"), "--out", str(out)])
    assert rc == 0
    records = [json.loads(line) for line in (tmp_path / "work" / "seed1-native-1t" / "checks.jsonl").read_text().splitlines()]
    assert [r["context"]["seed"] for r in records] == [1, 1] and records[0]["value"] == pytest.approx(1.01)
    from replearn_core.book.results import read_csv_with_header

    header, table = read_csv_with_header(out)
    assert "replearn margins" in header["command"] and header["runs"].count("seed") == 3
    flagged = dict(zip(table["check"], table["flagged"]))
    assert flagged == {"far from its bound": False, "deliberately tight": True}
    tight = table.set_index("check").loc["deliberately tight"]
    assert tight["runs"] == 3 and tight["margin_spreads"] == pytest.approx(1.5)
