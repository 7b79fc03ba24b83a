"""Decoder export for the static book's latent explorers (replearn_core.explorer, explorer.js)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import replearn_core as rl
from replearn_core.viz import explorer
from replearn_tools import book_assets
from replearn_core.models import AutoencoderConfig, build_model, mlp
from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()

EXPLORER_JS = REPO_ROOT / "book" / "_static" / "replearn" / "explorer.js"


def _decoder(activation: str, sizes=(3, 16, 24, 50), seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    dec = mlp(sizes, activation, final_activation=None)
    for m in dec:
        if isinstance(m, nn.Linear):  # large enough weights that every activation's shape matters
            nn.init.normal_(m.weight, std=2.0 / m.in_features ** 0.5)
            nn.init.normal_(m.bias, std=0.5)
    return dec.eval()


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "leaky_relu", "tanh"])
def test_export_round_trip_rebuilds_the_same_decoder(activation):
    dec = _decoder(activation)
    codes = torch.randn(40, 3)
    desc = explorer.export_decoder(dec, "t", codes, image_shape=(5, 10))
    assert desc["sizes"] == [3, 16, 24, 50]
    assert desc["activations"] == [activation, activation, "sigmoid"]
    if activation == "leaky_relu":
        assert desc["layers"][0]["slope"] == pytest.approx(0.2)
    desc = json.loads(json.dumps(desc))  # what the JS file holds
    rebuilt = explorer.decoder_from_description(desc)
    z = torch.randn(100, 3) * 3
    with torch.no_grad():
        assert torch.equal(rebuilt(z), torch.sigmoid(dec(z)))
    np.testing.assert_array_equal(explorer.description_codes(desc), codes.numpy())
    np.testing.assert_allclose(desc["ranges"], rl.traversal.observed_ranges(codes).numpy(), rtol=1e-6)


def test_export_takes_a_book_model_and_its_decoder():
    model = build_model(AutoencoderConfig(hidden=(20,), latent_dim=4, activation="leaky_relu")).eval()
    desc = explorer.export_decoder(model, "ae", torch.zeros(1, 4), (-1, 1))
    rebuilt = explorer.decoder_from_description(desc)
    z = torch.randn(8, 4)
    with torch.no_grad():
        assert torch.equal(rebuilt(z), model.decode(z))
    assert desc["ranges"] == [[-1.0, 1.0]] * 4 and desc["n_codes"] == 1


def test_a_decoder_ending_in_a_sigmoid_is_not_squashed_twice():
    dec = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 4), nn.Sigmoid())
    desc = explorer.export_decoder(dec, "s", torch.zeros(1, 2), (-1, 1), image_shape=(2, 2))
    assert desc["activations"] == ["tanh", "sigmoid"]
    z = torch.randn(5, 2)
    with torch.no_grad():
        assert torch.equal(explorer.decoder_from_description(desc)(z), dec(z))
    with pytest.raises(ValueError, match="output_activation"):
        explorer.export_decoder(dec, "s", torch.zeros(1, 2), (-1, 1), image_shape=(2, 2), output_activation="sigmoid")


@pytest.mark.parametrize("kwargs, field", [
    ({"decoder_model": nn.Sequential(nn.Linear(2, 4), nn.Softplus())}, "decoder_model"),
    ({"decoder_model": nn.Conv2d(1, 1, 3)}, "decoder_model"),
    ({"decoder_model": nn.Sequential(nn.ReLU(), nn.Linear(2, 4))}, "decoder_model"),
    ({"name": "Bad Name!"}, "name"),
    ({"image_shape": (3, 3)}, "image_shape"),
    ({"start_codes": torch.zeros(3, 5)}, "start_codes"),
    ({"start_codes": torch.full((1, 2), float("nan"))}, "start_codes"),
    ({"ranges": [(0, 1)] * 3}, "ranges"),
    ({"ranges": [0, 1, 2]}, "ranges"),
    ({"ranges": None, "start_codes": torch.zeros(1, 2)}, "ranges"),
    ({"ranges": [(1, 0), (0, 1)]}, "ranges"),
    ({"labels": [1, 2, 3]}, "labels"),
])
def test_export_rejects_bad_input_naming_the_field(kwargs, field):
    args = {"decoder_model": nn.Sequential(nn.Linear(2, 4)), "name": "x", "start_codes": torch.zeros(2, 2),
            "image_shape": (2, 2)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"^{field}"):
        explorer.export_decoder(**args)


def test_export_refuses_oversized_decoders():
    with pytest.raises(ValueError, match="max_bytes"):
        explorer.export_decoder(nn.Linear(2, 400), "big", torch.zeros(1, 2), (-1, 1), image_shape=(20, 20),
                                max_bytes=1000)


def test_js_file_and_html(tmp_path):
    dec = _decoder("relu", sizes=(2, 8, 4))
    desc = explorer.export_decoder(dec, "tiny_2d", torch.randn(10, 2), image_shape=(2, 2), labels=list(range(10)),
                                   title="A <tiny> decoder")
    path = explorer.write_decoder_js(desc, tmp_path)
    assert path == tmp_path / "replearn" / "decoders" / "tiny_2d.js"
    text = path.read_text()
    assert "window.replearnDecoders" in text and "fetch" not in text
    assert explorer.read_decoder_js(path) == json.loads(json.dumps(desc))
    assert path.stat().st_mode & 0o044 == 0o044  # readable by a web server

    page = explorer.explorer_html("tiny_2d", 2, desc["title"])
    assert 'data-replearn-explorer="tiny_2d"' in page
    # pages are _build/html/book/<chapter>.html, the static folder _build/html/_static
    assert re.findall(r'<script src="([^"]+)"', page) == ["../_static/replearn/explorer.js",
                                                           "../_static/replearn/decoders/tiny_2d.js"]
    assert "A &lt;tiny&gt; decoder" in page and "<tiny>" not in page
    # the stored notebook output does not depend on the weights (nbval compares it)
    other = explorer.export_decoder(_decoder("relu", sizes=(2, 8, 4), seed=1), "tiny_2d", torch.randn(10, 2),
                                    image_shape=(2, 2), title="A <tiny> decoder")
    assert other["sha256"] != desc["sha256"]
    out = explorer.show_explorer(_decoder("relu", sizes=(2, 8, 4), seed=1), "tiny_2d", torch.randn(10, 2),
                                 image_shape=(2, 2), title="A <tiny> decoder", static=tmp_path)
    assert out.data == page
    assert explorer.read_decoder_js(path)["sha256"] == other["sha256"]


def test_grey_levels_match_the_canvas_rule():
    v = np.array([-0.1, 0.0, 0.5 / 255, 0.4, 1.0, 1.7])
    np.testing.assert_array_equal(explorer.grey_levels(v), [0, 0, 1, 102, 255, 255])
    np.testing.assert_array_equal(explorer.grey_levels(np.array([-1.0, 0.0, 1.0]), (-1, 1)), [0, 128, 255])


def test_explorer_js_computes_what_pytorch_computes(tmp_path):
    """explorer.js's decoder maths under Node (the browser tests check it in Chromium)."""
    node = shutil.which("node")
    assert node, "Node.js is needed to test explorer.js (Debian: apt-get install nodejs); `make book` needs it too"
    cases = {}
    for act in ["sigmoid", "relu", "leaky_relu", "tanh"]:
        dec = _decoder(act, sizes=(10, 20, 100, 400, 784))
        desc = explorer.export_decoder(dec, act.replace("_", "-"), torch.zeros(1, 10), (-3, 3))
        z = (torch.randn(20, 10) * 2).numpy()
        cases[act] = (dec, desc, z)
        (tmp_path / f"{act}.json").write_text(json.dumps({"desc": desc, "z": z.tolist()}))
    script = ("const api = require(process.argv[1]); const fs = require('fs'); const out = {};\n"
              "for (const f of process.argv.slice(2)) { const c = JSON.parse(fs.readFileSync(f));\n"
              "  const m = api.compile(c.desc); out[f] = c.z.map(z => Array.from(api.forward(m, z))); }\n"
              "console.log(JSON.stringify(out));")
    files = [str(tmp_path / f"{a}.json") for a in cases]
    proc = subprocess.run([node, "-e", script, str(EXPLORER_JS), *files], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    for act, f in zip(cases, files):
        dec, _, z = cases[act]
        with torch.no_grad():
            ref = torch.sigmoid(dec(torch.from_numpy(z))).numpy()
        diff = np.abs(np.array(got[f]) - ref).max()
        assert diff <= 1e-5, f"{act}: explorer.js differs from PyTorch by {diff}"
        assert np.ptp(ref) > 0.5, "the test decoder's outputs should vary"


def test_book_config_is_offline():
    """_config.yml loads MathJax from the vendored copy and no ipywidgets scripts."""
    import yaml

    cfg = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert cfg["mathjax_path"] == book_assets.MATHJAX_PATH and "://" not in cfg["mathjax_path"]
    assert cfg["nb_ipywidgets_js"] == {}
    assert "book/_static" in cfg["html_static_path"]
    ignore = (REPO_ROOT / "book" / "_static" / "offline" / ".gitignore").read_text().split()
    assert "*" in ignore  # the vendored files are not committed


def test_notebook_explorers_finds_the_markers(tmp_path):
    html = explorer.explorer_html("vae_2d", 2)
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "execute_result",
                                                       "data": {"text/html": html.splitlines(True)}}]}],
          "metadata": {}}
    (tmp_path / "06_vae.ipynb").write_text(json.dumps(nb))
    (tmp_path / "01_x.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
    assert book_assets.notebook_explorers(tmp_path) == {"06_vae.ipynb": ["vae_2d"]}


def test_rl_namespace():
    assert rl.explorer.show_explorer is explorer.show_explorer
