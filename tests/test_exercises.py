"""The exercise checkers (replearn_core.book.exercises): every checker accepts the library's own
function and other correct ways of writing it, rejects the typical mistakes with a message that
names the failed case (and the mistake where it recognises it), and turns a stub into one
"not implemented yet" line."""
from __future__ import annotations

import math
import re

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import replearn_core as rl
from replearn_core.book import exercises as ex
from replearn_core.models import dcgan, vae
from replearn_core.models.transfer import GLASSES, NO_GLASSES


# ---------------------------------------------------------------------------------------------
# Correct answers: the library's own, and the ways a reader may write them


def kl_sparsity_written_out(h, rho):
    rho_hat = torch.clamp(h.sum(dim=0) / h.shape[0], 1e-6, 1 - 1e-6)
    return torch.sum(rho * math.log(rho) - rho * torch.log(rho_hat)
                     + (1 - rho) * math.log1p(-rho) - (1 - rho) * torch.log1p(-rho_hat))


def l2_loop(weights):
    total = 0.0
    for w in weights:
        total = total + (w * w).sum()
    return total / 2


def nll_softplus(logits, x):
    n = x.shape[0]
    l, t = logits.reshape(n, -1), x.reshape(n, -1)
    return (t * F.softplus(-l) + (1 - t) * F.softplus(l)).sum(1).mean()


def reparameterize_empty_normal(mu, logvar, generator=None):
    eps = torch.empty_like(mu).normal_(generator=generator)
    return mu + eps * torch.exp(logvar / 2)


def reparameterize_sqrt(mu, logvar, generator=None):
    return mu + torch.sqrt(torch.exp(logvar)) * torch.randn(mu.shape, generator=generator)


def gaussian_kl_per_example(mu, logvar):
    per_example = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1)
    return per_example.mean()


def negative_elbo_own(logits, x, mu, logvar):
    return nll_softplus(logits, x) + gaussian_kl_per_example(mu, logvar)


def discriminator_logsigmoid(real_logits, fake_logits):
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def generator_softplus(fake_logits):
    return F.softplus(-fake_logits).mean()


def slerp_written_out(z_a, z_b, t):
    t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
    na, nb = torch.linalg.norm(z_a), torch.linalg.norm(z_b)
    cos = torch.clamp(torch.dot(z_a / na, z_b / nb), -1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos)
    direction = (torch.sin((1 - t) * omega) * z_a / na + torch.sin(t * omega) * z_b / nb) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def slerp_linear_fallback(z_a, z_b, t):
    t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
    na, nb = z_a.norm(), z_b.norm()
    ua, ub = z_a / na, z_b / nb
    omega = torch.acos(torch.clamp((ua * ub).sum(), -1.0, 1.0))
    if omega < 1e-3:  # (almost) the same direction: slerp is linear there
        direction = (1 - t) * ua + t * ub
    else:
        direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def traversal_loops(z0, ranges, steps):
    d = z0.shape[0]
    values = torch.stack([torch.linspace(float(lo), float(hi), steps) for lo, hi in ranges])
    codes = torch.empty(d, steps, d)
    for i in range(d):
        for k in range(steps):
            frame = z0.clone()
            frame[i] = values[i, k]
            codes[i, k] = frame
    return codes, values


def mmd_loops(x, y, bandwidths):
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (n * (n - 1))
            - 2 * kxy.mean())


def cluster_accuracy_hungarian(labels, clusters):
    from scipy.optimize import linear_sum_assignment
    k = max(labels.max(), clusters.max()) + 1
    counts = np.zeros((k, k))
    for c, y in zip(clusters, labels):
        counts[c, y] += 1
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return counts[rows, cols].sum() / len(labels)


def inception_xlogy(probs):
    marginal = probs.mean(0, keepdim=True)
    kl = (torch.xlogy(probs, probs) - torch.xlogy(probs, marginal.expand_as(probs))).sum(1)
    return torch.exp(kl.mean())


def conv_size_floor(width, kernel, stride, padding):
    return math.floor((width - kernel + 2 * padding) / stride) + 1


def transfer_by_hand(model, x):
    return model.decode(model.encode(x, GLASSES), NO_GLASSES)


CORRECT = {
    "check_kl_sparsity": [lambda h, rho: rl.losses.kl_sparsity_penalty(h, rho), kl_sparsity_written_out],
    "check_l2_penalty": [lambda ws: rl.losses.l2_weight_penalty(ws), l2_loop],
    "check_bernoulli_nll": [rl.losses.bernoulli_nll, nll_softplus],
    "check_reparameterize": [vae.reparameterize, reparameterize_empty_normal, reparameterize_sqrt],
    "check_gaussian_kl": [rl.losses.gaussian_kl, gaussian_kl_per_example],
    "check_negative_elbo": [rl.losses.negative_elbo, negative_elbo_own],
    "check_discriminator_loss": [rl.losses.discriminator_loss, discriminator_logsigmoid],
    "check_generator_loss": [rl.losses.generator_loss, generator_softplus],
    "check_slerp": [lambda a, b, t: rl.traversal.interpolate(a, b, t, mode="slerp"), slerp_written_out,
                    slerp_linear_fallback],
    "check_traversal_codes": [rl.traversal.traversal_codes, traversal_loops],
    "check_mmd": [rl.metrics.mmd_rbf, mmd_loops],
    "check_cluster_accuracy": [rl.metrics.cluster_accuracy, cluster_accuracy_hungarian],
    "check_inception_score": [rl.metrics.inception_score, inception_xlogy],
    "check_conv_output_size": [dcgan.conv_output_size, conv_size_floor],
    "check_transfer": [lambda m, x: m.transfer(x), transfer_by_hand],
}


def test_every_checker_is_covered():
    assert set(CORRECT) == set(ex.CHECKERS)
    assert set(CORRECT) <= {m[0] for m in MISTAKES}
    for name, check in ex.CHECKERS.items():
        assert name.startswith("check_") and check.signature and check.reference and check.__doc__


@pytest.mark.parametrize("checker,answer", [(name, fn) for name, fns in CORRECT.items() for fn in fns],
                         ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", "fn"))
def test_checker_accepts_correct_answers(checker, answer, capsys):
    ex.CHECKERS[checker](answer)
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{checker}: all \d+ cases passed", line), line


# ---------------------------------------------------------------------------------------------
# Typical mistakes: (checker, the wrong function, what the message must say)


def _rho_hat(h):
    return h.mean(0).clamp(1e-6, 1 - 1e-6)


def kl_reversed(h, rho):
    q = _rho_hat(h)
    return (q * torch.log(q / rho) + (1 - q) * torch.log((1 - q) / (1 - rho))).sum()


def kl_one_term(h, rho):
    return (rho * torch.log(rho / _rho_hat(h))).sum()


def kl_mean_over_units(h, rho):
    return rl.losses.kl_sparsity_penalty(h, rho) / h.shape[1]


def kl_no_clamp(h, rho):
    q = h.mean(0)
    return (rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))).sum()


def kl_per_unit(h, rho):
    q = _rho_hat(h)
    return rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))


def l2_no_half(weights):
    return sum((w ** 2).sum() for w in weights)


def l2_norms(weights):
    return 0.5 * sum(w.norm() for w in weights)


def l2_item(weights):
    return 0.5 * sum(float((w ** 2).sum()) for w in weights)


def nll_mean_pixels(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x)


def nll_sum_batch(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum")


def nll_naive(logits, x):
    p = torch.sigmoid(logits.reshape(len(x), -1))
    t = x.reshape(len(x), -1)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum(1).mean()


def nll_probabilities(logits, x):
    n = len(x)
    return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / n


def nll_per_image(logits, x):
    return F.binary_cross_entropy_with_logits(logits.reshape(len(x), -1), x.reshape(len(x), -1),
                                              reduction="none").sum(1)


def reparam_no_half(mu, logvar, generator=None):
    return mu + torch.exp(logvar) * torch.randn(mu.shape, generator=generator)


def reparam_ignores_generator(mu, logvar, generator=None):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def reparam_torch_normal(mu, logvar, generator=None):
    return torch.normal(mu, torch.exp(0.5 * logvar), generator=generator)


def reparam_detached(mu, logvar, generator=None):
    return (mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)).detach()


def reparam_no_mu(mu, logvar, generator=None):
    return torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator)


def kl_sum_batch(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()


def kl_no_half(mu, logvar):
    return (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()


def kl_sigma_not_variance(mu, logvar):
    return 0.5 * (mu ** 2 + torch.exp(logvar / 2) - 1 - logvar).sum(1).mean()


def kl_mean_all(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).mean()


def elbo_missing_kl(logits, x, mu, logvar):
    return rl.losses.bernoulli_nll(logits, x)


def elbo_minus_kl(logits, x, mu, logvar):
    return rl.losses.bernoulli_nll(logits, x) - rl.losses.gaussian_kl(mu, logvar)


def elbo_not_negated(logits, x, mu, logvar):
    return -(rl.losses.bernoulli_nll(logits, x) + rl.losses.gaussian_kl(mu, logvar))


def elbo_mean_pixels(logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits.reshape(len(x), -1), x.reshape(len(x), -1)) \
        + rl.losses.gaussian_kl(mu, logvar)


def d_swapped(real_logits, fake_logits):
    return (F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)))


def d_missing_fake(real_logits, fake_logits):
    return F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))


def d_wrong_sign(real_logits, fake_logits):
    return torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean()


def d_naive(real_logits, fake_logits):
    return -(torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean())


def d_concat_mean(real_logits, fake_logits):
    logits = torch.cat([real_logits.reshape(-1), fake_logits.reshape(-1)])
    labels = torch.cat([torch.ones(real_logits.numel()), torch.zeros(fake_logits.numel())])
    return F.binary_cross_entropy_with_logits(logits, labels)


def g_saturating(fake_logits):
    return torch.log(1 - torch.sigmoid(fake_logits)).mean()


def g_saturating_stable(fake_logits):
    return -F.softplus(fake_logits).mean()


def g_fake_label(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def g_naive(fake_logits):
    return -torch.log(torch.sigmoid(fake_logits)).mean()


def slerp_linear(z_a, z_b, t):
    t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
    return (1 - t) * z_a + t * z_b


def slerp_nan_on_identical(z_a, z_b, t):
    t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
    na, nb = z_a.norm(), z_b.norm()
    omega = torch.acos(torch.clamp((z_a / na * z_b / nb).sum(), -1.0, 1.0))
    direction = (torch.sin((1 - t) * omega) * z_a / na + torch.sin(t * omega) * z_b / nb) / torch.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def slerp_raw_vectors(z_a, z_b, t):
    t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
    omega = torch.acos(torch.clamp((z_a / z_a.norm() * z_b / z_b.norm()).sum(), -1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


def slerp_float_t_flat(z_a, z_b, t):
    out = rl.traversal.interpolate(z_a, z_b, t, mode="slerp")
    return out[0] if isinstance(t, float) else out


def traversal_all_coordinates(z0, ranges, steps):
    codes, values = rl.traversal.traversal_codes(z0, ranges, steps)
    return values[:, :, None].expand_as(codes).clone(), values


def traversal_in_place(z0, ranges, steps):
    d = len(z0)
    values = torch.stack([torch.linspace(float(lo), float(hi), steps) for lo, hi in ranges])
    frames = []
    for i in range(d):
        row = []
        for k in range(steps):
            z0[i] = values[i, k]  # modifies the caller's z0
            row.append(z0.clone())
        frames.append(torch.stack(row))
    return torch.stack(frames), values


def traversal_codes_only(z0, ranges, steps):
    return rl.traversal.traversal_codes(z0, ranges, steps)[0]


def mmd_biased(x, y, bandwidths):
    def k(a, b):
        return sum(torch.exp(-torch.cdist(a, b) ** 2 / (2 * s ** 2)) for s in bandwidths)
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def mmd_no_two(x, y, bandwidths):
    def k(a, b):
        return sum(torch.exp(-torch.cdist(a, b) ** 2 / s ** 2) for s in bandwidths)
    m, n = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return float((kxx.sum() - kxx.trace()) / (m * (m - 1)) + (kyy.sum() - kyy.trace()) / (n * (n - 1))
                 - 2 * k(x, y).mean())


def cluster_majority(labels, clusters):
    return sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters)) / len(labels)


def cluster_no_mapping(labels, clusters):
    return float((labels == clusters).mean())


def inception_no_exp(probs):
    marginal = probs.mean(0, keepdim=True)
    p = probs.clamp_min(1e-12)
    return float((p * (p.log() - marginal.log())).sum(1).mean())


def inception_nan(probs):
    marginal = probs.mean(0, keepdim=True)
    return float(torch.exp((probs * (probs.log() - marginal.log())).sum(1).mean()))


def conv_ceil(width, kernel, stride, padding):
    return math.ceil((width - kernel + 2 * padding) / stride) + 1


def conv_true_division(width, kernel, stride, padding):
    return (width - kernel + 2 * padding) / stride + 1


def conv_one_padding(width, kernel, stride, padding):
    return (width - kernel + padding) // stride + 1


def transfer_own_decoder(model, x):
    return model.decode(model.encode(x, GLASSES), GLASSES)


def transfer_logits(model, x):
    return model.decode_logits(model.encode(x, GLASSES), NO_GLASSES)


def transfer_uncentred(model, x):
    return model.decode(model.encoders[-1](x.reshape(len(x), -1)), NO_GLASSES)


MISTAKES = [
    ("check_kl_sparsity", kl_reversed, "rho = 0.05", "arguments are swapped"),
    ("check_kl_sparsity", kl_one_term, "rho = 0.05", "second term"),
    ("check_kl_sparsity", kl_mean_over_units, "rho = 0.05", "averaged over the units"),
    ("check_kl_sparsity", kl_no_clamp, "a dead and a saturated unit", "clamp"),
    ("check_kl_sparsity", kl_per_unit, "rho = 0.05", "one value per unit"),
    ("check_l2_penalty", l2_no_half, "one weight matrix", "1/2"),
    ("check_l2_penalty", l2_norms, "one weight matrix", "norms"),
    ("check_l2_penalty", l2_item, "one weight matrix", "without .item()"),
    ("check_bernoulli_nll", nll_mean_pixels, "random logits, binary images", "averaged over the pixels"),
    ("check_bernoulli_nll", nll_sum_batch, "random logits, binary images", "summed over the batch"),
    ("check_bernoulli_nll", nll_naive, "near-perfect reconstruction", "log(sigmoid(l))"),
    ("check_bernoulli_nll", nll_probabilities, "confidently wrong", "clamps log at -100"),
    ("check_bernoulli_nll", nll_per_image, "random logits, binary images", "one value per image"),
    ("check_reparameterize", reparam_no_half, "mean and standard deviation", "forget the 1/2"),
    ("check_reparameterize", reparam_ignores_generator, "the generator decides the noise", "generator=generator"),
    ("check_reparameterize", reparam_torch_normal, "gradients reach mu and logvar", "torch.normal"),
    ("check_reparameterize", reparam_detached, "gradients reach mu and logvar", "differentiably"),
    ("check_reparameterize", reparam_no_mu, "mean and standard deviation", "mu is not added"),
    ("check_gaussian_kl", kl_sum_batch, "random posteriors", "summed over the batch"),
    ("check_gaussian_kl", kl_no_half, "random posteriors", "1/2 is missing"),
    ("check_gaussian_kl", kl_sigma_not_variance, "random posteriors", "not exp(logvar / 2)"),
    ("check_gaussian_kl", kl_mean_all, "random posteriors", "averaged over the latent dimensions"),
    ("check_negative_elbo", elbo_missing_kl, "a random batch of 32", "KL term is missing"),
    ("check_negative_elbo", elbo_minus_kl, "a random batch of 32", "wrong sign"),
    ("check_negative_elbo", elbo_not_negated, "a random batch of 32", "ELBO itself"),
    ("check_negative_elbo", elbo_mean_pixels, "a random batch of 32", "averaged over the pixels"),
    ("check_discriminator_loss", d_swapped, "random logits", "labels are swapped"),
    ("check_discriminator_loss", d_missing_fake, "random logits", "term of the fakes"),
    ("check_discriminator_loss", d_wrong_sign, "random logits", "sign is wrong"),
    ("check_discriminator_loss", d_naive, "a confident, wrong D", "log(sigmoid(l))"),
    ("check_discriminator_loss", d_concat_mean, "random logits", "averaged the two terms"),
    ("check_generator_loss", g_saturating, "random logits", "saturating"),
    ("check_generator_loss", g_saturating_stable, "random logits", "saturating"),
    ("check_generator_loss", g_fake_label, "random logits", "labels its fakes as real"),
    ("check_generator_loss", g_naive, "with certainty", "log(sigmoid(l))"),
    ("check_slerp", slerp_linear, "two Gaussian codes", "linear interpolation"),
    ("check_slerp", slerp_nan_on_identical, "identical endpoints", "clamp the cosine"),
    ("check_slerp", slerp_raw_vectors, "two Gaussian codes", "Shoemake"),
    ("check_slerp", slerp_float_t_flat, "one fraction given as a float", "shape [1, d]"),
    ("check_traversal_codes", traversal_all_coordinates, "a 3-d code", "only coordinate i"),
    ("check_traversal_codes", traversal_in_place, "a 3-d code", "changed its input z0 in place"),
    ("check_traversal_codes", traversal_codes_only, "a 3-d code", "return the pair (codes, values)"),
    ("check_mmd", mmd_biased, "one distribution", "biased estimate"),
    ("check_mmd", mmd_no_two, "one distribution", "the 2 is missing"),
    ("check_cluster_accuracy", cluster_majority, "two clusters with the same majority label", "one-to-one"),
    ("check_cluster_accuracy", cluster_no_mapping, "permuted cluster ids", "compared with the labels directly"),
    ("check_inception_score", inception_no_exp, "random softmax outputs", "log of the score"),
    ("check_inception_score", inception_nan, "one-hot", "0 * log 0"),
    ("check_conv_output_size", conv_ceil, "the stride does not divide", "rounded up"),
    ("check_conv_output_size", conv_true_division, "64 -> 32", "floor division"),
    ("check_conv_output_size", conv_one_padding, "64 -> 32", "2P"),
    ("check_transfer", transfer_own_decoder, "one shared encoder", "OTHER domain's decoder"),
    ("check_transfer", transfer_logits, "one shared encoder", "logits"),
    ("check_transfer", transfer_uncentred, "one shared encoder", "centres the input"),
]


@pytest.mark.parametrize("checker,wrong,case,hint", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_checker_rejects_typical_mistake(checker, wrong, case, hint, capsys):
    with pytest.raises(ex.ExerciseFailed) as failure:
        ex.CHECKERS[checker](wrong)
    message = str(failure.value)
    assert not isinstance(failure.value, ex.ExerciseNotImplemented)
    assert "\n" not in message
    assert message.startswith(f"{checker}: case '"), message
    failed_case = message.split("'")[1]
    assert case in failed_case, message
    assert hint in message, message
    assert "passed" not in capsys.readouterr().out


@pytest.mark.parametrize("checker", sorted(ex.CHECKERS))
def test_stub_gives_not_implemented_line(checker, capsys):
    def my_function(*args):
        raise NotImplementedError  # your code here

    with pytest.raises(ex.ExerciseNotImplemented) as failure:
        ex.CHECKERS[checker](my_function)
    assert str(failure.value) == (f"{checker}: my_function is not implemented yet: "
                                  "fill in the function above and run this cell again")
    assert failure.value._render_traceback_() == [f"\x1b[0;31m{failure.value}\x1b[0m"]
    assert capsys.readouterr().out == ""


def test_message_names_inputs_expected_and_obtained_values():
    with pytest.raises(ex.ExerciseFailed) as failure:
        ex.check_kl_sparsity(kl_mean_over_units)
    message = str(failure.value)
    expected = float(rl.losses.kl_sparsity_penalty(torch.sigmoid(
        1.5 * torch.randn(128, 64, generator=torch.Generator().manual_seed(0)) - 2.0), 0.05))
    assert f"expected {expected:.5g}, got {expected / 64:.5g}" in message
    assert "(inputs: h [128, 64] float32, rho=0.05)" in message


def test_error_inside_the_readers_function_names_its_line():
    namespace = {"torch": torch}
    exec(compile("def broken(h, rho):\n    rho_hat = h.mean(2)\n    return rho_hat.sum()\n", "<cell>", "exec"),
         namespace)
    with pytest.raises(ex.ExerciseFailed) as failure:
        ex.check_kl_sparsity(namespace["broken"])
    assert "broken raised IndexError" in str(failure.value)
    assert "(line 2)" in str(failure.value)


def test_only_a_raise_notimplementederror_line_is_a_stub():
    def stub_with_message(h, rho):
        raise NotImplementedError("write kl_sparsity here")
    with pytest.raises(ex.ExerciseNotImplemented):
        ex.check_kl_sparsity(stub_with_message)

    def calls_torch(h, rho):
        return helper_raising()

    def helper_raising():
        error = NotImplementedError("the operator is not implemented")
        raise error
    with pytest.raises(ex.ExerciseFailed) as failure:
        ex.check_kl_sparsity(calls_torch)
    assert not isinstance(failure.value, ex.ExerciseNotImplemented)
    assert "raised NotImplementedError: the operator is not implemented" in str(failure.value)


def test_dtype_and_type_messages():
    with pytest.raises(ex.ExerciseFailed, match="dtype float64 but the reference's has dtype float32"):
        ex.check_gaussian_kl(lambda mu, logvar: rl.losses.gaussian_kl(mu.double(), logvar.double()))
    with pytest.raises(ex.ExerciseFailed, match="numpy array"):
        ex.check_gaussian_kl(lambda mu, logvar: rl.losses.gaussian_kl(mu, logvar).numpy())
    with pytest.raises(ex.ExerciseFailed, match="None: did you forget the return statement"):
        ex.check_gaussian_kl(lambda mu, logvar: None)
    with pytest.raises(ex.ExerciseFailed, match="expected your function"):
        ex.check_gaussian_kl(rl.losses.gaussian_kl(torch.zeros(1, 1), torch.zeros(1, 1)))


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ex.check_reparameterize(reparameterize_sqrt)  # draws from the global generator when given none
    ex.check_reparameterize(vae.reparameterize)
    ex.check_transfer(transfer_by_hand)           # builds models, which draws initial weights
    assert torch.equal(torch.rand(3), expected)


def test_tolerance_is_float32_precision():
    assert ex.RTOL == pytest.approx(1024 * 2.0 ** -23)
    assert ex.ATOL == pytest.approx(64 * 2.0 ** -23)
    # an answer off by a relative 1e-3 is a mistake, one off by 1e-6 (a different summation order) is not
    ex.check_gaussian_kl(lambda mu, logvar: rl.losses.gaussian_kl(mu, logvar) * (1 + 1e-6))
    with pytest.raises(ex.ExerciseFailed):
        ex.check_gaussian_kl(lambda mu, logvar: rl.losses.gaussian_kl(mu, logvar) * (1 + 1e-3))


def test_rl_exercises_is_the_checker_module():
    assert rl.exercises is ex
    assert rl.exercises.check_kl_sparsity is ex.check_kl_sparsity


def test_failed_check_fails_a_notebook_cell_in_one_line(tmp_path):
    """In a real kernel a wrong solution fails its cell (as nbval needs) and shows one line, no traceback."""
    from nbclient import NotebookClient

    def run(source):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
        client.execute(cwd=str(tmp_path))
        return nb.cells[0].outputs

    outputs = run("import replearn_core as rl\n"
                  "def generator_loss(fake_logits):\n"
                  "    raise NotImplementedError  # your code here\n"
                  "rl.exercises.check_generator_loss(generator_loss)\n")
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "ExerciseNotImplemented"
    assert len(errors[0].traceback) == 1
    assert "generator_loss is not implemented yet" in errors[0].traceback[0]
