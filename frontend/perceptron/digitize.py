"""The mock's CPU kernels in numba: the operands' rounding, range check and conversion to int8
in one pass, and the digitization (scale, noise, floor, clamp) of the GEMM's chunk sums.

`y = clamp(floor(acc * num_sends * gain + noise), -128, 127)` per element, computed in float64
registers (acc * num_sends is exact, one rounding for the gain: bit-exact with the ideal chip,
see multiply.py) without float64 temporaries in memory.

The Gaussian noise is Box-Muller on a counter-based generator, so that LLVM vectorizes it and
it is fused into the digitization: sample pair p of a call takes the splitmix64 outputs number
2p and 2p + 1 of a stream whose start is drawn from torch's global generator (so
`torch.manual_seed` still repeats mock results) and turns them into a radius
sqrt(-2 ln u1), u1 in (0, 1] with 53 bits (so |sample| < 8.58), and an angle uniform on the
circle. ln, sin and cos are fdlibm's polynomials here (numba would call libm per element).
A sample depends only on the seed and its position, not on blocking or threads. About 2 ns per
sample with the digitization on this host, against 3 ns for the scalar ziggurat on
xoshiro256** before it and about twice the GEMM for torch's `normal_`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from . import rounding

GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64's increment (2^64 / golden ratio)
UNIT = 1.0 / 9007199254740992.0  # 2^-53
WRITE, ADD, ADD_AND_CLAMP = 0, 1, 2  # how a chunk's result meets the output
NOISE_BLOCK = 4096  # samples per block: 2048 pairs, 32 KiB of float64 (stays in L1)
# fdlibm's minimax coefficients (Sun Microsystems, freely distributable; e_log.c, k_sin.c,
# k_cos.c), exact as decimals: ln(1 + f) = 2s + s R(s^2), s = f / (2 + f), for 1 + f in
# [sqrt(2)/2, sqrt(2)); sin x = x + x q S(q) and cos x = 1 - q/2 + q^2 C(q), q = x^2, on
# [-pi/4, pi/4]; each within 1e-16 of libm (tests/test_mock_kernels.py). Highest first.
LOG_R = (1.479819860511658591e-01, 1.531383769920937332e-01, 1.818357216161805012e-01,
         2.222219843214978396e-01, 2.857142874366239149e-01, 3.999999999940941908e-01,
         6.666666666666735130e-01, 0.0)
SIN_S = (1.58969099521155010221e-10, -2.50507602534068634195e-08, 2.75573137070700676789e-06,
         -1.98412698298579493134e-04, 8.33333333332248946124e-03, -1.66666666666666324348e-01)
COS_C = (-1.13596475577881948265e-11, 2.08757232129817482790e-09, -2.75573143513906633035e-07,
         2.48015872894767294178e-05, -1.38888888888741095749e-03, 4.16666666666666019037e-02)
LN2 = math.log(2.0)
SQRT2 = math.sqrt(2.0)
QUARTER_TURN = math.pi / 2


@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a bitcast LLVM can vectorize)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 with the IEEE bits of an int64."""
    if x != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def _mix(z):
    """splitmix64's output function (Stafford's mix 13): a bijection of the 64-bit words."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always", error_model="numpy")
def _horner(x, coefficients):
    p = 0.0
    for c in coefficients:  # a tuple: unrolled
        p = p * x + c
    return p


@njit(cache=True, inline="always", error_model="numpy")
def _log_unit(u):
    """ln(u) for a normal float64 u > 0: exponent and mantissa in [sqrt(2)/2, sqrt(2))."""
    bits = _bits(u)
    e = (bits >> 52) - 1023
    m = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    return float(e) * LN2 + (2.0 * s + s * _horner(z, LOG_R))


@njit(cache=True, inline="always", error_model="numpy")
def _normal_pair(z):
    """Box-Muller: two independent standard normal samples from the splitmix64 outputs at
    `z` and `z + GAMMA`."""
    r1 = _mix(z)
    r2 = _mix(z + GAMMA)
    u1 = float(np.int64(r1 >> np.uint64(11)) + 1) * UNIT  # (0, 1], 53 bits
    radius = np.sqrt(-2.0 * _log_unit(u1))
    # the angle: a quadrant from two low bits, phi uniform in [-pi/4, pi/4) from the top 53
    quadrant = np.int64(r2 & np.uint64(3))
    phi = (float(np.int64(r2 >> np.uint64(11))) * UNIT - 0.5) * QUARTER_TURN
    q = phi * phi
    sin = phi + phi * q * _horner(q, SIN_S)
    cos = 1.0 - 0.5 * q + q * q * _horner(q, COS_C)
    odd = (quadrant & 1) != 0  # turn (cos, sin) by the quadrant's quarter turns
    c = sin if odd else cos
    s = cos if odd else sin
    return (radius * (-c if (quadrant == 1) | (quadrant == 2) else c),
            radius * (-s if quadrant >= 2 else s))


@njit(cache=True, inline="always", error_model="numpy")
def _level(acc, num_sends, gain, noise):
    """clamp(floor(acc * num_sends * gain + noise), -128, 127): one element's digitization."""
    return min(max(np.floor(float(acc) * num_sends * gain + noise), -128.0), 127.0)


# The pair loops below: contraction to FMAs is allowed (a third faster); the noise-free path
# (in `_digitize`) is not contracted, so it stays bit-exact.

@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _normal_pairs(key, first, n1, n2):
    """n1[p], n2[p]: the two samples of pair `first + p` of stream `key` (same sizes)."""
    z = key + np.uint64(2 * first) * GAMMA
    for p in range(n1.size):
        n1[p], n2[p] = _normal_pair(z)
        z += GAMMA + GAMMA


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _noisy(key, first, a1, a2, o1, o2, num_sends, gain, noise_std, add):
    """o = clamp(floor(a * num_sends * gain + noise_std * sample), -128, 127), added to o if
    `add`, on both halves of a block (a1, a2: chunk sums; o1, o2: outputs, not overlapping),
    with the samples of `_normal_pairs`."""
    z = key + np.uint64(2 * first) * GAMMA
    if add:  # two loops rather than a select per element
        for p in range(o1.size):
            x1, x2 = _normal_pair(z)
            z += GAMMA + GAMMA
            o1[p] += _level(a1[p], num_sends, gain, noise_std * x1)
            o2[p] += _level(a2[p], num_sends, gain, noise_std * x2)
    else:
        for p in range(o1.size):
            x1, x2 = _normal_pair(z)
            z += GAMMA + GAMMA
            o1[p] = _level(a1[p], num_sends, gain, noise_std * x1)
            o2[p] = _level(a2[p], num_sends, gain, noise_std * x2)


@njit(cache=True, error_model="numpy")
def _digitize(acc, out, num_sends, gain, noise_std, key, mode):
    flat_acc = acc.ravel()
    flat_out = out.ravel()
    size = flat_acc.size
    add = mode != WRITE
    spare = np.zeros(1, flat_out.dtype)  # where the unused second sample goes
    for b0 in range(0, size, NOISE_BLOCK):
        n = min(NOISE_BLOCK, size - b0)
        a, o = flat_acc[b0:b0 + n], flat_out[b0:b0 + n]
        if noise_std > 0:
            # element j of a block takes the first sample of the block's pair j, element
            # h + j the second; an odd block's last pair has no element for its second
            h = (n + 1) // 2
            m = n - h  # complete pairs
            _noisy(key, b0 // 2, a[:m], a[h:], o[:m], o[h:], num_sends, gain, noise_std, add)
            if h > m:
                _noisy(key, b0 // 2 + m, a[m:h], a[m:h], o[m:h], spare, num_sends, gain,
                       noise_std, add)
        elif add:  # no noise (not contracted: bit-exact)
            for j in range(n):
                o[j] += _level(a[j], num_sends, gain, 0.0)
        else:
            for j in range(n):
                o[j] = _level(a[j], num_sends, gain, 0.0)
        if mode == ADD_AND_CLAMP:
            for j in range(n):
                o[j] = min(max(o[j], -128.0), 127.0)


@njit(cache=True, error_model="numpy")
def _round_into(src, dst, lo, hi):
    """dst = round half to even (np.rint, as torch.round) of src; whether any rounded value
    leaves [lo, hi] (NaN counts; dst is then not meaningful)."""
    flat_src = src.ravel()
    flat_dst = dst.ravel()
    bad = False
    for i in range(flat_src.size):  # an index loop and an or: LLVM vectorizes it
        r = np.rint(flat_src[i])
        ok = (r >= lo) & (r <= hi)  # False for NaN
        bad |= ~ok
        flat_dst[i] = np.int8(np.int32(r if ok else lo))
    return bad


NUMPY_DTYPES = (torch.float32, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8,
                torch.uint8)


def round_int8(x: torch.Tensor, lo: int, hi: int
               ) -> tuple[torch.Tensor, tuple[float, float] | None]:
    """Mock-mode rounding (half to even) of a CPU tensor into int8, with its range check in the
    same pass ([lo, hi] must lie in -128..127).

    Returns the rounded tensor and None if every rounded value is in [lo, hi] (or x is empty),
    else the (min, max) of the rounded values (NaN if any is NaN) for `rounding.check_found`.
    """
    x = x.detach()
    out = torch.empty(x.shape, dtype=torch.int8)
    if x.numel() == 0:
        return out, None
    if x.dtype not in NUMPY_DTYPES:  # float16, bfloat16: torch rounds
        r = torch.round(x)
        found = rounding.value_range(r)
        if found[0] >= lo and found[1] <= hi:
            return out.copy_(r), None
        return out, found
    src = x.numpy()
    bound = np.float32 if x.dtype == torch.float32 else np.float64
    if not _round_into(src, out.numpy(), bound(lo), bound(hi)):
        return out, None
    return out, rounding.value_range(torch.round(x.to(torch.float64)))


def round_away_int64(x: torch.Tensor) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Hardware-mode rounding (`rounding.half_away_from_zero`) of a CPU tensor into a new int64
    array, and the (min, max) of the rounded values (None if empty, NaN if any is NaN) for the
    range check, in one pass. Values beyond +-2**62 (and NaN) are not representable: the array
    holds them clamped (NaN as 0), so check the range before using it."""
    out = np.empty(tuple(x.shape), dtype=np.int64)
    if x.numel() == 0:
        return out, None
    if x.dtype not in (torch.float32, torch.float64):  # exact in float64, as the original
        x = x.to(torch.float64)
    return out, _round_away_into(x.detach().numpy(), out)


@njit(cache=True)
def _round_away_into(src, dst):
    """dst = round half away from zero (std::lround) of src; (min, max) of the rounded values,
    NaN if any is NaN."""
    flat_dst = dst.ravel()
    lo, hi = np.inf, -np.inf
    bad = False
    k = 0
    for v in src.ravel():
        f = float(v)
        t = np.trunc(f)
        r = t + (1.0 if f > 0 else -1.0) if abs(f - t) == 0.5 else np.rint(f)
        bad |= r != r
        lo = min(lo, r)
        hi = max(hi, r)
        flat_dst[k] = np.int64(min(max(r, -LIMIT), LIMIT)) if r == r else 0
        k += 1
    return (np.nan, np.nan) if bad else (lo, hi)


LIMIT = float(2 ** 62)


def digitize_into(acc: torch.Tensor, out: torch.Tensor, num_sends: int, gain: float,
                  noise_std: float, mode: int = WRITE) -> None:
    """Digitize the CPU chunk sums `acc` (int32 or float32, integers) into the float32 `out`
    (same shape, both contiguous, not overlapping): written (WRITE), added (ADD) or added and
    saturated (ADD_AND_CLAMP)."""
    seed = int(torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=torch.int64)) if noise_std > 0 \
        else 0
    _digitize(acc.numpy(), out.numpy(), float(num_sends), float(gain), float(noise_std),
              np.uint64(seed & 0xFFFFFFFFFFFFFFFF), mode)


def standard_normal(n: int, seed: int) -> np.ndarray:
    """The first n noise samples of stream `seed`, in the order `digitize_into` adds them to
    one block of elements (for the tests of the generator)."""
    out = np.empty(n)
    for b0 in range(0, n, NOISE_BLOCK):
        block = out[b0:b0 + NOISE_BLOCK]
        h = (block.size + 1) // 2
        pairs = np.empty(2 * h)
        _normal_pairs(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), b0 // 2, pairs[:h], pairs[h:])
        block[:] = pairs[:block.size]
    return out


__all__ = ["ADD", "ADD_AND_CLAMP", "WRITE", "digitize_into", "round_away_int64", "round_int8",
           "standard_normal"]
