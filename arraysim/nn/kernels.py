"""Compiled kernels of the quantized-network inference (numba, ``cache=True``).

Binary activations (+1/-1) are bit-packed into ``uint64`` words, bit ``k % 64`` of word ``k // 64`` set when
the value is +1 (> 0); padding bits are 0 in activations and weights alike.  For a layer with ``K`` inputs:

* binary weights (one bit plane, bit = weight is +1): ``a = K - 2 * popcount(x XOR w)`` (XNOR-popcount);
* ternary weights (two planes ``P`` = weight is +1, ``M`` = weight is -1, both 0 for weight 0):
  ``a = 2 popcount(x AND P) - |P| - 2 popcount(x AND M) + |M|``.

Both are exact integer dot products of the +-1 inputs with the weights (int32), i.e. exactly what the float
evaluation of the same layer gives.  The dot-product kernels run in parallel over examples (numba
``prange``) when the work is large enough (:data:`PARALLEL_MIN_WORK`), else on one thread.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, x):
    """``llvm.ctpop.i64``: one POPCNT instruction where the CPU has it."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@nb.njit(cache=True)
def pack_rows(a):
    """(N, K) array of +-1 (any numeric dtype; > 0 means +1) -> (N, ceil(K/64)) uint64 bit planes."""
    n, k = a.shape
    kw = (k + 63) // 64
    out = np.zeros((n, kw), np.uint64)
    for i in range(n):
        for w in range(kw):
            base = w * 64
            m = min(64, k - base)
            word = np.uint64(0)
            for b in range(m):
                bit = np.uint64(1) if a[i, base + b] > 0 else np.uint64(0)
                word |= bit << np.uint64(b)
            out[i, w] = word
    return out


@nb.njit(cache=True)
def _pack_sign(a, sign):
    """(O, K) int8 -> (O, ceil(K/64)) uint64 with bit set where a == sign; row counts of set bits."""
    n, k = a.shape
    kw = (k + 63) // 64
    out = np.zeros((n, kw), np.uint64)
    cnt = np.zeros(n, np.int32)
    for i in range(n):
        c = 0
        for w in range(kw):
            base = w * 64
            m = min(64, k - base)
            word = np.uint64(0)
            for b in range(m):
                if a[i, base + b] == sign:
                    word |= np.uint64(1) << np.uint64(b)
                    c += 1
            out[i, w] = word
        cnt[i] = c
    return out, cnt


def pack_weights(W: np.ndarray):
    """Bit planes of an (O, K) int8 weight matrix: ``(plus, minus, n_plus, n_minus)``; ``minus`` is None
    when the matrix has no zero (binary weights: the XNOR kernel needs the +1 plane only)."""
    W = np.ascontiguousarray(W, dtype=np.int8)
    plus, n_plus = _pack_sign(W, np.int8(1))
    if int(n_plus.sum()) + int(np.count_nonzero(W == -1)) == W.size:
        return plus, None, n_plus, None
    minus, n_minus = _pack_sign(W, np.int8(-1))
    return plus, minus, n_plus, n_minus


@nb.njit(cache=True, inline="always")
def _xnor_row(xb, wb, k, out, i):
    kw = xb.shape[1]
    for j in range(wb.shape[0]):
        c = np.uint64(0)
        for w in range(kw):
            c += _popcount(xb[i, w] ^ wb[j, w])
        out[i, j] = k - 2 * np.int32(c)


@nb.njit(cache=True, inline="always")
def _ternary_row(xb, wp, wm, n_plus, n_minus, out, i):
    kw = xb.shape[1]
    for j in range(wp.shape[0]):
        cp = np.uint64(0)
        cm = np.uint64(0)
        for w in range(kw):
            x = xb[i, w]
            cp += _popcount(x & wp[j, w])
            cm += _popcount(x & wm[j, w])
        out[i, j] = 2 * np.int32(cp) - n_plus[j] - 2 * np.int32(cm) + n_minus[j]


@nb.njit(cache=True, parallel=True)
def _dense_xnor_par(xb, wb, k):
    out = np.empty((xb.shape[0], wb.shape[0]), np.int32)
    for i in nb.prange(xb.shape[0]):
        _xnor_row(xb, wb, k, out, i)
    return out


@nb.njit(cache=True)
def _dense_xnor_ser(xb, wb, k):
    out = np.empty((xb.shape[0], wb.shape[0]), np.int32)
    for i in range(xb.shape[0]):
        _xnor_row(xb, wb, k, out, i)
    return out


@nb.njit(cache=True, parallel=True)
def _dense_ternary_par(xb, wp, wm, n_plus, n_minus):
    out = np.empty((xb.shape[0], wp.shape[0]), np.int32)
    for i in nb.prange(xb.shape[0]):
        _ternary_row(xb, wp, wm, n_plus, n_minus, out, i)
    return out


@nb.njit(cache=True)
def _dense_ternary_ser(xb, wp, wm, n_plus, n_minus):
    out = np.empty((xb.shape[0], wp.shape[0]), np.int32)
    for i in range(xb.shape[0]):
        _ternary_row(xb, wp, wm, n_plus, n_minus, out, i)
    return out


# below this many word operations a kernel runs on one thread (thread wake-up costs more than it saves)
PARALLEL_MIN_WORK = 2_000_000


def dense_xnor(xb, wb, k):
    """(N, KW) packed +-1 inputs x (O, KW) packed binary weights -> (N, O) int32 dot products."""
    work = xb.shape[0] * wb.shape[0] * xb.shape[1]
    return (_dense_xnor_par if work >= PARALLEL_MIN_WORK else _dense_xnor_ser)(xb, wb, np.int32(k))


def dense_ternary(xb, wp, wm, n_plus, n_minus):
    """(N, KW) packed +-1 inputs x ternary weights (planes ``wp``, ``wm``) -> (N, O) int32 dot products."""
    work = 2 * xb.shape[0] * wp.shape[0] * xb.shape[1]
    return (_dense_ternary_par if work >= PARALLEL_MIN_WORK else _dense_ternary_ser)(xb, wp, wm, n_plus,
                                                                                     n_minus)


@nb.njit(cache=True, inline="always")
def _conv_example(x, wp, wm, n_plus, n_minus, kh, kw, ternary, out, i, patch):
    _, c, h, w = x.shape
    o, nw = wp.shape
    oh = h - kh + 1
    ow = w - kw + 1
    k = c * kh * kw
    for oy in range(oh):
        for ox in range(ow):
            for q in range(nw):
                patch[q] = 0
            b = 0
            for ci in range(c):
                for ky in range(kh):
                    for kx in range(kw):
                        bit = np.uint64(1) if x[i, ci, oy + ky, ox + kx] > 0 else np.uint64(0)
                        patch[b >> 6] |= bit << np.uint64(b & 63)
                        b += 1
            if ternary:
                for j in range(o):
                    cp = np.uint64(0)
                    cm = np.uint64(0)
                    for q in range(nw):
                        cp += _popcount(patch[q] & wp[j, q])
                        cm += _popcount(patch[q] & wm[j, q])
                    out[i, j, oy, ox] = 2 * np.int32(cp) - n_plus[j] - 2 * np.int32(cm) + n_minus[j]
            else:
                for j in range(o):
                    cx = np.uint64(0)
                    for q in range(nw):
                        cx += _popcount(patch[q] ^ wp[j, q])
                    out[i, j, oy, ox] = k - 2 * np.int32(cx)


@nb.njit(cache=True, parallel=True)
def _conv_par(x, wp, wm, n_plus, n_minus, kh, kw, ternary):
    n, c, h, w = x.shape
    out = np.empty((n, wp.shape[0], h - kh + 1, w - kw + 1), np.int32)
    for i in nb.prange(n):
        patch = np.zeros(wp.shape[1], np.uint64)
        _conv_example(x, wp, wm, n_plus, n_minus, kh, kw, ternary, out, i, patch)
    return out


@nb.njit(cache=True)
def _conv_ser(x, wp, wm, n_plus, n_minus, kh, kw, ternary):
    n, c, h, w = x.shape
    out = np.empty((n, wp.shape[0], h - kh + 1, w - kw + 1), np.int32)
    patch = np.zeros(wp.shape[1], np.uint64)
    for i in range(n):
        _conv_example(x, wp, wm, n_plus, n_minus, kh, kw, ternary, out, i, patch)
    return out


def conv_pm1(x, wp, wm, n_plus, n_minus, kh, kw, ternary):
    """Valid cross-correlation (stride 1) of +-1 inputs ``x`` (N, C, H, W) int8 with packed weights whose
    bit order is (c, ky, kx) C-order (the flattened (O, C, kh, kw) kernel) -> (N, O, H-kh+1, W-kw+1) int32.
    Each input patch is packed once and dotted with every output channel (``ternary``: two planes)."""
    n, c, h, w = x.shape
    work = n * (h - kh + 1) * (w - kw + 1) * (c * kh * kw + wp.shape[0] * wp.shape[1] * (2 if ternary else 1))
    f = _conv_par if work >= PARALLEL_MIN_WORK else _conv_ser
    return f(x, wp, wm, n_plus, n_minus, np.int64(kh), np.int64(kw), bool(ternary))


@nb.njit(cache=True)
def threshold_rows(a, t, s):
    """(N, C) pre-activations -> (N, C) int8: +1 where s*(a - t) >= 0, else -1 (float64 comparison)."""
    n, c = a.shape
    out = np.empty((n, c), np.int8)
    for i in range(n):
        for j in range(c):
            out[i, j] = 1 if s[j] * (np.float64(a[i, j]) - t[j]) >= 0.0 else -1
    return out


@nb.njit(cache=True)
def threshold_pack(a, t, s):
    """(N, C) pre-activations -> (N, ceil(C/64)) uint64 bits of ``s*(a - t) >= 0`` (threshold + pack)."""
    n, c = a.shape
    cw = (c + 63) // 64
    out = np.zeros((n, cw), np.uint64)
    for i in range(n):
        for j in range(c):
            bit = np.uint64(1) if s[j] * (np.float64(a[i, j]) - t[j]) >= 0.0 else np.uint64(0)
            out[i, j >> 6] |= bit << np.uint64(j & 63)
    return out


@nb.njit(cache=True)
def affine_threshold_pack(S, ws, scale, mean, std, t, s):
    """First layer on integer pixels, fused: ``a = (scale*S - mean*ws)/std`` per (example, neuron) from the
    exact integer sums ``S`` (N, C), then threshold and pack as :func:`threshold_pack`."""
    n, c = S.shape
    cw = (c + 63) // 64
    out = np.zeros((n, cw), np.uint64)
    for i in range(n):
        for j in range(c):
            a = (scale * np.float64(S[i, j]) - mean * ws[j]) / std
            bit = np.uint64(1) if s[j] * (a - t[j]) >= 0.0 else np.uint64(0)
            out[i, j >> 6] |= bit << np.uint64(j & 63)
    return out


@nb.njit(cache=True, inline="always")
def _int_row(x, wt, out, i, acc):
    for j in range(acc.size):
        acc[j] = 0
    for k in range(x.shape[1]):
        v = np.int32(x[i, k])
        if v != 0:  # zero pixels (about half of an MNIST-like image) cost nothing
            for j in range(acc.size):
                acc[j] += v * wt[k, j]
    for j in range(acc.size):
        out[i, j] = acc[j]


@nb.njit(cache=True, parallel=True)
def _int_matmul_par(x, wt):
    out = np.empty((x.shape[0], wt.shape[1]), np.int32)
    for i in nb.prange(x.shape[0]):
        acc = np.empty(wt.shape[1], np.int32)
        _int_row(x, wt, out, i, acc)
    return out


@nb.njit(cache=True)
def _int_matmul_ser(x, wt):
    out = np.empty((x.shape[0], wt.shape[1]), np.int32)
    acc = np.empty(wt.shape[1], np.int32)
    for i in range(x.shape[0]):
        _int_row(x, wt, out, i, acc)
    return out


def int_matmul(x, wt):
    """Exact integer product of (M, K) integer inputs (uint8 or int32) and (K, O) int32 weights -> (M, O)
    int32 (the caller guarantees ``max|x| * K < 2**31``).  Zero inputs are skipped."""
    work = x.shape[0] * x.shape[1] * wt.shape[1] // 8
    f = _int_matmul_par if work >= PARALLEL_MIN_WORK else _int_matmul_ser
    return f(np.ascontiguousarray(x), np.ascontiguousarray(wt))


@nb.njit(cache=True, inline="always")
def _conv_int_example(x, wt, kh, kw, out, i, acc):
    _, c, h, w = x.shape
    o = wt.shape[1]
    oh = h - kh + 1
    ow = w - kw + 1
    for oy in range(oh):
        for ox in range(ow):
            for j in range(o):
                acc[j] = 0
            k = 0
            for ci in range(c):
                for ky in range(kh):
                    for kx in range(kw):
                        v = np.int32(x[i, ci, oy + ky, ox + kx])
                        if v != 0:
                            for j in range(o):
                                acc[j] += v * wt[k, j]
                        k += 1
            for j in range(o):
                out[i, j, oy, ox] = acc[j]


@nb.njit(cache=True, parallel=True)
def _conv_int_par(x, wt, kh, kw):
    n, c, h, w = x.shape
    out = np.empty((n, wt.shape[1], h - kh + 1, w - kw + 1), np.int32)
    for i in nb.prange(n):
        acc = np.empty(wt.shape[1], np.int32)
        _conv_int_example(x, wt, kh, kw, out, i, acc)
    return out


@nb.njit(cache=True)
def _conv_int_ser(x, wt, kh, kw):
    n, c, h, w = x.shape
    out = np.empty((n, wt.shape[1], h - kh + 1, w - kw + 1), np.int32)
    acc = np.empty(wt.shape[1], np.int32)
    for i in range(n):
        _conv_int_example(x, wt, kh, kw, out, i, acc)
    return out


def conv_int(x, wt, kh, kw):
    """Exact valid cross-correlation of integer inputs (N, C, H, W) (uint8 or int32) with weights given
    as (C*kh*kw, O) int32 (rows in (c, ky, kx) order) -> (N, O, H-kh+1, W-kw+1) int32; zero inputs are
    skipped (the caller guarantees ``max|x| * C*kh*kw < 2**31``)."""
    n, c, h, w = x.shape
    work = n * (h - kh + 1) * (w - kw + 1) * c * kh * kw * wt.shape[1] // 8
    f = _conv_int_par if work >= PARALLEL_MIN_WORK else _conv_int_ser
    return f(np.ascontiguousarray(x), np.ascontiguousarray(wt), np.int64(kh), np.int64(kw))


@nb.njit(cache=True)
def affine_threshold4d(S, ws, scale, mean, std, t, s):
    """First conv layer, fused: exact sums ``S`` (N, C, H, W) -> ``a = (scale*S - mean*ws[c])/std`` ->
    int8 +1 where ``s[c]*(a - t[c]) >= 0`` else -1."""
    n, c, h, w = S.shape
    out = np.empty((n, c, h, w), np.int8)
    for i in range(n):
        for j in range(c):
            b = mean * ws[j]
            for y in range(h):
                for x in range(w):
                    a = (scale * np.float64(S[i, j, y, x]) - b) / std
                    out[i, j, y, x] = 1 if s[j] * (a - t[j]) >= 0.0 else -1
    return out


@nb.njit(cache=True)
def maxpool4d(x, k):
    """Non-overlapping k x k max pool (stride k, floor) of (N, C, H, W)."""
    n, c, h, w = x.shape
    oh = h // k
    ow = w // k
    out = np.empty((n, c, oh, ow), x.dtype)
    for i in range(n):
        for j in range(c):
            for y in range(oh):
                for xx in range(ow):
                    m = x[i, j, y * k, xx * k]
                    for dy in range(k):
                        for dx in range(k):
                            v = x[i, j, y * k + dy, xx * k + dx]
                            if v > m:
                                m = v
                    out[i, j, y, xx] = m
    return out


@nb.njit(cache=True)
def threshold4d(a, t, s):
    """(N, C, H, W) -> int8 +-1 with per-channel threshold ``s[c]*(a - t[c]) >= 0``."""
    n, c, h, w = a.shape
    out = np.empty((n, c, h, w), np.int8)
    for i in range(n):
        for j in range(c):
            for y in range(h):
                for x in range(w):
                    out[i, j, y, x] = 1 if s[j] * (np.float64(a[i, j, y, x]) - t[j]) >= 0.0 else -1
    return out


@nb.njit(cache=True)
def inject(w, u, cum, read_values):
    """Apply one error draw to int8 weights ``w`` (flat): weight state ``1 - w`` (0: +1, 1: 0, 2: -1) reads
    outcome ``r = (u >= cum[s,0]) + (u >= cum[s,1]) + (u >= cum[s,2])`` (0: +1, 1: 0, 2: -1, 3: invalid);
    the new weight is ``read_values[r]`` (invalid: 0, or 2 = "to be drawn").  Returns (new, n_to_draw)."""
    out = np.empty_like(w)
    n_draw = 0
    for i in range(w.size):
        st = 1 - w[i]
        x = u[i]
        r = (1 if x >= cum[st, 0] else 0) + (1 if x >= cum[st, 1] else 0) + (1 if x >= cum[st, 2] else 0)
        v = read_values[r]
        if v == 2:
            n_draw += 1
        out[i] = v
    return out, n_draw
