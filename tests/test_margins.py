"""The margin instrument (``replearn margins``): recorded checks, spreads, margins and flags."""
import json
import math
import shlex
from pathlib import Path

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


def test_logs_without_context_are_split_by_kernel_and_judged_by_the_newest_bound(tmp_path):
    labelled = tmp_path / "labelled.jsonl"
    plain = tmp_path / "plain.jsonl"  # as `REPLEARN_CHECK_LOG=plain.jsonl make test` writes it
    rec = lambda name, value, bound, **extra: json.dumps(
        {"name": name, "value": value, "op": "<", "bound": bound, "ok": value < bound, **extra})
    ctx = lambda chapter: {"context": {"run": "seed1", "chapter": chapter}, "process": 1}
    labelled.write_text("\n".join([rec("shared", 1.0, 2.0, **ctx("01_a")), rec("only a", 1.0, 2.0, **ctx("01_a")),
                                   rec("shared", 3.0, 4.0, **ctx("02_b")), rec("only b", 3.0, 4.0, **ctx("02_b"))]))
    # the plain log's second kernel ran chapter 02, whose "only b" bound has since moved from 3.5 to 4
    plain.write_text("\n".join([rec("shared", 1.2, 2.0, process=7), rec("only a", 1.1, 2.0, process=7),
                                rec("renamed since", 1.1, 2.0, process=7),
                                rec("shared", 3.2, 4.0, process=8), rec("only b", 3.6, 3.5, process=8)]))
    records = margins.read_logs([plain, labelled])
    assert set(records[records["process"] == 7]["chapter"]) == {"01_a"}
    assert set(records[records["process"] == 8]["chapter"]) == {"02_b"}
    judged = margins.with_current_bounds(records)
    only_b = judged[judged["name"] == "only b"]
    assert list(only_b["bound"]) == [4.0, 4.0] and only_b["ok"].all()
    assert "renamed since" not in set(judged["name"])
    out = tmp_path / "m.csv"
    assert margins.main(["--seeds", "", "--logs", str(plain), str(labelled), "--out", str(out)]) == 0
    from replearn_core.book.results import read_csv_with_header

    _, table = read_csv_with_header(out)
    assert set(zip(table["chapter"], table["check"], table["runs"])) == {
        ("01_a", "shared", 2), ("01_a", "only a", 2), ("02_b", "shared", 2), ("02_b", "only b", 2)}


def test_a_value_repeated_exactly_has_no_spread():
    rows = [{"run": run, "chapter": "c", "name": "grid choice", "op": "<=", "bound": 0.1, "value": 0.1, "ok": True}
            for run in range(3)]
    table = margins.margins(pd.DataFrame(rows))
    assert table.loc[0, "spread"] == 0 and math.isinf(table.loc[0, "margin_spreads"]) and not table.loc[0, "flagged"]


def test_a_rerun_keeps_only_the_checkpoints_when_asked(tmp_path):
    run = margins.Run(seed=1, isa="native", threads=1)
    folder = tmp_path / run.name
    for name in ("cache/model.pt", "executed/old.ipynb", "checks.jsonl"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")
    margins.run_chapters(run, [], tmp_path, keep_cache=True)
    assert (folder / "cache/model.pt").exists()
    assert not (folder / "checks.jsonl").exists() and not (folder / "executed/old.ipynb").exists()
    margins.run_chapters(run, [], tmp_path)
    assert not (folder / "cache").exists()


# The committed table: book/results/check_margins.csv and the logs it was built from.
ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "book" / "results" / "check_margins.csv"


def _committed_table():
    from replearn_core.book.results import read_csv_with_header

    return read_csv_with_header(TABLE)


def test_the_committed_table_is_what_its_logs_give_and_flags_nothing():
    header, table = _committed_table()
    words = shlex.split(header["command"])
    logs = [ROOT / w for w in words[words.index("--logs") + 1:] if w.endswith(".jsonl")]
    assert logs and all(p.exists() for p in logs), header["command"]
    records = margins.read_logs(logs)
    rebuilt = margins.margins(margins.with_current_bounds(records[records["chapter"].notna()])).round(6)
    key = ["chapter", "check"]
    assert sorted(zip(rebuilt["chapter"], rebuilt["check"])) == sorted(zip(table["chapter"], table["check"]))
    joined = table.merge(rebuilt, on=key, suffixes=("", "_rebuilt"))
    for column in ("bound", "runs", "mean", "spread", "margin_spreads"):
        assert joined[column].to_numpy() == pytest.approx(joined[f"{column}_rebuilt"].to_numpy(), rel=1e-5), column
    assert not table["flagged"].any(), table[table["flagged"]]


def test_every_check_the_chapters_print_is_in_the_table_with_its_current_bound():
    # A bound moved in a chapter without a new margin run would show here: the chapter's stored
    # output prints "<name> <op> <bound>: OK", and the table must hold that name, operator and bound.
    _, table = _committed_table()
    for notebook in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        printed = [line for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream"
                   for line in out["text"].splitlines() if line.endswith(": OK")]
        rows = table[table["chapter"] == notebook.stem]
        expected = [f"{r.check} {r.op} {r.bound:g}" for r in rows.itertuples()]
        assert [e for e in expected if not any(line.startswith(e) for line in printed)] == [], notebook.name
        assert [line for line in printed if not any(line.startswith(e) for e in expected)] == [], notebook.name
