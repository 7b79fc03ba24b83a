"""Checkers for the book's *implement* exercises: ``rl.exercises.check_<name>(your_function)``.

An implement exercise asks the reader to write one function, then checks it in the same cell::

    def kl_sparsity(h, rho):
        ...

    rl.exercises.check_kl_sparsity(kl_sparsity)

The checker calls the reader's function and the library's own (the *reference*) on the same
inputs: random ones drawn from a fixed seed, several shapes, a batch of one, and the edge cases
where the math has them (a unit that never fires, logits so large that a sigmoid rounds to 1,
identical endpoints of an interpolation...). It answers in one line:

* ``check_kl_sparsity: all 8 cases passed`` (printed), or
* :class:`ExerciseFailed`, e.g. ``check_kl_sparsity: case 'rho_hat near 0' failed: expected 2.7,
  got 0.41: the KL's arguments are swapped ... (inputs: h [128, 32] float32, rho=0.05)``: the
  case, the expected and the obtained value, what the checker recognises of the mistake when it
  does, and the inputs;
* :class:`ExerciseNotImplemented` when the function still raises ``NotImplementedError`` (the
  stub): ``check_kl_sparsity: kl_sparsity is not implemented yet: fill in the function above and
  run this cell again``.

Both exceptions fail the cell (so nbval fails a solution cell whose solution is wrong) but show
in a notebook as that one line, without a traceback (IPython's ``_render_traceback_``). A
checker leaves the global random state as it found it, so the cells after it draw the same
numbers whether or not it ran.

Tolerances follow float32 precision: values agree when ``|got - expected| <= ATOL * scale +
RTOL * |expected|``, with ``RTOL`` = 1024 and ``ATOL`` = 64 float32 ulps and ``scale`` the size
of the case's terms (1 unless said otherwise; 0 for the cases whose exact value is tiny and is
the point, e.g. a loss of 4e-9 that a ``log`` instead of a ``log1p`` rounds to 0). That is
loose enough for any order of summation and far tighter than any mistake.

Each checker's docstring states the function it expects. ``CHECKERS`` maps every checker's
name to it; ``checker.signature`` and ``checker.reference`` say what the reader writes and
which library function it is compared with.
"""
from __future__ import annotations

import linecache
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import losses, metrics, traversal
from ..models import dcgan, transfer as transfer_models, vae

from ..traversal import interpolate as _interpolate

__all__ = ["ExerciseFailed", "ExerciseNotImplemented", "CHECKERS", "RTOL", "ATOL"]

EPS32 = torch.finfo(torch.float32).eps
#: relative tolerance of a value check: 1024 float32 ulps (about 1.2e-4)
RTOL = 1024 * EPS32
#: absolute tolerance per unit of a case's scale: 64 float32 ulps (about 7.6e-6)
ATOL = 64 * EPS32

NOT_IMPLEMENTED = "is not implemented yet: fill in the function above and run this cell again"


class ExerciseFailed(AssertionError):
    """A checker's verdict that the reader's function is wrong; its message is one line."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of the traceback: the line is the whole story.
        return [f"\x1b[0;31m{self}\x1b[0m"]


class ExerciseNotImplemented(ExerciseFailed):
    """The reader's function still raises ``NotImplementedError``: the exercise's stub."""


class _Mismatch(Exception):
    """One case failed; the checker adds its own name, the case and the inputs."""


CHECKERS: dict[str, Callable[[Callable], None]] = {}


def _checker(signature: str, reference: str):
    def register(check):
        check.signature = signature
        check.reference = reference
        __all__.append(check.__name__)
        CHECKERS[check.__name__] = check
        return check
    return register


# ---------------------------------------------------------------------------------------------
# Describing values in one line


def _num(x) -> str:
    x = float(x)
    return f"{x:.5g}" if math.isfinite(x) else str(x)


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _dtype_text(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return _num(value)
        return f"{_shape_text(value.shape)} {_dtype_text(value.dtype)}"
    if isinstance(value, np.ndarray):
        return f"array {_shape_text(value.shape)} {value.dtype}"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        return (f"{len(value)} tensor{'s' if len(value) > 1 else ''} "
                + ", ".join(_shape_text(v.shape) for v in value) + f" {_dtype_text(value[0].dtype)}")
    if isinstance(value, torch.nn.Module):
        return getattr(value, "_exercise_description", type(value).__name__)
    if isinstance(value, float):
        return _num(value)
    return repr(value)


def _inputs_text(names: Sequence[str], args: Sequence) -> str:
    parts = []
    for name, arg in zip(names, args):
        scalar = isinstance(arg, (numbers.Number, tuple)) and not isinstance(arg, torch.Tensor)
        parts.append(f"{name}={_describe(arg)}" if scalar else f"{name} {_describe(arg)}")
    return "inputs: " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Calling the reader's function


def _clone(value, requires_grad: bool = False):
    if isinstance(value, torch.Tensor):
        copy = value.detach().clone()
        if requires_grad and copy.is_floating_point():
            copy.requires_grad_(True)
        return copy
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_clone(v, requires_grad) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone(v, requires_grad) for v in value)
    return value  # numbers, generators, models: passed as they are


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b.detach())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return True


class _Session:
    """One run of a checker on the reader's function ``fn``."""

    def __init__(self, checker: str, fn):
        if not callable(fn):
            raise ExerciseFailed(f"{checker}: expected your function, got {type(fn).__name__} {_describe(fn)[:60]}: "
                                 f"pass the function itself, without calling it")
        self.checker = checker
        self.fn = fn
        name = getattr(fn, "__name__", "")
        self.name = name if name.isidentifier() else "your function"

    def call(self, *args, names: Sequence[str] | None = None, copy: bool = True):
        """``fn(*args)`` (on copies of ``args`` unless ``copy=False``); the reader's exceptions become
        one-line verdicts; with ``names``, an input changed in place is one too."""
        passed = [_clone(a) for a in args] if copy else list(args)
        try:
            out = self.fn(*passed)
        except NotImplementedError as err:
            if self._is_stub(err):
                raise ExerciseNotImplemented(f"{self.checker}: {self.name} {NOT_IMPLEMENTED}") from None
            raise _Mismatch(f"{self.name} raised NotImplementedError: {err}{self._where(err)}") from None
        except (ExerciseFailed, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - any error of the reader's code is a verdict
            raise _Mismatch(f"{self.name} raised {type(err).__name__}: {err}{self._where(err)}") from None
        if names is not None:
            for name, original, given in zip(names, args, passed):
                if not _same(original, given):
                    raise _Mismatch(f"{self.name} changed its input {name} in place: work on a copy "
                                    f"(e.g. {name}.clone()) or with out-of-place operations")
        return out

    def _reader_frames(self, err):
        code = getattr(self.fn, "__code__", None)
        tb, frames = err.__traceback__, []
        while tb is not None:
            if code is not None and tb.tb_frame.f_code.co_filename == code.co_filename:
                frames.append(tb)
            last = tb
            tb = tb.tb_next
        return frames, (last if err.__traceback__ is not None else None)

    def _is_stub(self, err) -> bool:
        frames, innermost = self._reader_frames(err)
        if innermost is None:
            return True
        line = linecache.getline(innermost.tb_frame.f_code.co_filename, innermost.tb_lineno)
        if line:  # the stub's own `raise NotImplementedError`, not one from inside torch
            return "NotImplementedError" in line
        return bool(frames) and frames[-1] is innermost

    def _where(self, err) -> str:
        frames, _ = self._reader_frames(err)
        if not frames:
            return ""
        tb = frames[-1]
        line = linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno).strip()
        return f" (line {tb.tb_lineno}: {line})" if line else f" (line {tb.tb_lineno})"


@dataclass
class _Case:
    name: str
    run: Callable[[_Session], None]


def _run(checker: str, fn, cases: Callable[[], list[_Case]]) -> None:
    session = _Session(checker, fn)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)  # models built by a case (and readers' torch.randn) draw the same numbers
        todo = cases()
        for case in todo:
            try:
                case.run(session)
            except _Mismatch as mismatch:
                raise ExerciseFailed(f"{checker}: case '{case.name}' failed: {mismatch}") from None
    print(f"{checker}: all {len(todo)} cases passed")


# ---------------------------------------------------------------------------------------------
# Comparing with the reference


def _require_tensor(got, subject: str) -> torch.Tensor:
    if isinstance(got, torch.Tensor):
        return got
    if got is None:
        raise _Mismatch(f"{subject} is None: did you forget the return statement?")
    if isinstance(got, np.ndarray):
        raise _Mismatch(f"{subject} is a numpy array: return a torch tensor (keep to torch operations)")
    if isinstance(got, numbers.Number):
        raise _Mismatch(f"{subject} is a Python {type(got).__name__} ({_num(got)}): return the tensor itself, "
                        f"without .item() or float(), so that gradients can flow through it")
    raise _Mismatch(f"{subject} is a {type(got).__name__}, expected a tensor")


def _as_number(got, subject: str) -> float:
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise _Mismatch(f"{subject} has shape {_shape_text(got.shape)}, expected a single number")
        return float(got.detach())
    if isinstance(got, np.ndarray) and got.size == 1:
        return float(got)
    if isinstance(got, numbers.Real) and not isinstance(got, bool):
        return float(got)
    if got is None:
        raise _Mismatch(f"{subject} is None: did you forget the return statement?")
    raise _Mismatch(f"{subject} is a {type(got).__name__}, expected a number")


def _compare(got, expected, *, subject: str = "the result", rtol: float = RTOL, atol: float = ATOL,
             shape_hints: dict | None = None, values: bool = True) -> None:
    """Raise :class:`_Mismatch` unless ``got`` has ``expected``'s type, shape, dtype and values."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            raise _Mismatch(f"{subject} is {type(got).__name__}, expected a pair")
        for i, (part, reference) in enumerate(zip(got, expected)):
            _compare(part, reference, subject=f"{subject}[{i}]", rtol=rtol, atol=atol, values=values)
        return
    if isinstance(expected, torch.Tensor):
        got = _require_tensor(got, subject)
        if got.shape != expected.shape:
            theirs = "is a scalar (a 0-d tensor)" if expected.ndim == 0 else f"has shape {_shape_text(expected.shape)}"
            message = f"{subject} has shape {_shape_text(got.shape)} but the reference's {theirs}"
            hint = (shape_hints or {}).get(tuple(got.shape))
            raise _Mismatch(message + (f": {hint}" if hint else ""))
        if got.dtype != expected.dtype:
            hint = (": did a Python float, a numpy array or torch.tensor(...) make it float64?"
                    if got.dtype == torch.float64 else "")
            raise _Mismatch(f"{subject} has dtype {_dtype_text(got.dtype)} but the reference's has "
                            f"dtype {_dtype_text(expected.dtype)}{hint}")
        if values:
            _compare_values(got.detach().double().cpu(), expected.detach().double().cpu(), subject, rtol, atol)
    elif isinstance(expected, bool) or not isinstance(expected, numbers.Number):
        raise TypeError(f"no comparison for a reference value of type {type(expected).__name__}")
    elif isinstance(expected, numbers.Integral):
        if isinstance(got, bool) or not isinstance(got, numbers.Integral):
            if isinstance(got, float):
                raise _Mismatch(f"{subject} is the float {got!r}: the size is a whole number of pixels, "
                                f"floor((W - K + 2P) / S) + 1: use floor division // and return an int")
            raise _Mismatch(f"{subject} is a {type(got).__name__} ({got!r}), expected an int")
        if got != expected:
            raise _Mismatch(f"expected {expected}, got {got}")
    else:
        value = _as_number(got, subject)
        if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol) and not (
                math.isnan(value) and math.isnan(expected)):
            raise _Mismatch(f"expected {_num(expected)}, got {_num(value)}")


def _compare_values(got: torch.Tensor, expected: torch.Tensor, subject: str, rtol: float, atol: float) -> None:
    close = torch.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if bool(close.all()):
        return
    if expected.ndim == 0:
        prefix = "" if subject == "the result" else f"{subject}: "
        raise _Mismatch(f"{prefix}expected {_num(expected)}, got {_num(got)}")
    gap = (got - expected).abs().nan_to_num(nan=math.inf)
    gap[close] = -1.0
    flat = int(gap.reshape(-1).argmax())
    index = np.unravel_index(flat, tuple(expected.shape))
    where = _shape_text(int(i) for i in index)
    raise _Mismatch(f"{subject}: {int((~close).sum())} of {expected.numel()} entries differ from the reference's; "
                    f"the largest difference is at {where}: expected {_num(expected[index])}, got {_num(got[index])}")


@dataclass(frozen=True)
class _Mistake:
    """A known mistake: what a function making it returns for a case's inputs, and its hint."""

    hint: str
    value: Callable[..., Any]


def _recognise(got, args, mistakes: Sequence[_Mistake], rtol: float, atol: float) -> str | None:
    for mistake in mistakes:
        try:
            with torch.no_grad():
                wrong = mistake.value(*[_clone(a) for a in args])
            _compare(got, wrong, rtol=rtol, atol=atol)
        except Exception:  # noqa: BLE001 - not this mistake (or it cannot be evaluated here)
            continue
        return mistake.hint
    return None


def _value_case(name: str, reference: Callable, args: Sequence, names: Sequence[str], *,
                mistakes: Sequence[_Mistake] = (), scale: float = 1.0, rtol: float = RTOL,
                shape_hints: dict | None = None, hint: str | None = None) -> _Case:
    """The reader's function and the reference on ``args``: the same type, shape, dtype and values."""
    args = tuple(args)

    def run(session: _Session) -> None:
        got = session.call(*args, names=names)
        expected = reference(*[_clone(a) for a in args])
        try:
            _compare(got, expected, rtol=rtol, atol=ATOL * scale, shape_hints=shape_hints)
        except _Mismatch as mismatch:
            known = _recognise(got, args, mistakes, rtol, ATOL * scale) or hint
            raise _Mismatch(f"{mismatch}{': ' + known if known else ''} ({_inputs_text(names, args)})") from None

    return _Case(name, run)


def _grad_case(name: str, reference: Callable, args: Sequence, names: Sequence[str], *,
               wrt: Sequence[str] | None = None, hint: str | None = None, scale: float = 1.0) -> _Case:
    """The gradients of the reader's result (summed) with respect to the inputs named in ``wrt``
    (default: every float tensor input), e.g. a loss's logits but not its targets."""
    args = tuple(args)
    wrt = tuple(names) if wrt is None else tuple(wrt)

    def leaves(values, labels):
        for label, value in zip(labels, values):
            if isinstance(value, torch.Tensor) and value.requires_grad:
                yield label, value
            elif isinstance(value, list):
                yield from leaves(value, [f"{label}[{i}]" for i in range(len(value))])

    def run(session: _Session) -> None:
        inputs = [_clone(a, requires_grad=n in wrt) for n, a in zip(names, args)]
        out = _require_tensor(session.call(*inputs, copy=False), "the result")
        ref_inputs = [_clone(a, requires_grad=n in wrt) for n, a in zip(names, args)]
        ref_out = reference(*ref_inputs)
        labelled, ref_labelled = list(leaves(inputs, names)), list(leaves(ref_inputs, names))
        if not out.requires_grad:
            raise _Mismatch("the result does not depend differentiably on the inputs: did you call .item(), "
                            ".detach(), torch.tensor(...) or numpy on the way?")
        grads = torch.autograd.grad(out.sum(), [t for _, t in labelled], allow_unused=True)
        ref_grads = torch.autograd.grad(ref_out.sum(), [t for _, t in ref_labelled], allow_unused=True)
        for (label, _), grad, ref_grad in zip(labelled, grads, ref_grads):
            if ref_grad is None:
                continue
            try:
                if grad is None:
                    raise _Mismatch(f"no gradient reaches {label}: is it detached, or replaced by a constant?")
                _compare(grad, ref_grad, subject=f"the gradient with respect to {label}", atol=ATOL * scale)
            except _Mismatch as mismatch:
                raise _Mismatch(f"{mismatch}{': ' + hint if hint else ''} ({_inputs_text(names, args)})") from None

    return _Case(name, run)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dyadic_activations(n: int, units: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    """[n, units] activations, each ``low`` or ``high`` (numbers with few binary digits): their sums are
    exact in float32 in any order, so that every correct mean gives the same rho_hat to the last bit."""
    pick = torch.rand(n, units, generator=g) < torch.rand(1, units, generator=g)
    return torch.where(pick, torch.tensor(high), torch.tensor(low)).float()


# ---------------------------------------------------------------------------------------------
# Sparse autoencoders: the KL sparsity penalty and the L2 weight penalty


@_checker("kl_sparsity(h, rho)", "rl.losses.kl_sparsity_penalty")
def check_kl_sparsity(kl_sparsity: Callable) -> None:
    """Check ``kl_sparsity(h, rho)``: ``sum_j KL(rho || rho_hat_j)`` (nats, a 0-d tensor).

    ``h`` [N, units] holds activations in [0, 1]; ``rho_hat_j = h[:, j].mean()`` is unit j's mean
    activation over the batch, clamped to ``[1e-6, 1 - 1e-6]`` so that a unit that never (or
    always) fires gives a large but finite penalty; ``KL(rho || rho_hat) = rho log(rho / rho_hat)
    + (1 - rho) log((1 - rho) / (1 - rho_hat))``. Reference: ``rl.losses.kl_sparsity_penalty(h, rho)``.
    """
    names = ("h", "rho")

    def reference(h, rho):
        return losses.kl_sparsity_penalty(h, rho)

    def bernoulli_kl(p, q):
        return p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))

    def rho_hat(h):
        return h.mean(0).clamp(1e-6, 1 - 1e-6)

    mistakes = [
        _Mistake("the KL's arguments are swapped: the penalty is KL(rho || rho_hat) = rho log(rho / rho_hat) "
                 "+ (1 - rho) log((1 - rho) / (1 - rho_hat))",
                 lambda h, rho: bernoulli_kl(rho_hat(h), torch.tensor(rho)).sum()),
        _Mistake("the second term of the KL, (1 - rho) log((1 - rho) / (1 - rho_hat)), is missing",
                 lambda h, rho: (rho * torch.log(rho / rho_hat(h))).sum()),
        _Mistake("averaged over the units instead of summing", lambda h, rho: reference(h, rho) / h.shape[1]),
        _Mistake("rho_hat_j is unit j's mean activation over the batch, h.mean(0), not each single activation",
                 lambda h, rho: bernoulli_kl(torch.tensor(rho), h.clamp(1e-6, 1 - 1e-6)).sum(1).mean()),
        _Mistake("rho_hat_j is unit j's mean activation over the batch (dim 0), not an example's mean over the "
                 "units (dim 1)",
                 lambda h, rho: bernoulli_kl(torch.tensor(rho), h.mean(1).clamp(1e-6, 1 - 1e-6)).sum()),
        _Mistake("rho_hat is not clamped: clamp it to [1e-6, 1 - 1e-6], as the library does, so that a unit that "
                 "never or always fires gives a large but finite penalty",
                 lambda h, rho: bernoulli_kl(torch.tensor(rho), h.mean(0)).sum()),
    ]
    shape_hints_for = lambda n, units: {(units,): "one value per unit: sum them",  # noqa: E731
                                        (n,): "one value per example: the penalty is one number for the batch"}

    def cases():
        g = _gen()
        codes = torch.sigmoid(1.5 * torch.randn(128, 64, generator=g) - 2.0)
        on_target = torch.tensor([0.125, 0.375]).repeat(32)[:, None].expand(64, 32).clone()  # every mean 0.25
        dead = torch.sigmoid(torch.randn(64, 16, generator=g) - 2.0)
        dead[:, 3] = 0.0   # a unit that never fires
        dead[:, 7] = 1.0   # and one that always does
        one = torch.sigmoid(torch.randn(1, 16, generator=g))
        grad_codes = torch.sigmoid(torch.randn(32, 8, generator=g) - 1.0)

        def case(name, h, rho, **kw):
            return _value_case(name, reference, (h, rho), names, mistakes=mistakes,
                               shape_hints=shape_hints_for(*h.shape), **kw)

        return [
            case("random sigmoid codes, rho = 0.05", codes, 0.05),
            case("rho = 0.5", codes, 0.5),
            case("every unit on target (rho_hat = rho)", on_target, 0.25),
            case("rho_hat near 0", _dyadic_activations(128, 32, 2.0**-14, 2.0**-11, g), 0.05),
            case("rho_hat near 1", _dyadic_activations(128, 32, 1 - 2.0**-11, 1 - 2.0**-14, g), 0.05),
            case("a dead and a saturated unit (rho_hat clamped)", dead, 0.05,
                 hint="rho_hat = 0 or 1 must be clamped to [1e-6, 1 - 1e-6] before the logarithms"),
            case("batch of one", one, 0.1),
            _grad_case("gradient with respect to h", reference, (grad_codes, 0.05), names),
        ]

    _run("check_kl_sparsity", kl_sparsity, cases)


@_checker("l2_penalty(weights)", "rl.losses.l2_weight_penalty")
def check_l2_penalty(l2_penalty: Callable) -> None:
    """Check ``l2_penalty(weights)``: ``1/2 * sum_W ||W||^2`` over a list of weight tensors (a 0-d tensor).

    The factor 1/2 makes the penalty's gradient with respect to W equal W itself (plain weight
    decay). Reference: ``rl.losses.l2_weight_penalty(weights)``.
    """
    names = ("weights",)

    def reference(weights):
        return losses.l2_weight_penalty(weights)

    mistakes = [
        _Mistake("twice the reference: the penalty is 1/2 sum ||W||^2 (the 1/2 makes its gradient W itself)",
                 lambda ws: 2 * reference(ws)),
        _Mistake("used the norms ||W||, not their squares ||W||^2",
                 lambda ws: 0.5 * sum(w.norm() for w in ws)),
        _Mistake("averaged the squared weights (mean) instead of summing them",
                 lambda ws: 0.5 * sum(w.pow(2).mean() for w in ws)),
        _Mistake("only the first weight tensor is counted: sum over all of them", lambda ws: reference(ws[:1])),
        _Mistake("square of the sum of the norms: sum the squared norms instead",
                 lambda ws: 0.5 * sum(w.norm() for w in ws) ** 2),
    ]

    def cases():
        g = _gen()
        one = [0.1 * torch.randn(20, 10, generator=g)]
        mlp = [0.05 * torch.randn(a, b, generator=g) for a, b in ((784, 64), (64, 32), (32, 10))]
        zeros = [torch.zeros(16, 8), torch.zeros(8, 4)]
        large = [100 * torch.randn(30, 20, generator=g), 100 * torch.randn(20, 5, generator=g)]
        small = [0.1 * torch.randn(6, 5, generator=g), 0.1 * torch.randn(5, 3, generator=g)]

        def case(name, weights, **kw):
            return _value_case(name, reference, (weights,), names, mistakes=mistakes, **kw)

        return [
            case("one weight matrix", one),
            case("the three weight matrices of a 784-64-32-10 network", mlp),
            case("all-zero weights", zeros),
            case("large weights", large),
            _grad_case("the gradient is W itself", reference, (small,), names,
                       hint="the gradient of 1/2 ||W||^2 with respect to W is W"),
        ]

    _run("check_l2_penalty", l2_penalty, cases)


# ---------------------------------------------------------------------------------------------
# Reconstruction: the Bernoulli negative log-likelihood


_LOGITS_HINT = ("this case checks numerical stability at large |logits|: compute from the logits with "
                "F.binary_cross_entropy_with_logits (or F.softplus, F.logsigmoid), not from sigmoid probabilities")


def _per_image(logits, x):
    n = len(x)
    return logits.reshape(n, -1), x.reshape(n, -1), n


def _bernoulli_mistakes() -> list[_Mistake]:
    def mean_pixels(logits, x):
        l, t, n = _per_image(logits, x)
        return F.binary_cross_entropy_with_logits(l, t, reduction="mean")

    def double_sigmoid(logits, x):
        l, t, n = _per_image(logits, x)
        return F.binary_cross_entropy_with_logits(torch.sigmoid(l), t, reduction="sum") / n

    def missing_off_term(logits, x):
        l, t, n = _per_image(logits, x)
        return -(t * F.logsigmoid(l)).sum() / n

    def probabilities(logits, x):
        l, t, n = _per_image(logits, x)
        return F.binary_cross_entropy(torch.sigmoid(l), t, reduction="sum") / n

    def naive(logits, x):
        l, t, n = _per_image(logits, x)
        p = torch.sigmoid(l)
        return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum() / n

    return [
        _Mistake("averaged over the pixels: an image's NLL is the sum over its pixels (nats per image), "
                 "averaged over the batch only", mean_pixels),
        _Mistake("summed over the batch: average over the images", lambda l, x: losses.bernoulli_nll(l, x) * len(x)),
        _Mistake("the sign is wrong: the NLL, -[x log p + (1 - x) log(1 - p)], is positive",
                 lambda l, x: -losses.bernoulli_nll(l, x)),
        _Mistake("applied the sigmoid twice: binary_cross_entropy_with_logits takes the logits themselves",
                 double_sigmoid),
        _Mistake("the (1 - x) log(1 - p) term, for the pixels that are off, is missing", missing_off_term),
        _Mistake("sigmoid probabilities round to exactly 0 or 1 for large |logits| in float32 (and "
                 "F.binary_cross_entropy clamps log at -100): compute from the logits with "
                 "F.binary_cross_entropy_with_logits", probabilities),
        _Mistake("log(sigmoid(l)) becomes 0 or -inf once the sigmoid rounds to 1 or 0 in float32: compute from the "
                 "logits with F.binary_cross_entropy_with_logits (or F.logsigmoid)", naive),
    ]


@_checker("bernoulli_nll(logits, x)", "rl.losses.bernoulli_nll")
def check_bernoulli_nll(bernoulli_nll: Callable) -> None:
    """Check ``bernoulli_nll(logits, x)``: the Bernoulli NLL in nats per image (a 0-d tensor).

    Summed over each image's pixels, averaged over the batch; ``logits`` and ``x`` (pixels in
    [0, 1]) have the same shape, [N, 784] or [N, 1, 28, 28]. Must stay exact at large |logits|
    (compute from the logits, not from sigmoid probabilities). Reference: ``rl.losses.bernoulli_nll``.
    """
    names = ("logits", "x")
    mistakes = _bernoulli_mistakes()

    def cases():
        g = _gen()
        logits = 3 * torch.randn(64, 784, generator=g)
        binary = (torch.rand(64, 784, generator=g) < 0.2).float()
        grey = torch.rand(64, 784, generator=g)
        img_logits = 3 * torch.randn(16, 1, 28, 28, generator=g)
        img_x = (torch.rand(16, 1, 28, 28, generator=g) < 0.3).float()
        sure = (torch.rand(8, 784, generator=g) < 0.2).float()
        small_logits = torch.randn(8, 20, generator=g)
        small_x = (torch.rand(8, 20, generator=g) < 0.5).float()
        shape_hints = {(64,): "one value per image: average them over the batch",
                       (64, 784): "one value per pixel: sum over each image's pixels, then average over the batch"}

        def case(name, l, x, **kw):
            return _value_case(name, losses.bernoulli_nll, (l, x), names, mistakes=mistakes, shape_hints=shape_hints,
                               **kw)

        return [
            case("random logits, binary images", logits, binary),
            case("grey-level pixels in [0, 1]", logits, grey),
            case("images shaped [N, 1, 28, 28]", img_logits, img_x),
            case("batch of one", logits[:1], binary[:1]),
            case("a near-perfect reconstruction (logits +-120 on the right side)", 240 * sure - 120, sure,
                 hint=_LOGITS_HINT),
            case("a confidently wrong reconstruction (logits +-30 on the wrong side)", 30 - 60 * sure, sure,
                 hint=_LOGITS_HINT),
            _grad_case("gradient with respect to the logits", losses.bernoulli_nll, (small_logits, small_x), names,
                       wrt=("logits",)),
        ]

    _run("check_bernoulli_nll", bernoulli_nll, cases)


# ---------------------------------------------------------------------------------------------
# The VAE: reparameterisation, Gaussian KL, negative ELBO


@_checker("reparameterize(mu, logvar, generator)", "replearn_core.models.vae.reparameterize")
def check_reparameterize(reparameterize: Callable) -> None:
    """Check ``reparameterize(mu, logvar, generator)``: ``z = mu + sigma * eps`` with
    ``sigma = exp(logvar / 2)`` and ``eps ~ N(0, I)`` drawn with ``torch.randn(mu.shape,
    generator=generator)``.

    The noise differs from the reference's, so the checker tests what must hold for any noise:
    the shape and dtype; the sample mean and standard deviation of 20000 draws; the same
    generator seed gives the same z; the gradients ``dz/dmu = 1`` and ``dz/dlogvar = (z - mu) / 2``
    (back-propagation runs through the sample); a very negative logvar gives z = mu; a batch of one.
    Reference: ``replearn_core.models.vae.reparameterize``.
    """
    names = ("mu", "logvar", "generator")

    def layout(session, mu, logvar):
        z = session.call(mu, logvar, _gen(1), names=names)
        _compare(z, vae.reparameterize(mu, logvar, _gen(1)), subject="z", values=False,
                 shape_hints={tuple(mu.shape[1:]): "one sample per row of mu: keep the batch dimension"})
        z = z.detach()
        if not bool(torch.isfinite(z).all()):
            raise _Mismatch(f"z has non-finite entries ({_inputs_text(names[:2], (mu, logvar))})")
        return z

    def shape_case(session):
        g = _gen(2)
        layout(session, torch.randn(8, 4, generator=g), 0.5 * torch.randn(8, 4, generator=g))

    def generator_case(session):
        g = _gen(3)
        mu, logvar = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
        z1 = session.call(mu, logvar, _gen(7))
        z2 = session.call(mu, logvar, _gen(7))
        z3 = session.call(mu, logvar, _gen(8))
        for z in (z1, z2, z3):
            _require_tensor(z, "z")
        if not torch.equal(z1.detach(), z2.detach()):
            raise _Mismatch("two calls with generators of the same seed gave different samples: draw the noise "
                            "with torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)")
        if torch.equal(z1.detach(), z3.detach()):
            raise _Mismatch("generators of different seeds gave the same sample: is the noise random?")

    def statistics_case(session):
        n = 20000
        mu_row = torch.tensor([0.0, 2.0, -3.0, 0.5])
        logvar_row = torch.tensor([0.0, math.log(4.0), -2.0, 2 * math.log(0.1)])
        sigma = torch.exp(0.5 * logvar_row)
        z = layout(session, mu_row.repeat(n, 1), logvar_row.repeat(n, 1)).double()
        mean, std = z.mean(0).float(), z.std(0).float()
        tol_mean = 5 * sigma / math.sqrt(n)      # 5 standard errors
        tol_std = 5 * sigma / math.sqrt(2 * n)
        bad = ((mean - mu_row).abs() > tol_mean) | ((std - sigma).abs() > tol_std)
        if not bool(bad.any()):
            return

        def std_near(target):  # within 5% in every column
            return bool(((std - target).abs() <= 0.05 * target.abs() + 1e-3).all())

        hints = [(std_near(torch.exp(logvar_row)), "sigma is exp(logvar / 2): exp(logvar) is the variance, "
                                                   "did you forget the 1/2?"),
                 (std_near(torch.ones(4)), "the noise is not scaled by sigma = exp(logvar / 2)"),
                 (std_near(logvar_row.abs()), "logvar is the log of the variance: sigma = exp(logvar / 2)"),
                 (std_near(sigma.sqrt()), "sigma is exp(logvar / 2), not exp(logvar / 4)"),
                 (bool((mean.abs() <= tol_mean).all()), "mu is not added: z = mu + sigma * eps")]
        hint = next((text for hit, text in hints if hit), None)
        j = int(bad.nonzero()[0])
        raise _Mismatch(f"for mu = {_num(mu_row[j])}, logvar = {_num(logvar_row[j])} (sigma = {_num(sigma[j])}) "
                        f"{n} samples have mean {_num(mean[j])} and standard deviation {_num(std[j])}; expected "
                        f"{_num(mu_row[j])} +- {tol_mean[j]:.2g} and {_num(sigma[j])} +- {tol_std[j]:.2g}"
                        + (f": {hint}" if hint else ""))

    def gradient_case(session):
        g = _gen(4)
        mu = torch.randn(16, 3, generator=g).requires_grad_(True)
        logvar = (0.5 * torch.randn(16, 3, generator=g)).requires_grad_(True)
        z = _require_tensor(session.call(mu, logvar, _gen(5), copy=False), "z")
        if not z.requires_grad:
            raise _Mismatch("z does not depend differentiably on mu and logvar: compute z = mu + sigma * eps from "
                            "an input noise eps with torch operations (torch.normal(mu, sigma) passes no gradient)")
        grad_mu, grad_logvar = torch.autograd.grad(z.sum(), [mu, logvar], allow_unused=True)
        if grad_mu is None:
            raise _Mismatch("no gradient reaches mu: z = mu + sigma * eps must keep mu in the graph")
        if grad_logvar is None:
            raise _Mismatch("no gradient reaches logvar: sigma = exp(logvar / 2) must be computed from logvar "
                            "(not detached, not through numpy)")
        if not bool(grad_mu.any()) and not bool(grad_logvar.any()):
            raise _Mismatch("the gradients with respect to mu and logvar are 0: sample with the reparameterisation "
                            "trick, z = mu + sigma * eps (torch.normal(mu, sigma) passes no gradient to them)")
        _compare(grad_mu, torch.ones_like(mu), subject="dz/dmu (which must be 1 everywhere)")
        expected = 0.5 * (z - mu).detach()
        try:
            _compare(grad_logvar, expected, subject="dz/dlogvar (which must be sigma * eps / 2 = (z - mu) / 2)",
                     atol=ATOL * 4)
        except _Mismatch as mismatch:
            wrong = torch.isclose(grad_logvar, 2 * expected, rtol=RTOL, atol=ATOL * 4).all()
            raise _Mismatch(f"{mismatch}" + (": it is z - mu, as if sigma were exp(logvar); sigma = exp(logvar / 2)"
                                             if bool(wrong) else "")) from None

    def negative_logvar_case(session):
        g = _gen(6)
        mu = torch.randn(32, 5, generator=g)
        logvar = torch.full((32, 5), -40.0)
        z = layout(session, mu, logvar)
        _compare(z, mu, subject="z (logvar = -40 makes sigma = 2e-9, so z = mu)", atol=1e-6)

    def one_case(session):
        layout(session, torch.tensor([[0.3, -1.2]]), torch.tensor([[0.1, -0.4]]))

    _run("check_reparameterize", reparameterize, lambda: [
        _Case("shape and dtype", shape_case),
        _Case("the generator decides the noise", generator_case),
        _Case("mean and standard deviation of 20000 samples", statistics_case),
        _Case("gradients reach mu and logvar", gradient_case),
        _Case("logvar very negative (sigma ~ 0)", negative_logvar_case),
        _Case("batch of one", one_case),
    ])


def _gaussian_kl_mistakes() -> list[_Mistake]:
    def ref(mu, logvar):
        return losses.gaussian_kl(mu, logvar)

    return [
        _Mistake("summed over the batch: average over the examples", lambda m, lv: ref(m, lv) * len(m)),
        _Mistake("averaged over the latent dimensions: sum over them (and average over the batch only)",
                 lambda m, lv: ref(m, lv) / m.shape[1]),
        _Mistake("twice the reference: the factor 1/2 is missing", lambda m, lv: 2 * ref(m, lv)),
        _Mistake("the sign of the log-variance term is wrong: KL = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2)",
                 lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - 1 + lv).sum() / len(m)),
        _Mistake("exp(logvar) is sigma^2 already: the KL uses sigma^2 = exp(logvar), not exp(logvar / 2)",
                 lambda m, lv: 0.5 * (m.pow(2) + (0.5 * lv).exp() - 1 - lv).sum() / len(m)),
        _Mistake("used sigma^4: exp(logvar) is sigma^2 already, don't square it",
                 lambda m, lv: 0.5 * (m.pow(2) + (2 * lv).exp() - 1 - lv).sum() / len(m)),
        _Mistake("the -1 of each latent dimension is missing", lambda m, lv: ref(m, lv) + 0.5 * m.shape[1]),
    ]


@_checker("gaussian_kl(mu, logvar)", "rl.losses.gaussian_kl")
def check_gaussian_kl(gaussian_kl: Callable) -> None:
    """Check ``gaussian_kl(mu, logvar)``: ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` (a 0-d tensor).

    Per example ``1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)``, summed over the latent
    dimensions and averaged over the batch (nats). Reference: ``rl.losses.gaussian_kl``.
    """
    names = ("mu", "logvar")
    mistakes = _gaussian_kl_mistakes()

    def cases():
        g = _gen()
        mu, logvar = torch.randn(128, 16, generator=g), 0.5 * torch.randn(128, 16, generator=g) - 1.0
        small_mu, small_logvar = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)

        def case(name, m, lv, **kw):
            hints = {(len(m),): "one value per example: average them over the batch",
                     (m.shape[1],): "one value per latent dimension: sum them",
                     tuple(m.shape): "one value per entry: sum over the latent dimensions, average over the batch"}
            return _value_case(name, losses.gaussian_kl, (m, lv), names, mistakes=mistakes, shape_hints=hints, **kw)

        return [
            case("random posteriors, 16-d codes", mu, logvar),
            case("the prior itself (mu = 0, logvar = 0): KL = 0", torch.zeros(32, 8), torch.zeros(32, 8)),
            case("logvar very negative (-30)", mu[:32, :4], torch.full((32, 4), -30.0)),
            case("logvar large (+8)", mu[:32, :4], torch.full((32, 4), 8.0)),
            case("batch of one", mu[:1, :2], logvar[:1, :2]),
            case("1-d codes", mu[:, :1], logvar[:, :1]),
            _grad_case("gradients with respect to mu and logvar", losses.gaussian_kl, (small_mu, small_logvar), names),
        ]

    _run("check_gaussian_kl", gaussian_kl, cases)


@_checker("negative_elbo(logits, x, mu, logvar)", "rl.losses.negative_elbo")
def check_negative_elbo(negative_elbo: Callable) -> None:
    """Check ``negative_elbo(logits, x, mu, logvar)``: nats per image (a 0-d tensor).

    The Bernoulli reconstruction NLL of ``x`` under ``logits`` (summed over pixels, averaged
    over the batch) plus the closed-form ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` (summed
    over latent dimensions, averaged over the batch). Reference: ``rl.losses.negative_elbo``.
    """
    names = ("logits", "x", "mu", "logvar")

    def nll(l, x):
        return losses.bernoulli_nll(l, x)

    def kl(m, lv):
        return losses.gaussian_kl(m, lv)

    def mean_pixels(l, x):
        n = len(x)
        return F.binary_cross_entropy_with_logits(l.reshape(n, -1), x.reshape(n, -1))

    mistakes = [
        _Mistake("the KL term is missing: the negative ELBO is the reconstruction NLL plus KL(q(z|x) || p(z))",
                 lambda l, x, m, lv: nll(l, x)),
        _Mistake("the KL term has the wrong sign: ELBO = E[log p(x|z)] - KL, so -ELBO = reconstruction NLL + KL",
                 lambda l, x, m, lv: nll(l, x) - kl(m, lv)),
        _Mistake("this is the ELBO itself: return its negative, the loss to minimise",
                 lambda l, x, m, lv: -(nll(l, x) + kl(m, lv))),
        _Mistake("the reconstruction term is only the KL: add the Bernoulli NLL", lambda l, x, m, lv: kl(m, lv)),
        _Mistake("the reconstruction term is averaged over the pixels: sum over them (nats per image)",
                 lambda l, x, m, lv: mean_pixels(l, x) + kl(m, lv)),
        _Mistake("summed over the batch: average over the images",
                 lambda l, x, m, lv: (nll(l, x) + kl(m, lv)) * len(x)),
        _Mistake("the KL is averaged over the latent dimensions: sum over them",
                 lambda l, x, m, lv: nll(l, x) + kl(m, lv) / m.shape[1]),
    ]

    def cases():
        g = _gen()
        logits = 3 * torch.randn(32, 784, generator=g)
        x = (torch.rand(32, 784, generator=g) < 0.2).float()
        mu, logvar = torch.randn(32, 8, generator=g), 0.5 * torch.randn(32, 8, generator=g) - 1.0
        small = (torch.randn(4, 12, generator=g), (torch.rand(4, 12, generator=g) < 0.5).float(),
                 torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g))
        hints = {(32,): "one value per image: average them over the batch"}

        def case(name, *args, **kw):
            return _value_case(name, losses.negative_elbo, args, names, mistakes=mistakes, shape_hints=hints, **kw)

        return [
            case("a random batch of 32", logits, x, mu, logvar),
            case("images shaped [N, 1, 28, 28]", logits.reshape(32, 1, 28, 28), x.reshape(32, 1, 28, 28), mu, logvar),
            case("the posterior equals the prior (KL = 0)", logits, x, torch.zeros(32, 8), torch.zeros(32, 8)),
            case("logvar very negative (-30)", logits, x, mu, torch.full((32, 8), -30.0)),
            case("batch of one", logits[:1], x[:1], mu[:1], logvar[:1]),
            _grad_case("gradients with respect to logits, mu and logvar", losses.negative_elbo, small, names,
                       wrt=("logits", "mu", "logvar")),
        ]

    _run("check_negative_elbo", negative_elbo, cases)


# ---------------------------------------------------------------------------------------------
# GANs: discriminator and generator losses


def _naive_bce(logits, label: float):
    p = torch.sigmoid(logits)
    return -(label * torch.log(p) + (1 - label) * torch.log(1 - p)).mean()


@_checker("discriminator_loss(real_logits, fake_logits)", "rl.losses.discriminator_loss")
def check_discriminator_loss(discriminator_loss: Callable) -> None:
    """Check ``discriminator_loss(real_logits, fake_logits)``: ``BCE(D(real), 1) + BCE(D(fake), 0)`` (a 0-d tensor).

    Each term is a batch mean over its own logits (D's outputs before the sigmoid; the two
    batches may differ in size); at a confused D (all logits 0) the loss is ``2 ln 2``. Must stay
    exact at large |logits|. Reference: ``rl.losses.discriminator_loss``.
    """
    names = ("real_logits", "fake_logits")
    bce = F.binary_cross_entropy_with_logits

    def term(logits, label):
        return bce(logits, torch.full_like(logits, label))

    mistakes = [
        _Mistake("the labels are swapped: real images are labelled 1 and fakes 0",
                 lambda r, f: term(r, 0.0) + term(f, 1.0)),
        _Mistake("the term of the fakes, BCE(D(G(z)), 0), is missing", lambda r, f: term(r, 1.0)),
        _Mistake("the term of the real images, BCE(D(x), 1), is missing", lambda r, f: term(f, 0.0)),
        _Mistake("averaged the two terms: the loss is their sum", lambda r, f: (term(r, 1.0) + term(f, 0.0)) / 2),
        _Mistake("one mean over the concatenated batch: the loss is the sum of a mean over the real and a mean over "
                 "the fake logits", lambda r, f: bce(torch.cat([r.reshape(-1), f.reshape(-1)]),
                                                     torch.cat([torch.ones(r.numel()), torch.zeros(f.numel())]))),
        _Mistake("the sign is wrong: D maximises log D(x) + log(1 - D(G(z))), so its loss is the negative of that",
                 lambda r, f: -losses.discriminator_loss(r, f)),
        _Mistake("summed over the batch: each term is a batch mean",
                 lambda r, f: term(r, 1.0) * r.numel() + term(f, 0.0) * f.numel()),
        _Mistake("log(sigmoid(l)) and log(1 - sigmoid(l)) become 0 or -inf once the sigmoid rounds to 1 or 0 in "
                 "float32: compute from the logits (F.binary_cross_entropy_with_logits, F.logsigmoid)",
                 lambda r, f: _naive_bce(r, 1.0) + _naive_bce(f, 0.0)),
    ]

    def cases():
        g = _gen()
        real, fake = torch.randn(64, generator=g) + 1.0, torch.randn(64, generator=g) - 1.0

        def case(name, r, f, **kw):
            return _value_case(name, losses.discriminator_loss, (r, f), names, mistakes=mistakes,
                               shape_hints={tuple(r.shape): "one value per image: average over the batch"}, **kw)

        return [
            case("random logits", real, fake),
            case("logits shaped [N, 1]", real[:, None], fake[:, None]),
            case("more real than fake images (64 and 32)", real, fake[:32]),
            case("a confused D (all logits 0): 2 ln 2", torch.zeros(16), torch.zeros(16)),
            case("a confident, right D (real logits +120, fake -120)", torch.full((16,), 120.0),
                 torch.full((16,), -120.0), hint=_LOGITS_HINT),
            case("a confident, wrong D (real logits -30, fake +30)", torch.full((16,), -30.0), torch.full((16,), 30.0),
                 hint=_LOGITS_HINT),
            case("batch of one", real[:1], fake[:1]),
            _grad_case("gradients with respect to both logits", losses.discriminator_loss, (real[:8], fake[:8]), names),
        ]

    _run("check_discriminator_loss", discriminator_loss, cases)


@_checker("generator_loss(fake_logits)", "rl.losses.generator_loss")
def check_generator_loss(generator_loss: Callable) -> None:
    """Check ``generator_loss(fake_logits)``: the non-saturating ``-log D(G(z)) = BCE(D(G(z)), 1)``, batch mean.

    Not the saturating ``log(1 - D(G(z)))`` of the minimax game, whose gradient vanishes when D
    confidently rejects the fakes; must stay exact at large |logits|. Reference:
    ``rl.losses.generator_loss``.
    """
    names = ("fake_logits",)
    bce = F.binary_cross_entropy_with_logits
    saturating = ("this is the saturating loss log(1 - D(G(z))) of the minimax game: its gradient vanishes when D "
                  "confidently rejects the fakes; minimise -log D(G(z)) = BCE(D(G(z)), 1) instead")
    mistakes = [
        _Mistake(saturating, lambda f: -bce(f, torch.zeros_like(f))),
        _Mistake("this is BCE(D(G(z)), 0), D's own loss on the fakes: the generator labels its fakes as real, "
                 "BCE(D(G(z)), 1) = -log D(G(z))", lambda f: bce(f, torch.zeros_like(f))),
        _Mistake("the sign is wrong: the generator minimises -log D(G(z))", lambda f: -losses.generator_loss(f)),
        _Mistake("summed over the batch: average over the fakes", lambda f: losses.generator_loss(f) * f.numel()),
        _Mistake("log(sigmoid(l)) becomes 0 or -inf once the sigmoid rounds to 1 or 0 in float32: compute from the "
                 "logits (F.binary_cross_entropy_with_logits or F.logsigmoid)", lambda f: _naive_bce(f, 1.0)),
    ]

    def cases():
        g = _gen()
        fake = torch.randn(64, generator=g) - 1.0

        def case(name, f, **kw):
            return _value_case(name, losses.generator_loss, (f,), names, mistakes=mistakes,
                               shape_hints={tuple(f.shape): "one value per fake: average over the batch"}, **kw)

        return [
            case("random logits", fake),
            case("logits shaped [N, 1]", fake[:, None]),
            case("D rejects the fakes (logits about -10)", torch.full((16,), -10.0) + 0.1 * fake[:16]),
            case("D rejects the fakes with certainty (logits -120)", torch.full((16,), -120.0), hint=_LOGITS_HINT),
            case("D is fooled (logits +120)", torch.full((16,), 120.0), hint=_LOGITS_HINT),
            case("batch of one", fake[:1]),
            _grad_case("the gradient where D rejects the fakes (logits -8)", losses.generator_loss,
                       (torch.full((8,), -8.0) + 0.1 * fake[:8],), names,
                       hint="the non-saturating loss keeps a gradient of about -1/N per fake when D rejects them"),
        ]

    _run("check_generator_loss", generator_loss, cases)


# ---------------------------------------------------------------------------------------------
# Latent spaces: spherical interpolation, traversal codes


@_checker("slerp(z_a, z_b, t)", "rl.traversal.interpolate(z_a, z_b, t, mode='slerp')")
def check_slerp(slerp: Callable) -> None:
    """Check ``slerp(z_a, z_b, t)``: the points between two codes [d] at fractions ``t`` -> [T, d].

    ``t`` is a float or a 1-d tensor of T fractions in [0, 1]; one row per fraction (shape [1, d]
    for a float). The book's slerp moves the *direction* along the great circle and interpolates
    the *norm* linearly: with ``u_a = z_a / |z_a|``, ``u_b = z_b / |z_b|``, ``omega = arccos(u_a . u_b)``
    (the cosine clamped to [-1 + 1e-7, 1 - 1e-7], so that identical endpoints give no 0 / 0),
    ``slerp = (sin((1 - t) omega) u_a + sin(t omega) u_b) / sin(omega) * ((1 - t) |z_a| + t |z_b|)``.
    Reference: ``rl.traversal.interpolate(z_a, z_b, t, mode="slerp")``.
    """
    names = ("z_a", "z_b", "t")

    def reference(z_a, z_b, t):
        return _interpolate(z_a, z_b, t, mode="slerp")

    def raw_slerp(z_a, z_b, t):  # Shoemake's formula on the raw vectors (Tom White's DCGAN slerp)
        t = torch.as_tensor(t, dtype=z_a.dtype).reshape(-1, 1)
        omega = torch.arccos((z_a / z_a.norm() * z_b / z_b.norm()).sum().clamp(-1 + 1e-7, 1 - 1e-7))
        return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)

    def unit_slerp(z_a, z_b, t):
        return reference(z_a / z_a.norm(), z_b / z_b.norm(), t)

    mistakes = [
        _Mistake("these are the points of linear interpolation, (1 - t) z_a + t z_b, whose norm sags in the "
                 "middle: slerp moves along the great circle",
                 lambda a, b, t: _interpolate(a, b, t, mode="linear")),
        _Mistake("the path runs backwards: t = 0 must give z_a and t = 1 give z_b", lambda a, b, t: reference(b, a, t)),
        _Mistake("this is Shoemake's slerp of the raw vectors; the book's slerp interpolates the unit directions on "
                 "the sphere and the norm linearly, ((1 - t) |z_a| + t |z_b|)", raw_slerp),
        _Mistake("the points lie on the unit sphere: multiply the direction by the interpolated norm "
                 "(1 - t) |z_a| + t |z_b|", unit_slerp),
    ]

    def cases():
        g = _gen()
        z_a, z_b = torch.randn(100, generator=g), torch.randn(100, generator=g)
        w_a, w_b = torch.randn(16, generator=g), torch.randn(16, generator=g)
        short = torch.randn(8, generator=g)
        long = torch.randn(8, generator=g)
        nine = torch.linspace(0, 1, 9)

        def case(name, a, b, t, **kw):
            scale = float(max(a.norm(), b.norm()))
            t_count = 1 if isinstance(t, float) else len(t)
            hints = {(len(a),): "for one fraction return shape [1, d]: one row per fraction",
                     (len(a), t_count): "transposed: return one row per fraction, [T, d]"}
            return _value_case(name, reference, (a, b, t), names, mistakes=mistakes, scale=scale, shape_hints=hints,
                               **kw)

        return [
            case("two Gaussian codes (d = 100), 9 fractions", z_a, z_b, nine),
            case("the endpoints: t = 0 gives z_a, t = 1 gives z_b", w_a, w_b, torch.tensor([0.0, 1.0])),
            case("one fraction given as a float (t = 0.3)", w_a, w_b, 0.3),
            case("codes of different norms (1 and 10)", short / short.norm(), 10 * long / long.norm(), nine),
            case("identical endpoints (z_b = z_a)", w_a, w_a.clone(), nine,
                 hint="when z_a and z_b point the same way, omega = 0 and sin(omega) = 0: clamp the cosine to at most "
                      "1 - 1e-7, as the library does (or fall back to linear interpolation)"),
            case("nearly identical endpoints", w_a, w_a + 1e-4 * w_b, nine,
                 hint="for a tiny angle omega, sin(omega) is tiny: clamp the cosine to at most 1 - 1e-7"),
        ]

    _run("check_slerp", slerp, cases)


@_checker("traversal_codes(z0, ranges, steps)", "rl.traversal.traversal_codes")
def check_traversal_codes(traversal_codes: Callable) -> None:
    """Check ``traversal_codes(z0, ranges, steps)`` -> ``(codes [d, steps, d], values [d, steps])``.

    ``z0`` [d] is a start code, ``ranges`` a [d, 2] tensor of (lo, hi) per dimension; ``values[i]``
    runs from ``ranges[i, 0]`` to ``ranges[i, 1]`` in ``steps`` equal steps (both ends included),
    and ``codes[i, k]`` is ``z0`` with coordinate i set to ``values[i, k]`` (``z0`` itself unchanged).
    Reference: ``rl.traversal.traversal_codes``.
    """
    names = ("z0", "ranges", "steps")

    def all_coordinates(z0, ranges, steps):
        codes, values = traversal.traversal_codes(z0, ranges, steps)
        return values[:, :, None].expand_as(codes).clone(), values

    def exclusive_end(z0, ranges, steps):
        lo, hi = ranges[:, :1], ranges[:, 1:]
        values = lo + (hi - lo) * torch.arange(steps) / steps
        d = len(z0)
        codes = z0.expand(d, steps, d).clone()
        codes[torch.arange(d), :, torch.arange(d)] = values
        return codes, values

    mistakes = [
        _Mistake("row i may change only coordinate i: start every frame from a copy of z0", all_coordinates),
        _Mistake("the values must run from lo to hi with both ends included: torch.linspace(lo, hi, steps)",
                 exclusive_end),
    ]

    def cases():
        g = _gen()
        z3 = torch.randn(3, generator=g)
        r3 = torch.tensor([[-2.0, 2.0], [-1.0, 3.0], [0.0, 1.0]])
        z10 = torch.randn(10, generator=g)
        r10 = torch.stack([-1 - torch.rand(10, generator=g), 1 + torch.rand(10, generator=g)], dim=1)
        z1 = torch.randn(1, generator=g)
        return [
            _traversal_case("a 3-d code, 5 steps", z3, r3, 5, names, mistakes),
            _traversal_case("a 10-d code, 11 steps (the book's)", z10, r10, 11, names, mistakes),
            _traversal_case("two steps (the ends of each range)", z10, r10, 2, names, mistakes),
            _traversal_case("a 1-d code", z1, r3[:1], 7, names, mistakes),
        ]

    _run("check_traversal_codes", traversal_codes, cases)


def _traversal_case(name, z0, ranges, steps, names, mistakes) -> _Case:
    args = (z0, ranges, steps)

    def run(session: _Session) -> None:
        got = session.call(*args, names=names)
        codes, values = traversal.traversal_codes(z0.clone(), ranges.clone(), steps)
        d = len(z0)
        try:
            if isinstance(got, torch.Tensor) or not isinstance(got, (tuple, list)) or len(got) != 2:
                raise _Mismatch(f"the result is {'a tensor' if isinstance(got, torch.Tensor) else type(got).__name__}: "
                                f"return the pair (codes, values), like rl.traversal.traversal_codes")
            _compare(got[0], codes, subject="codes", atol=ATOL * 4, shape_hints={
                (steps, d, d): "one row per dimension: codes[i, k] is frame k of dimension i's traversal, "
                               "[d, steps, d]",
                (d * steps, d): "keep the rows apart: codes has shape [d, steps, d]"})
            _compare(got[1], values, subject="values", atol=ATOL * 4, shape_hints={
                (steps, d): "one row per dimension: values has shape [d, steps]"})
        except _Mismatch as mismatch:
            known = _recognise(got, args, mistakes, RTOL, ATOL * 4) if isinstance(got, (tuple, list)) else None
            raise _Mismatch(f"{mismatch}{': ' + known if known else ''} ({_inputs_text(names, args)})") from None

    return _Case(name, run)


# ---------------------------------------------------------------------------------------------
# Metrics: MMD, clustering accuracy, inception score


@_checker("mmd_rbf(x, y, bandwidths)", "rl.metrics.mmd_rbf")
def check_mmd(mmd_rbf: Callable) -> None:
    """Check ``mmd_rbf(x, y, bandwidths)``: the unbiased squared MMD with a sum of RBF kernels (a number).

    ``k(a, b) = sum_s exp(-||a - b||^2 / (2 s^2))`` over the bandwidths s; with m points x [m, d]
    and n points y [n, d], ``MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j}
    k(y_i, y_j) / (n (n - 1)) - 2 mean_{i, j} k(x_i, y_j)`` (near 0, possibly negative, when x and
    y come from one distribution). A float or a 0-d tensor. Reference: ``rl.metrics.mmd_rbf``.
    """
    names = ("x", "y", "bandwidths")

    def parts(x, y, bandwidths, kernel):
        x, y = x.double(), y.double()
        kxx = sum(kernel(torch.cdist(x, x), s) for s in bandwidths)
        kyy = sum(kernel(torch.cdist(y, y), s) for s in bandwidths)
        kxy = sum(kernel(torch.cdist(x, y), s) for s in bandwidths)
        m, n = len(x), len(y)
        unbiased_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
        unbiased_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
        return kxx, kyy, kxy, unbiased_x, unbiased_y

    def rbf(d, s):
        return torch.exp(-d**2 / (2 * s**2))

    def biased(x, y, bw):
        kxx, kyy, kxy, _, _ = parts(x, y, bw, rbf)
        return float(kxx.mean() + kyy.mean() - 2 * kxy.mean())

    def with_kernel(kernel):
        def mmd(x, y, bw):
            _, _, kxy, ux, uy = parts(x, y, bw, kernel)
            return float(ux + uy - 2 * kxy.mean())
        return mmd

    def cross_once(x, y, bw):
        _, _, kxy, ux, uy = parts(x, y, bw, rbf)
        return float(ux + uy - kxy.mean())

    def averaged_kernels(x, y, bw):
        return metrics.mmd_rbf(x, y, bw) / len(bw)

    mistakes = [
        _Mistake("this is the biased estimate: leave the diagonal k(x_i, x_i) out of the within-sample sums and "
                 "divide them by m (m - 1)", biased),
        _Mistake("the RBF kernel is exp(-||a - b||^2 / (2 s^2)): the 2 is missing",
                 with_kernel(lambda d, s: torch.exp(-d**2 / s**2))),
        _Mistake("the RBF kernel uses the squared distance ||a - b||^2",
                 with_kernel(lambda d, s: torch.exp(-d / (2 * s**2)))),
        _Mistake("the cross term counts twice: - 2 mean k(x_i, y_j)", cross_once),
        _Mistake("the kernels of the bandwidths are summed, not averaged", averaged_kernels),
    ]

    def cases():
        g = _gen()
        bw = (0.2, 0.5, 1.0, 2.0, 5.0)

        def case(name, x, y, bandwidths=bw):
            return _value_case(name, metrics.mmd_rbf, (x, y, bandwidths), names, mistakes=mistakes,
                               scale=len(bandwidths))

        a, b = torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g)
        return [
            case("one distribution, 200 and 200 points in 2-d", a, b),
            case("shifted by 1 in each of 10 dims, 150 and 100 points", torch.randn(150, 10, generator=g),
                 torch.randn(100, 10, generator=g) + 1.0),
            case("a single bandwidth (1.0)", a, 2 * b, (1.0,)),
            case("different spreads (0.5 and 2)", 0.5 * a[:120], 2 * b[:80]),
            case("the smallest samples (2 points each)", a[:2], b[:2] + 0.5),
        ]

    _run("check_mmd", mmd_rbf, cases)


@_checker("cluster_accuracy(labels, clusters)", "rl.metrics.cluster_accuracy")
def check_cluster_accuracy(cluster_accuracy: Callable) -> None:
    """Check ``cluster_accuracy(labels, clusters)``: accuracy after the best one-to-one cluster -> label map.

    ``labels`` and ``clusters`` are int64 numpy arrays [N]; each cluster is assigned to at most
    one label (the Hungarian method, ``scipy.optimize.linear_sum_assignment`` on the cluster x
    label counts), and the result is the fraction of points whose cluster maps to their label
    (a number in [0, 1]). Reference: ``rl.metrics.cluster_accuracy``.
    """
    names = ("labels", "clusters")

    def majority(labels, clusters):
        hits = sum(np.bincount(labels[clusters == c]).max() for c in np.unique(clusters))
        return hits / len(labels)

    mistakes = [
        _Mistake("each cluster was mapped to its majority label, so two clusters can claim one label: the mapping "
                 "must be one-to-one (the Hungarian method, scipy.optimize.linear_sum_assignment)", majority),
        _Mistake("the cluster ids were compared with the labels directly: find the best one-to-one mapping first",
                 lambda labels, clusters: float((labels == clusters).mean())),
        _Mistake("this is a count: divide by the number of points",
                 lambda labels, clusters: metrics.cluster_accuracy(labels, clusters) * len(labels)),
    ]

    def cases():
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 10, 500)
        permutation = rng.permutation(10)
        noisy = np.where(rng.random(500) < 0.3, rng.integers(0, 10, 500), permutation[labels])
        # clusters 0 and 1 are both mostly label 0: a majority vote gives label 0 to both
        shared = np.array([0] * 8 + [1] * 2 + [0] * 6 + [1] * 1 + [2] * 3 + [1] * 3)
        shared_clusters = np.array([0] * 10 + [1] * 7 + [2] * 6)
        wide = rng.integers(0, 15, 500)

        def case(name, lab, clu):
            return _value_case(name, metrics.cluster_accuracy, (lab, clu), names, mistakes=mistakes)

        return [
            case("a perfect clustering with permuted cluster ids", labels, permutation[labels]),
            case("a noisy clustering (30% of points reassigned)", labels, noisy),
            case("two clusters with the same majority label", shared, shared_clusters),
            case("more clusters (15) than labels (10)", labels, wide),
            case("a single cluster", labels, np.zeros_like(labels)),
        ]

    _run("check_cluster_accuracy", cluster_accuracy, cases)


@_checker("inception_score(probs)", "rl.metrics.inception_score")
def check_inception_score(inception_score: Callable) -> None:
    """Check ``inception_score(probs)``: ``exp(E_x KL(p(y|x) || p(y)))`` of class probabilities [N, 10] (a number).

    ``p(y) = probs.mean(0)`` is the marginal over the images; ``0 log 0`` counts as 0 (clamp the
    probabilities, e.g. at 1e-12, or use ``torch.xlogy``). 1 for useless, 10 for confident and
    balanced predictions. Reference: ``rl.metrics.inception_score``.
    """
    names = ("probs",)

    def mean_kl(p, q):
        p = p.double().clamp_min(1e-12)
        return (p * (p.log() - q.double().clamp_min(1e-12).log())).sum(1).mean()

    mistakes = [
        _Mistake("this is the log of the score: return exp(E KL(p(y|x) || p(y)))",
                 lambda p: float(mean_kl(p, p.mean(0, keepdim=True)))),
        _Mistake("use the natural logarithm (or the exponential of the KL in nats), not log2",
                 lambda p: float(2 ** (mean_kl(p, p.mean(0, keepdim=True)) / math.log(2)))),
        _Mistake("the KL is reversed: KL(p(y|x) || p(y)), the image's predictions against the marginal",
                 lambda p: float(torch.exp((p.mean(0, keepdim=True).double().clamp_min(1e-12)
                                            * (p.mean(0, keepdim=True).double().clamp_min(1e-12).log()
                                               - p.double().clamp_min(1e-12).log())).sum(1).mean()))),
        _Mistake("p(y) is the marginal over the images, probs.mean(0), not the uniform distribution",
                 lambda p: float(torch.exp(mean_kl(p, torch.full_like(p, 0.1))))),
    ]

    def cases():
        g = _gen()
        one_hot = torch.eye(10).repeat(20, 1)
        random = torch.softmax(3 * torch.randn(500, 10, generator=g), dim=1)
        same = torch.zeros(50, 10)
        same[:, 3] = 1.0

        def case(name, p, **kw):
            return _value_case(name, metrics.inception_score, (p,), names, mistakes=mistakes, **kw)

        zero_hint = "0 * log 0 must count as 0: clamp the probabilities (e.g. clamp_min(1e-12)) or use torch.xlogy"
        return [
            case("random softmax outputs (500 x 10)", random),
            case("confident and balanced (one-hot, every class): 10", one_hot, hint=zero_hint),
            case("uniform predictions: 1", torch.full((100, 10), 0.1)),
            case("confident but always the same digit: 1", same, hint=zero_hint),
            case("a single image: 1", random[:1]),
        ]

    _run("check_inception_score", inception_score, cases)


# ---------------------------------------------------------------------------------------------
# Convolutions and the transfer path


@_checker("conv_output_size(width, kernel, stride, padding)", "replearn_core.models.dcgan.conv_output_size")
def check_conv_output_size(conv_output_size: Callable) -> None:
    """Check ``conv_output_size(width, kernel, stride, padding)``: ``floor((W - K + 2P) / S) + 1``, an int.

    Reference: ``replearn_core.models.dcgan.conv_output_size``.
    """
    names = ("width", "kernel", "stride", "padding")
    mistakes = [
        _Mistake("rounded up: when S does not divide W - K + 2P the kernel runs out of pixels, so round down "
                 "(floor division //)", lambda w, k, s, p: -(-(w - k + 2 * p) // s) + 1),
        _Mistake("padding adds P pixels on each side: 2P in all", lambda w, k, s, p: (w - k + p) // s + 1),
        _Mistake("the + 1 is missing: the first position of the kernel counts too",
                 lambda w, k, s, p: (w - k + 2 * p) // s),
        _Mistake("the stride divides W - K + 2P, not the whole expression",
                 lambda w, k, s, p: (w - k + 2 * p + 1) // s),
        _Mistake("rounded to the nearest integer: round down (floor division //)",
                 lambda w, k, s, p: round((w - k + 2 * p) / s) + 1),
    ]
    layers = [
        ("a DCGAN discriminator layer, 64 -> 32", 64, 4, 2, 1),
        ("MNIST, 28 -> 14", 28, 4, 2, 1),
        ("the stride does not divide W - K + 2P", 28, 5, 2, 0),
        ("'same' padding", 7, 3, 1, 1),
        ("a kernel as wide as the input", 4, 4, 1, 0),
        ("a large stride", 32, 3, 3, 0),
        ("padding only", 5, 1, 1, 2),
        ("a 1 x 1 input", 1, 1, 1, 0),
    ]
    _run("check_conv_output_size", conv_output_size, lambda: [
        _value_case(f"{name} (W={w}, K={k}, S={s}, P={p})", dcgan.conv_output_size, (w, k, s, p), names,
                    mistakes=mistakes) for name, w, k, s, p in layers])


def _random_transfer_model(design: str, seed: int) -> transfer_models.TransferAutoencoder:
    """A small TransferAutoencoder whose every weight is random, so that its two decoders (and
    its two encoders) differ, as they do after training."""
    config = transfer_models.TransferConfig(design=design, input_dim=64, hidden=(32,), latent_dim=16)
    model = transfer_models.TransferAutoencoder(config).eval()
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    model._exercise_description = f"TransferAutoencoder({design}, 64-32-16)"
    return model


@_checker("transfer(model, x)", "TransferAutoencoder.transfer (replearn_core/models/transfer.py)")
def check_transfer(transfer: Callable) -> None:
    """Check ``transfer(model, x)``: faces with glasses, encoded by the glasses side and decoded by the
    decoder of the faces *without* glasses: ``model.decode(model.encode(x, GLASSES), NO_GLASSES)``,
    pixel probabilities [N, input_dim].

    Tested on small random models of both designs (one shared encoder; two autoencoders).
    Reference: ``TransferAutoencoder.transfer(x)`` (replearn_core/models/transfer.py).
    """
    GLASSES, NO_GLASSES = transfer_models.GLASSES, transfer_models.NO_GLASSES
    names = ("model", "x")

    def reference(model, x):
        return model.transfer(x, source=GLASSES)

    mistakes = [
        _Mistake("this is the reconstruction g_glasses(f_glasses(x)): the transfer path decodes with the OTHER "
                 "domain's decoder, model.decode(h, NO_GLASSES)", lambda m, x: m.reconstruct(x, GLASSES)),
        _Mistake("these are logits: model.decode applies the sigmoid (decode_logits does not)",
                 lambda m, x: m.decode_logits(m.encode(x, GLASSES), NO_GLASSES)),
        _Mistake("the path runs the wrong way: encode the faces with glasses (domain GLASSES) and decode with "
                 "the no-glasses decoder", lambda m, x: m.decode(m.encode(x, NO_GLASSES), GLASSES)),
        _Mistake("encoded with the no-glasses encoder: faces with glasses go through the glasses encoder, "
                 "model.encode(x, GLASSES)", lambda m, x: m.decode(m.encode(x, NO_GLASSES), NO_GLASSES)),
        _Mistake("the encoder module got raw pixels: model.encode centres the input (x - 1/2) first, so call "
                 "model.encode(x, GLASSES) instead of the module",
                 lambda m, x: m.decode(m.encoder_for(GLASSES)(x.reshape(len(x), -1)), NO_GLASSES)),
    ]

    def cases():
        g = _gen()
        shared = _random_transfer_model("shared_encoder", 1)
        two = _random_transfer_model("two_autoencoders", 2)
        x = torch.rand(8, 64, generator=g)

        def case(name, model, faces):
            return _value_case(name, reference, (model, faces), names, mistakes=mistakes)

        return [
            case("one shared encoder, 8 faces", shared, x),
            case("two autoencoders (the report's design), 8 faces", two, x),
            case("one face (batch of one)", two, x[:1]),
        ]

    _run("check_transfer", transfer, cases)
