"""The architecture diagrams: well-formed SVG, drawn from the config, validated, legible."""
from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from replearn_core.models.aae import AAEConfig, AdversarialAutoencoder
from replearn_core.models.autoencoder import AutoencoderConfig
from replearn_core.models.dcgan import ConvBlock, DCGANConfig
from replearn_core.models.sparse import SparseAutoencoderConfig
from replearn_core.models.transfer import TransferConfig
from replearn_core.models.vae import VAEConfig
from replearn_core.viz import diagrams as D

SVG = "{http://www.w3.org/2000/svg}"

# The configurations of the book's chapters (rl.zoo) and a few variants.
CONFIGS = {
    "undercomplete": AutoencoderConfig(hidden=(256,), latent_dim=32),
    "deep": AutoencoderConfig(hidden=(400, 200, 100, 20), latent_dim=10, activation="leaky_relu"),
    "sparse": SparseAutoencoderConfig(),
    "vae_2d": VAEConfig(hidden=(400, 100, 10), latent_dim=2),
    "vae_20d": VAEConfig(hidden=(400,), latent_dim=20),
    "aae": AAEConfig(),
    "aae_labels": AAEConfig(prior="mixture10", use_labels=True, gen_lr_scale=1.0),
    "dcgan": DCGANConfig(),
    "dcgan_64": DCGANConfig.pytorch_examples(64),
    "transfer": TransferConfig(sparsity_weight=0.1),
    "transfer_deep_two": TransferConfig(design="two_autoencoders", hidden=(512, 128), latent_dim=64,
                                        latent_activation=None, alignment_weight=0.5),
}
DRAW = {AutoencoderConfig: D.autoencoder_diagram, SparseAutoencoderConfig: D.autoencoder_diagram,
        VAEConfig: D.vae_diagram, AAEConfig: D.aae_diagram, DCGANConfig: D.dcgan_diagram,
        TransferConfig: D.transfer_diagram}


def draw(config, **kwargs) -> D.Diagram:
    return DRAW[type(config)](config, **kwargs)


def all_diagrams():
    out = {name: draw(cfg) for name, cfg in CONFIGS.items()}
    out["graph"] = D.autoencoder_graph()
    out["graph_sized"] = D.autoencoder_graph(CONFIGS["undercomplete"])
    out["trick"] = D.reparameterisation_diagram()
    return out


DIAGRAMS = all_diagrams()


def book_diagrams():
    """The diagram of every model of the book (rl.zoo) that has one."""
    from replearn_core.book.zoo import BOOK_MODELS

    return {name: draw(cfg) for name, cfg in ((n, e.model) for n, e in BOOK_MODELS.items()) if type(cfg) in DRAW}


BOOK = book_diagrams()


def texts(diagram: D.Diagram) -> list[str]:
    """The text of every <text> element (its tspans joined), as a reader sees it."""
    root = ET.fromstring(diagram.svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_svg_is_well_formed_and_accessible(name):
    d = DIAGRAMS[name]
    root = ET.fromstring(d.svg)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    _, _, w, h = map(float, root.get("viewBox").split())
    assert w == pytest.approx(d.width, abs=0.1) and h == pytest.approx(d.height, abs=0.1)
    assert float(root.get("width")) == pytest.approx(w, abs=0.1)
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == d.title and len(title.text) > 10
    assert desc is not None and desc.text == d.desc and len(desc.text) > 60
    assert root.get("role") == "img"
    assert set(root.get("aria-labelledby").split()) == {title.get("id"), desc.get("id")}
    assert d._repr_svg_() == d.svg
    # every label is at least 12 px (sub/superscripts aside)
    sizes = [float(t.get("font-size")) for t in root.iter(f"{SVG}text")]
    assert min(sizes) >= 12


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_no_two_labels_overlap(name):
    boxes = DIAGRAMS[name].text_boxes
    assert boxes
    clashes = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5]
    assert clashes == []


def test_every_book_architecture_has_a_diagram():
    assert {"undercomplete_ae", "deep_ae_sigmoid", "sparse_ae", "vae_2d", "vae_20d", "aae_gaussian",
            "aae_mixture_labels", "dcgan", "transfer_sparse", "transfer_deep_two_ae"} <= set(BOOK)


@pytest.mark.parametrize("name", sorted(BOOK))
def test_book_diagrams_fit_the_text_column_without_overlaps(name):
    # the book's text column is about 780 px wide (sphinx-book-theme at 1400 px): these show at
    # their natural size, so their 12-14 px text stays 12-14 px
    d = BOOK[name]
    assert d.width <= 780
    boxes = d.text_boxes
    assert not [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5]


def _numbers(diagram) -> set[str]:
    return {tok.replace(",", "") for t in texts(diagram) for tok in t.replace("×", " ").replace("+", " ").split()}


@pytest.mark.parametrize("name", ["undercomplete", "deep", "sparse", "transfer", "transfer_deep_two"])
def test_autoencoder_layer_sizes_are_written(name):
    cfg = CONFIGS[name]
    numbers = _numbers(DIAGRAMS[name])
    for size in (cfg.input_dim, *cfg.hidden, cfg.latent_dim):
        assert str(size) in numbers


def test_autoencoder_diagram_columns_follow_the_config():
    cfg = CONFIGS["deep"]
    root = ET.fromstring(D.autoencoder_diagram(cfg).svg)
    # one column per layer, encoder and mirrored decoder: input, 4 hidden, code, 4 hidden, output
    columns = [r for r in root.iter(f"{SVG}rect") if r.get("width") == "26"]
    assert len(columns) == 2 * len(cfg.hidden) + 3
    heights = [float(r.get("height")) for r in columns]
    sizes = [784, 400, 200, 100, 20, 10, 20, 100, 200, 400, 784]
    assert heights == pytest.approx([D.column_height(s) for s in sizes], abs=0.1)
    assert heights == heights[::-1]  # the decoder mirrors the encoder
    assert D.column_height(784) > D.column_height(32) > D.column_height(2)


def test_vae_diagram_sizes_and_heads():
    cfg = CONFIGS["vae_2d"]
    t = texts(DIAGRAMS["vae_2d"])
    numbers = _numbers(DIAGRAMS["vae_2d"])
    for size in cfg.layer_sizes:
        assert str(size) in numbers
    assert "2 + 2" in t  # the two heads, mu and log sigma^2
    assert any("ε ∼ N(0, I)" in s for s in t)
    assert any("∂z/∂μ = 1" in s for s in t) and any("∂z/∂σ = ε" in s for s in t)
    arch = D.vae_diagram(cfg, panels=("architecture",))
    assert not any("∂z" in s for s in texts(arch))
    trick = D.vae_diagram(cfg, panels=("trick",))
    assert "784" not in _numbers(trick)


def test_aae_diagram_players_phases_and_sizes():
    cfg = CONFIGS["aae"]
    t = " | ".join(texts(DIAGRAMS["aae"]))
    for size in (cfg.input_dim, *cfg.hidden, cfg.latent_dim, *cfg.disc_hidden):
        assert str(size) in _numbers(DIAGRAMS["aae"])
    for phase in AdversarialAutoencoder.phases:
        assert phase in t
    assert f"lr × {cfg.disc_lr_scale:g}" in t and f"lr × {cfg.gen_lr_scale:g}" in t
    assert "N(0, I2)" in t  # the Gaussian prior of a 2-d code
    labelled = " | ".join(texts(DIAGRAMS["aae_labels"]))
    assert "2 + 10" in labelled and "10 Gaussians on a circle" in labelled and "one-hot" in labelled


def test_dcgan_diagram_uses_the_config_shapes():
    for name in ("dcgan", "dcgan_64"):
        cfg = CONFIGS[name]
        t = texts(DIAGRAMS[name])
        for _, (c, h, w) in cfg.generator_shapes() + cfg.discriminator_shapes():
            assert f"{c}×{h}×{w}" in t
    bigger = dataclasses.replace(CONFIGS["dcgan"], d1=128)
    assert "128×7×7" in texts(D.dcgan_diagram(bigger))


@pytest.mark.parametrize("field, a, b", [("latent_dim", 2, 20), ("hidden", (256,), (512, 64)),
                                         ("input_dim", 784, 1024)])
def test_autoencoder_diagram_changes_with_the_config(field, a, b):
    da = D.autoencoder_diagram(AutoencoderConfig(**{field: a}))
    db = D.autoencoder_diagram(AutoencoderConfig(**{field: b}))
    assert da.svg != db.svg and da.title != db.title
    for v in (b if isinstance(b, tuple) else (b,)):
        assert str(v) in _numbers(db)


@pytest.mark.parametrize("config, field, value", [
    (VAEConfig(latent_dim=2), "latent_dim", 20),
    (AAEConfig(latent_dim=2), "latent_dim", 20),
    (AAEConfig(), "disc_hidden", (64,)),
    (AAEConfig(), "disc_lr_scale", 0.3),
    (TransferConfig(), "design", "two_autoencoders"),
    (TransferConfig(), "latent_dim", 64),
    (DCGANConfig(), "z_dim", 20),
])
def test_diagram_changes_with_the_config(config, field, value):
    changed = dataclasses.replace(config, **{field: value})
    d0, d1 = draw(config), draw(changed)
    assert d0.svg != d1.svg and d0.desc != d1.desc
    if isinstance(value, int):
        assert str(value) in _numbers(d1)


@pytest.mark.parametrize("function, config", [
    (D.autoencoder_diagram, VAEConfig()),
    (D.autoencoder_graph, VAEConfig()),
    (D.vae_diagram, AutoencoderConfig()),
    (D.aae_diagram, VAEConfig()),
    (D.dcgan_diagram, AAEConfig()),
    (D.transfer_diagram, AutoencoderConfig()),
    (D.vae_diagram, {"latent_dim": 2}),
    (D.autoencoder_diagram, None),
])
def test_wrong_config_type_is_rejected(function, config):
    with pytest.raises(ValueError, match="config"):
        function(config)


def test_a_config_broken_after_construction_is_rejected():
    cfg = VAEConfig()
    object.__setattr__(cfg, "latent_dim", 0)  # frozen dataclasses can still be forced
    with pytest.raises(ValueError, match="latent_dim"):
        D.vae_diagram(cfg)
    cfg = AAEConfig()
    object.__setattr__(cfg, "disc_hidden", ())
    with pytest.raises(ValueError, match="disc_hidden"):
        D.aae_diagram(cfg)


def test_too_deep_to_draw_is_rejected():
    deep = AutoencoderConfig(hidden=tuple(range(400, 400 - 10 * (D.MAX_LAYERS + 1), -10)))
    with pytest.raises(ValueError, match="hidden"):
        D.autoencoder_diagram(deep)
    wide = DCGANConfig(discriminator_dense=(8,) * (D.MAX_LAYERS + 1))
    with pytest.raises(ValueError, match="discriminator_dense"):
        D.dcgan_diagram(wide)


def test_panels_caption_and_number_are_checked():
    cfg = VAEConfig()
    for panels in ((), ("trick", "trick"), ("arch",), "trick"):
        with pytest.raises(ValueError, match="panels"):
            D.vae_diagram(cfg, panels=panels)
    with pytest.raises(ValueError, match="caption"):
        D.autoencoder_diagram(AutoencoderConfig(), caption=3)
    with pytest.raises(ValueError, match="number"):
        D.autoencoder_diagram(AutoencoderConfig(), number=True)


def test_caption_and_figure_number():
    cfg = AutoencoderConfig()
    numbered = " ".join(texts(D.autoencoder_diagram(cfg, number=2)))
    assert "Figure 2." in numbered
    custom = texts(D.autoencoder_diagram(cfg, caption="Our own words.", number="2a"))
    assert any(t.startswith("Figure 2a.") and "Our own words." in t for t in custom)
    bare = D.autoencoder_diagram(cfg, caption="")
    assert not any("Figure" in t or "column" in t for t in texts(bare))
    assert bare.height < D.autoencoder_diagram(cfg).height


def test_long_captions_wrap_inside_the_figure():
    d = D.autoencoder_graph(caption="word " * 200)
    root = ET.fromstring(d.svg)
    x0, _, w, _ = map(float, root.get("viewBox").split())
    caption_lines = [t for t in root.iter(f"{SVG}text") if "".join(t.itertext()).startswith("word")]
    assert len(caption_lines) > 5
    for t in caption_lines:
        width = D.label_width("".join(t.itertext()))
        assert float(t.get("x")) + width <= x0 + w + 0.5


def test_markup_sets_variables_in_italic_and_scripts_smaller():
    svg = D.autoencoder_graph(CONFIGS["undercomplete"]).svg
    assert '<tspan font-style="italic">h</tspan>' in svg
    assert 'font-size="8.6"' in svg  # the superscript of R^32 (12 px * 0.72)
    assert D.label_width("$x$") > 0 and D.label_width("784") < D.label_width("78400")
    assert D.label_width("abc", 14) == pytest.approx(2 * D.label_width("abc", 7), rel=1e-3)
    assert D._plain("$\\log σ^2$") == "log σ2"


def test_html_form_is_an_img_of_the_same_svg():
    import base64
    import html
    import re

    d = DIAGRAMS["vae_2d"]
    tag = d._repr_html_()
    assert tag.startswith("<img ") and tag.endswith(">")
    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', tag).group(1)
    assert base64.b64decode(src).decode("utf-8") == d.svg
    alt = html.unescape(re.search(r'alt="([^"]*)"', tag).group(1))
    assert alt == f"{d.title}. {d.desc}"
    assert f'width="{round(d.width)}"' in tag or f'width="{d.width:.1f}"'.replace(".0", "") in tag


def test_save_writes_the_svg(tmp_path):
    path = DIAGRAMS["aae"].save(tmp_path / "aae.svg")
    assert path.read_text(encoding="utf-8") == DIAGRAMS["aae"].svg
    assert repr(DIAGRAMS["aae"]).startswith("<Diagram 'Adversarial autoencoder")


def test_deterministic():
    assert D.aae_diagram(AAEConfig()).svg == D.aae_diagram(AAEConfig()).svg  # nbval compares SVG outputs


def test_dcgan_block_changes_the_arrow_label():
    default = DCGANConfig()
    assert "conv 5×5/2, p2" not in texts(D.dcgan_diagram(default))
    cfg = dataclasses.replace(default, discriminator_blocks=(ConvBlock(32, kernel=5, stride=2, padding=2,
                                                                       batch_norm=False),
                                                             *default.discriminator_blocks[1:]))
    assert "conv 5×5/2, p2" in texts(D.dcgan_diagram(cfg))


def _extreme_configs():
    """Seeded odd architectures: sizes from 1 to 100,000 units, up to 6 hidden layers."""
    import random

    rng = random.Random(0)
    sizes = [1, 2, 3, 10, 32, 100, 784, 4096, 100_000]
    out = []
    for _ in range(12):
        hidden = tuple(rng.choice(sizes) for _ in range(rng.randint(0, 6)))
        latent, inp = rng.choice(sizes[:7]), rng.choice([10, 784, 4096, 100_000])
        out.append(AutoencoderConfig(input_dim=inp, hidden=hidden, latent_dim=latent))
        out.append(VAEConfig(input_dim=inp, hidden=hidden, latent_dim=latent))
        out.append(TransferConfig(input_dim=inp, hidden=hidden, latent_dim=latent, latent_activation=None,
                                  design=rng.choice(["shared_encoder", "two_autoencoders"])))
        if hidden:
            out.append(AAEConfig(input_dim=inp, hidden=hidden, latent_dim=latent,
                                 disc_hidden=hidden[:rng.randint(1, len(hidden))]))
    return out


@pytest.mark.parametrize("config", _extreme_configs(), ids=lambda c: f"{type(c).__name__}")
def test_odd_architectures_draw_without_overlapping_labels(config):
    d = draw(config)
    ET.fromstring(d.svg)
    boxes = d.text_boxes
    assert not [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5]
