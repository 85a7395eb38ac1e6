"""The mock's digitization on the CPU in one fused numba pass: scale, noise, floor, clamp.

`y = clamp(floor(acc * num_sends * gain + noise), -128, 127)` per element, computed in float64
registers (acc * num_sends is exact, one rounding for the gain: bit-exact with the ideal chip,
see multiply.py) without float64 temporaries in memory. The Gaussian noise comes from a
xoshiro256** stream (seeded from torch's global generator, so `torch.manual_seed` still
repeats mock results) through a 256-layer ziggurat (Marsaglia & Tsang 2000, with Doornik's
tail and wedge tests, as numpy's legacy normal generator): about one 64-bit random number per
sample, versus torch's Box-Muller on a Mersenne twister, which costs about twice the GEMM.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

LAYERS = 256
R = 3.6541528853610087963519472518  # start of the tail
V = 4.92867323399e-3  # area of each layer
MANTISSA = 2.0 ** 52

WRITE, ADD, ADD_AND_CLAMP = 0, 1, 2  # how a chunk's result meets the output
NOISE_BLOCK = 4096  # samples drawn ahead (32 KiB, stays in L1)


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ziggurat tables ki (int64 thresholds), wi (widths / 2**52), fi (densities)."""
    ki = np.zeros(LAYERS, np.int64)
    wi = np.zeros(LAYERS)
    fi = np.zeros(LAYERS)
    dn = tn = R
    q = V / np.exp(-0.5 * dn * dn)
    ki[0] = np.int64((dn / q) * MANTISSA)
    ki[1] = 0
    wi[0] = q / MANTISSA
    wi[LAYERS - 1] = dn / MANTISSA
    fi[0] = 1.0
    fi[LAYERS - 1] = np.exp(-0.5 * dn * dn)
    for i in range(LAYERS - 2, 0, -1):
        dn = np.sqrt(-2.0 * np.log(V / dn + np.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.int64((dn / tn) * MANTISSA)
        tn = dn
        fi[i] = np.exp(-0.5 * dn * dn)
        wi[i] = dn / MANTISSA
    return ki, wi, fi


KI, WI, FI = _tables()


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, inline="always")
def _next(s):
    """xoshiro256**: the next 64-bit output of state `s` (4 x uint64, updated)."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True, inline="always")
def _uniform(s):
    """A float64 in [0, 1)."""
    return float(_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _seed(seed):
    """xoshiro state from a 64-bit seed via splitmix64 (never all zero)."""
    s = np.empty(4, np.uint64)
    z = np.uint64(seed)
    for i in range(4):
        z += np.uint64(0x9E3779B97F4A7C15)
        x = z
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        s[i] = x ^ (x >> np.uint64(31))
    return s


@njit(cache=True)
def _tail(s, negative):
    """A sample of the normal tail beyond R (Marsaglia's method), negative or positive."""
    while True:
        xx = -np.log1p(-_uniform(s)) / R
        yy = -np.log1p(-_uniform(s))
        if yy + yy > xx * xx:
            return -(R + xx) if negative else R + xx


@njit(cache=True)
def _fill_normal(s, buf, tails, ki, wi, fi):
    """`buf` filled with standard normal samples (ziggurat) from state `s`; `tails`: scratch
    of buf's size.

    One flat loop without calls: a call to another compiled function anywhere in it (even on
    the tail's rare path) makes numba's code for the common path ten times slower, so the
    tail samples are drawn afterwards, at the positions recorded in `tails`.
    """
    count = 0
    for i in range(buf.size):
        while True:
            r = _next(s)
            idx = np.intp(r & np.uint64(0xFF))
            sign = (r >> np.uint64(8)) & np.uint64(1)
            rabs = np.int64((r >> np.uint64(9)) & np.uint64(0x000FFFFFFFFFFFFF))
            x = float(rabs) * wi[idx]
            if sign:
                x = -x
            if rabs < ki[idx]:  # the rectangle: 98.5 % of the candidates
                buf[i] = x
                break
            if idx == 0:  # beyond R
                buf[i] = x
                tails[count] = i
                count += 1
                break
            if (fi[idx - 1] - fi[idx]) * _uniform(s) + fi[idx] < np.exp(-0.5 * x * x):
                buf[i] = x  # the wedge
                break
    for t in range(count):
        buf[tails[t]] = _tail(s, buf[tails[t]] < 0)


@njit(cache=True)
def _digitize(acc, out, num_sends, gain, noise_std, seed, mode, ki, wi, fi):
    s = _seed(seed)
    flat_acc = acc.ravel()
    flat_out = out.ravel()
    noise = np.zeros(min(NOISE_BLOCK, flat_acc.size))
    tails = np.empty(noise.size, np.intp)
    for b0 in range(0, flat_acc.size, NOISE_BLOCK):
        n = min(NOISE_BLOCK, flat_acc.size - b0)
        a, o = flat_acc[b0:b0 + n], flat_out[b0:b0 + n]
        if noise_std > 0:  # in blocks: a call in the per-element loop would slow it down
            _fill_normal(s, noise[:n], tails, ki, wi, fi)
            for j in range(n):  # branch-free loops: LLVM vectorizes them
                o[j] = min(max(np.floor(float(a[j]) * num_sends * gain
                                        + noise_std * noise[j]), -128.0), 127.0) \
                    + (o[j] if mode != WRITE else 0.0)
        else:
            for j in range(n):
                o[j] = min(max(np.floor(float(a[j]) * num_sends * gain), -128.0), 127.0) \
                    + (o[j] if mode != WRITE else 0.0)
        if mode == ADD_AND_CLAMP:
            for j in range(n):
                o[j] = min(max(o[j], -128.0), 127.0)


@njit(cache=True)
def _round_into(src, dst):
    """dst = round half to even (np.rint, as torch.round) of src; (min, max) of the rounded
    values, NaN if any is NaN."""
    flat_dst = dst.ravel()
    lo, hi = np.inf, -np.inf
    bad = False
    k = 0
    for v in src.ravel():
        r = np.rint(float(v))
        bad |= r != r
        lo = min(lo, r)
        hi = max(hi, r)
        flat_dst[k] = r
        k += 1
    return (np.nan, np.nan) if bad else (lo, hi)


NUMPY_DTYPES = (torch.float32, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8,
                torch.uint8)


def round_float32(x: torch.Tensor) -> tuple[torch.Tensor, tuple[float, float] | None]:
    """Mock-mode rounding of a CPU tensor into a new float32 tensor, and the (min, max) of the
    rounded values (None if empty) for the range check, in one pass."""
    out = torch.empty(x.shape, dtype=torch.float32)
    if x.numel() == 0:
        return out, None
    if x.dtype not in NUMPY_DTYPES:  # float16, bfloat16: torch rounds
        out.copy_(torch.round(x))
        lo, hi = torch.aminmax(out)
        return out, (float(lo), float(hi))
    return out, _round_into(x.detach().numpy(), out.numpy())


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
    """Digitize the float32 CPU chunk sums `acc` into `out` (same shape, contiguous; may be
    `acc` itself): written (WRITE), added (ADD) or added and saturated (ADD_AND_CLAMP)."""
    seed = int(torch.randint(-(2 ** 63), 2 ** 63 - 1, (), dtype=torch.int64)) if noise_std > 0 \
        else 0
    _digitize(acc.numpy(), out.numpy(), float(num_sends), float(gain), float(noise_std),
              np.uint64(seed & 0xFFFFFFFFFFFFFFFF), mode, KI, WI, FI)


def standard_normal(n: int, seed: int) -> np.ndarray:
    """n samples of the ziggurat (for the tests of the generator)."""
    return _sample(n, np.uint64(seed), KI, WI, FI)


@njit(cache=True)
def _sample(n, seed, ki, wi, fi):
    out = np.empty(n)
    _fill_normal(_seed(seed), out, np.empty(n, np.intp), ki, wi, fi)
    return out


__all__ = ["ADD", "ADD_AND_CLAMP", "WRITE", "digitize_into", "round_away_int64", "round_float32",
           "standard_normal"]
