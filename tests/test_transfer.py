"""Latent space transfer (chapter 09): the split, the transfer path, shapes, configs, measurements."""
from __future__ import annotations

import pytest
import torch

import replearn_core as rl
from replearn_core import data
from replearn_core.book import zoo
from replearn_core.models import transfer as tr

TINY = dict(input_dim=4096, hidden=(8,), latent_dim=4)


def tiny(design: str = "shared_encoder", **kw) -> tr.TransferAutoencoder:
    torch.manual_seed(0)
    return tr.TransferAutoencoder(tr.TransferConfig(design=design, **{**TINY, **kw}))


# ---------------------------------------------------------------------------------------------
# The split


def test_split_keeps_subjects_apart():
    split = data.face_split()
    train, test = set(split.subjects_train.tolist()), set(split.subjects_test.tolist())
    assert train and test and not train & test
    assert len(split.x_train) + len(split.x_test) == 400
    assert test == set(data.FACE_TEST_SUBJECTS) and train == set(range(40)) - test
    # the identity check needs every mixed subject, with and without glasses, in the test set
    for s in rl.data.SUBJECTS_WITH_AND_WITHOUT_GLASSES:
        assert s in test
        labels = split.glasses_test[split.subjects_test == s]
        assert (labels == 1).any() and (labels == 0).any()
    # both domains are present among the training subjects
    assert (split.glasses_train == 1).sum() >= 50 and (split.glasses_train == 0).sum() >= 50


def test_split_rejects_bad_subjects():
    with pytest.raises(ValueError, match="test_subjects"):
        data.face_split(test_subjects=(3, 41))


def test_faces_match_their_rows():
    x, subjects, glasses = rl.load_olivetti()
    split = data.face_split()
    idx = int(torch.nonzero(subjects == split.subjects_test[0])[0])
    assert torch.equal(split.x_test[0], x[idx].flatten())
    assert int(split.glasses_test[0]) == int(glasses[idx])


# ---------------------------------------------------------------------------------------------
# The transfer path


@pytest.mark.parametrize("design", tr.DESIGNS)
@pytest.mark.parametrize("source", [tr.GLASSES, tr.NO_GLASSES])
def test_transfer_uses_the_other_domains_decoder(design, source):
    m = tiny(design).eval()
    x = torch.rand(5, 4096)
    other = 1 - source
    enc = m.encoders[0] if design == "shared_encoder" else m.encoders[source]
    expected = torch.sigmoid(m.decoders[other](enc(x - 0.5)))
    assert torch.allclose(m.transfer(x, source), expected)
    calls = []
    hooks = [m.decoders[d].register_forward_hook(lambda *a, d=d: calls.append(d)) for d in (0, 1)]
    m.transfer(x, source)
    for h in hooks:
        h.remove()
    assert calls == [other]
    # changing the own decoder leaves the transfer unchanged; changing the other decoder does not
    before = m.transfer(x, source)
    with torch.no_grad():
        m.decoders[source][-1].bias.add_(3.0)
    assert torch.equal(m.transfer(x, source), before)
    with torch.no_grad():
        m.decoders[other][-1].bias.add_(3.0)
    assert not torch.allclose(m.transfer(x, source), before)


@pytest.mark.parametrize("design", tr.DESIGNS)
def test_reconstruct_uses_its_own_decoder(design):
    m = tiny(design).eval()
    x = torch.rand(3, 4096)
    calls = []
    hooks = [m.decoders[d].register_forward_hook(lambda *a, d=d: calls.append(d)) for d in (0, 1)]
    m.reconstruct(x, tr.GLASSES)
    m.reconstruct(x, tr.NO_GLASSES)
    for h in hooks:
        h.remove()
    assert calls == [tr.GLASSES, tr.NO_GLASSES]


def test_designs_differ_in_encoders_and_start_identical():
    shared, two = tiny("shared_encoder"), tiny("two_autoencoders")
    assert len(shared.encoders) == 1 and len(two.encoders) == 2
    for a, b in zip(two.encoders[0].parameters(), two.encoders[1].parameters()):
        assert torch.equal(a, b) and a is not b
    for a, b in zip(shared.decoders[0].parameters(), shared.decoders[1].parameters()):
        assert torch.equal(a, b) and a is not b
    x = torch.rand(4, 4096)
    assert torch.equal(two.encode(x, 0), two.encode(x, 1))  # identical start...
    with torch.no_grad():
        two.encoders[1][0].bias.add_(1.0)
    assert not torch.equal(two.encode(x, 0), two.encode(x, 1))  # ...but separate parameters


def test_bad_domain_is_rejected():
    m = tiny()
    with pytest.raises(ValueError, match="domain"):
        m.transfer(torch.rand(2, 4096), source=2)


# ---------------------------------------------------------------------------------------------
# Shapes, loss terms, training


@pytest.mark.parametrize("design,kw", [("shared_encoder", {}),
                                       ("two_autoencoders", {"alignment_weight": 0.5}),
                                       ("shared_encoder", {"hidden": (), "latent_activation": "sigmoid",
                                                           "sparsity_weight": 0.1, "weight_decay": 1e-3})])
def test_forward_shapes_and_terms(design, kw):
    m = tiny(design, **kw)
    x = torch.rand(6, 64, 64)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    out = m(x, y)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.logits.shape == (6, 4096)
    assert {"reconstruction_glasses", "reconstruction_no_glasses", "loss"} <= set(out.terms)
    assert ("sparsity" in out.terms) == (kw.get("sparsity_weight", 0) > 0)
    assert ("weight_l2" in out.terms) == (kw.get("weight_decay", 0) > 0)
    assert ("alignment" in out.terms) == (kw.get("alignment_weight", 0) > 0)
    cfg, t = m.config, out.terms
    total = (t["reconstruction_glasses"] + t["reconstruction_no_glasses"]
             + cfg.sparsity_weight * t.get("sparsity", 0) + cfg.weight_decay * t.get("weight_l2", 0)
             + cfg.alignment_weight * t.get("alignment", 0))
    assert torch.allclose(out.loss, total) and torch.equal(out.loss, t["loss"])
    assert m.encode(x, 1).shape == (6, m.config.latent_dim)
    assert m.reconstruct(x, 0).shape == m.transfer(x, 1).shape == (6, 4096)
    out.loss.backward()
    assert all(p.grad is not None for p in m.decoders.parameters())


def test_forward_with_one_domain_in_the_batch_and_without_labels():
    m = tiny()
    out = m(torch.rand(3, 4096), torch.ones(3, dtype=torch.long))
    assert float(out.terms["reconstruction_no_glasses"].detach()) == 0.0
    assert float(out.terms["reconstruction_glasses"].detach()) > 0
    with pytest.raises(ValueError, match="needs y"):
        m(torch.rand(3, 4096))


def test_two_autoencoders_train_independently():
    """In the report's design the glasses faces' loss gives no gradient to the other autoencoder."""
    m = tiny("two_autoencoders")
    out = m(torch.rand(4, 4096), torch.ones(4, dtype=torch.long))
    out.loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in m.encoders[tr.NO_GLASSES].parameters())
    assert all(p.grad is None or not p.grad.any() for p in m.decoders[tr.NO_GLASSES].parameters())
    assert any(p.grad is not None and p.grad.any() for p in m.encoders[tr.GLASSES].parameters())


def test_training_lowers_the_loss():
    split = data.face_split()
    x, g = split.x_train[::10], split.glasses_train[::10]  # 28 faces, both domains
    assert (g == 1).any() and (g == 0).any()
    m = tiny()
    with torch.no_grad():
        before = {k: float(v) for k, v in m(x, g).terms.items()}
    train = rl.TrainConfig(epochs=15, batch_size=28, lr=3e-3, dataset="olivetti")
    rl.fit(m, rl.DeviceBatches(x, g, batch_size=28, seed=0), train, progress=False)
    with torch.no_grad():
        after = {k: float(v) for k, v in m(x, g).terms.items()}
    for term in ("reconstruction_glasses", "reconstruction_no_glasses"):
        assert after[term] < before[term] - 20, (term, before[term], after[term])


# ---------------------------------------------------------------------------------------------
# Configs


@pytest.mark.parametrize("changes,field", [
    ({"design": "three_autoencoders"}, "design"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"hidden": [8]}, "hidden"),
    ({"hidden": (8, -1)}, "hidden"),
    ({"activation": "gelu"}, "activation"),
    ({"latent_activation": "softmax"}, "latent_activation"),
    ({"sparsity_weight": -1.0}, "sparsity_weight"),
    ({"sparsity_target": 1.0}, "sparsity_target"),
    ({"sparsity_weight": 0.1, "latent_activation": None}, "sparsity_weight"),
    ({"weight_decay": -1e-3}, "weight_decay"),
    ({"alignment_weight": 1.0}, "alignment_weight"),  # the shared design has one encoder only
])
def test_transfer_config_validation(changes, field):
    with pytest.raises(ValueError, match=field):
        tr.TransferConfig(**changes)


@pytest.mark.parametrize("changes,field", [
    ({"channels": (8,)}, "channels"), ({"highpass_sigma": -1.0}, "highpass_sigma"),
    ({"blur_sigma": -0.5}, "blur_sigma"), ({"glasses_weight": 0}, "glasses_weight"), ({"dropout": 1.0}, "dropout"),
])
def test_classifier_config_validation(changes, field):
    with pytest.raises(ValueError, match=field):
        tr.GlassesClassifierConfig(**changes)


def test_book_models_are_in_the_zoo_with_their_face_data():
    names = [n for n, e in zoo.BOOK_MODELS.items() if e.chapter == "09_latent_transfer"]
    assert sorted(names) == sorted(["glasses_classifier", "transfer_sparse", "transfer_deep", "transfer_sparse_two_ae",
                                    "transfer_deep_two_ae"])
    for name in names:
        entry = zoo.BOOK_MODELS[name]
        assert entry.data is zoo.face_data and entry.data_key == zoo.FACE_DATA_KEY
    batches = zoo.face_data(zoo.BOOK_MODELS["transfer_sparse"].training, torch.device("cpu"), None)
    x, g = next(iter(batches))
    assert x.shape[1] == 4096 and set(g.unique().tolist()) <= {0, 1}
    assert len(batches.tensors[0]) == 10 * 300  # 300 training faces in 10 augmented copies (flip x 5 shifts)
    with pytest.raises(ValueError, match="dataset"):
        rl.train_or_load(zoo.BOOK_MODELS["transfer_sparse"].model, zoo.TRANSFER_TRAINING, progress=False)


# ---------------------------------------------------------------------------------------------
# Data helpers, classifier and measurements


def test_augment_faces_copies_and_shifts():
    x = torch.rand(3, 64, 64)
    labels = torch.tensor([0, 1, 1])
    out, lab = data.augment_faces(x, labels, flips=True, shifts=(-2, 2))
    assert out.shape == (30, 64, 64) and lab.tolist() == [0, 1, 1] * 10
    assert torch.equal(out[:3], x) and torch.equal(out[3:6], x.flip(-1))
    assert torch.equal(out[18:21, :, 2:], x[:, :, :-2])  # moved 2 pixels right
    assert torch.equal(out[21:24, 2:, :], x[:, :-2, :])  # moved 2 pixels down
    flat, = data.augment_faces(x.reshape(3, -1), flips=False)
    assert flat.shape == (3, 4096)
    with pytest.raises(ValueError, match="shifts"):
        data.augment_faces(x, shifts=(0,))


def test_glasses_classifier_shapes_and_probabilities():
    torch.manual_seed(0)
    clf = tr.GlassesClassifier()
    x = torch.rand(5, 4096)
    assert clf.preprocess(x).shape == (5, 1, tr.EYE_ROWS[1] - tr.EYE_ROWS[0], 64)
    p = clf.predict_proba(x)[:, tr.GLASSES]
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    assert clf.predict(x).shape == (5,)
    out = clf(x, torch.tensor([0, 1, 0, 1, 0]))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="needs y"):
        clf(x)


def test_glasses_judge_averages_its_members_probabilities():
    torch.manual_seed(0)
    members = [tr.GlassesClassifier() for _ in range(3)]
    judge = tr.GlassesJudge(members)
    x = torch.rand(6, 4096)
    each = torch.stack([m.predict_proba(x) for m in members])
    assert not torch.allclose(each[0], each[1])  # the members have their own weights
    torch.testing.assert_close(judge.predict_proba(x), each.mean(0))
    assert judge.predict(x).tolist() == each.mean(0).argmax(1).tolist()
    assert judge.num_parameters() == 3 * members[0].num_parameters()
    assert tr.removal_rate(judge, x) == float((each.mean(0).argmax(1) == tr.NO_GLASSES).float().mean())
    with pytest.raises(ValueError, match="member"):
        tr.GlassesJudge([])


def test_identity_and_distance_measures():
    gallery = torch.stack([torch.zeros(4096), torch.zeros(4096), torch.ones(4096)])
    gallery_subjects = torch.tensor([5, 5, 9])
    queries = torch.stack([torch.full((4096,), 0.1), torch.full((4096,), 0.8)])
    assert tr.nearest_subject(queries, gallery, gallery_subjects).tolist() == [5, 9]
    assert tr.identity_top1(queries, torch.tensor([5, 5]), gallery, gallery_subjects).tolist() == [1, 0]
    a = torch.rand(2, 64, 64)
    b = a.clone()
    b[:, tr.EYE_ROWS[0]:tr.EYE_ROWS[1]] += 0.5  # differences inside the eye band do not count
    assert torch.allclose(tr.rms_outside_eyes(a, b), torch.zeros(2))
    b[:, 0] += 0.5
    assert (tr.rms_outside_eyes(a, b) > 0).all()
    assert int(tr.eye_mask().sum()) == 64 * (tr.EYE_ROWS[1] - tr.EYE_ROWS[0])


def test_measure_transfer_keys_and_ranges():
    split = data.face_split()
    torch.manual_seed(0)
    r = tr.measure_transfer(tiny(), tr.GlassesClassifier(), split)
    assert {"removal", "false_removal", "plain_kept", "identity_transfer", "identity_own",
            "rms_out_transfer_vs_input", "rms_out_own_vs_input", "rms_out_transfer_vs_own"} == set(r)
    assert all(0.0 <= v <= 1.0 for v in r.values())


def test_forward_rejects_unknown_domains_and_penalises_each_autoencoder():
    m = tiny(hidden=(), latent_activation="sigmoid", sparsity_weight=0.5)
    with pytest.raises(ValueError, match="y: domain labels"):
        m(torch.rand(2, 4096), torch.tensor([0, 2]))
    two = tiny("two_autoencoders", hidden=(), latent_activation="sigmoid", sparsity_weight=0.5)
    x, y = torch.rand(6, 4096), torch.tensor([0, 1, 1, 0, 1, 0])
    expected = sum(rl.losses.kl_sparsity_penalty(two.encode(x[y == d], d), 0.05) for d in (0, 1))
    assert torch.allclose(two(x, y).terms["sparsity"], expected)
