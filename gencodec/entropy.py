"""Entropy coding helpers: a context-modelled range coder for integer grids (constriction).

`encode_grid` codes a (C, H, W) integer array such as a quantised latent. Each value gets a
quantised Laplace model whose mean is a linear prediction from already decoded neighbours
(row above, left/right in a two-pass column interleave, earlier channels' residuals) and whose
scale follows the local residual activity: a LOCO-I/CALIC-style forward-adaptive model. The
predictor weights and one scale gain per (pass, channel) are fitted by the encoder and sent.

Decoding is row-parallel (two passes of half a row per channel), so it stays vectorised. All
context arithmetic is integer, so encoder and decoder compute bit-identical model parameters
on any machine.
"""

from __future__ import annotations

import numpy as np

from .container import Reader, write_svarint, write_uvarint
from .errors import FormatError

_W_SHIFT = 6  # predictor weights and residuals in 1/64 units
_ONE = 1 << _W_SHIFT
_KAPPAS = 0.2 * 1.1 ** np.arange(48)  # scale-gain grid; the index is sent
_BETA = 0.3
_MAX_CROSS = 2  # residuals of up to two earlier channels predict the current one
MAX_SPAN = 1 << 20


def _features(q: np.ndarray, r64: np.ndarray, c: int, y: int, xs: np.ndarray, second_pass: bool):
    """Integer features (1/64 units) and the summed |residual| activity for positions (c, y, xs)."""
    _, h, w = q.shape
    up = q[c, y - 1] if y > 0 else None
    r_up = r64[c, y - 1] if y > 0 else None
    feats = []
    act = []
    if second_pass:
        left, right = xs - 1, np.minimum(xs + 1, w - 1)
        right = np.where(xs + 1 < w, right, left)
        feats += [q[c, y, left] * _ONE, q[c, y, right] * _ONE]
        act += [np.abs(r64[c, y, left]), np.abs(r64[c, y, right])]
        feats.append(up[xs] * _ONE if up is not None else np.zeros(len(xs), np.int64))
        act.append(np.abs(r_up[xs]) if r_up is not None else np.zeros(len(xs), np.int64))
    else:
        if up is not None:
            lx, rx = np.maximum(xs - 1, 0), np.minimum(xs + 1, w - 1)
            feats += [up[xs] * _ONE, up[lx] * _ONE, up[rx] * _ONE]
            act += [np.abs(r_up[lx]), np.abs(r_up[xs]), np.abs(r_up[rx])]
        else:
            feats += [np.zeros(len(xs), np.int64)] * 3
            act += [np.zeros(len(xs), np.int64)] * 3
    for k in range(1, min(_MAX_CROSS, c) + 1):
        feats.append(r64[c - k, y, xs])
        act.append(np.abs(r64[c - k, y, xs]))
    total = act[0].astype(np.int64)
    for a in act[1:]:
        total = total + a
    return [f.astype(np.int64) for f in feats], total, len(act)


def _predict(feats: list[np.ndarray], weights: list[int]) -> np.ndarray:
    acc = np.zeros(len(feats[0]), np.int64)
    for f, wgt in zip(feats, weights):
        acc = acc + f * wgt
    return (acc + (_ONE >> 1)) >> _W_SHIFT  # prediction in 1/64 units


def _scales(activity: np.ndarray, n: int, kappa: float) -> np.ndarray:
    return kappa * (activity.astype(np.float64) / (_ONE * n) + _BETA)


def _laplace_bits(q: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> float:
    """Ideal code length (bits) of integers under quantised Laplace(mean, scale) models."""
    def cdf(v):
        z = (v - mean) / scale
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    p = cdf(q + 0.5) - cdf(q - 0.5)
    return float(-np.log2(np.maximum(p, 1e-12)).sum())


def _positions(w: int, second_pass: bool) -> np.ndarray:
    return np.arange(1 if second_pass else 0, w, 2)


def _fit_weights(feats: list[np.ndarray], target64: np.ndarray) -> list[int]:
    x = np.stack(feats, 1).astype(np.float64)
    if not np.any(x):
        return [0] * len(feats)
    sol, *_ = np.linalg.lstsq(x, target64.astype(np.float64), rcond=None)
    return [int(v) for v in np.clip(np.rint(sol * _ONE), -4 * _ONE, 4 * _ONE)]


def encode_grid(q: np.ndarray) -> bytes:
    """Losslessly code a (C, H, W) integer array; the shape is known to the decoder (from the header)."""
    import constriction

    q = np.asarray(q, dtype=np.int64)
    if q.ndim != 3:
        raise ValueError("encode_grid expects (C, H, W)")
    ch, h, w = q.shape
    out = bytearray()
    offsets = [int(np.rint(q[c].mean())) for c in range(ch)]
    q = q - np.asarray(offsets, np.int64)[:, None, None]
    qmin, qmax = int(q.min()), int(q.max())
    if qmax - qmin > MAX_SPAN:
        raise ValueError("value range too large for the grid coder")
    for o in offsets:
        write_svarint(out, o)
    write_svarint(out, qmin)
    write_uvarint(out, qmax - qmin)
    if qmin == qmax:
        return bytes(out)

    # Phase 1: fit the predictor of each (pass, channel) in coding order. Features read only q and the
    # residuals of groups fitted earlier, so residuals never depend on the scale model.
    r64 = np.zeros_like(q)
    mean64 = np.zeros_like(q)
    groups = [(p, c) for p in (False, True) for c in range(ch) if len(_positions(w, p))]
    all_weights = {}
    for second_pass, c in groups:
        xs = _positions(w, second_pass)
        feats = [np.concatenate(f) for f in zip(*(_features(q, r64, c, y, xs, second_pass)[0] for y in range(h)))]
        weights = _fit_weights(feats, (q[c][:, xs] * _ONE).reshape(-1))
        pred = _predict(feats, weights).reshape(h, len(xs))
        mean64[c][:, xs] = pred
        r64[c][:, xs] = q[c][:, xs] * _ONE - pred
        all_weights[second_pass, c] = weights
    # Phase 2: with every residual known, the activity each position sees at decode time is fixed;
    # choose the scale gain with the shortest ideal code.
    scale = np.zeros(q.shape, np.float64)
    for second_pass, c in groups:
        xs = _positions(w, second_pass)
        rows = [_features(q, r64, c, y, xs, second_pass) for y in range(h)]
        activity, n_act = np.concatenate([r[1] for r in rows]), rows[0][2]
        values = q[c][:, xs].reshape(-1)
        means = mean64[c][:, xs].reshape(-1) / _ONE
        best = min(range(len(_KAPPAS)), key=lambda j: _laplace_bits(values, means, _scales(activity, n_act, _KAPPAS[j])))
        scale[c][:, xs] = _scales(activity, n_act, _KAPPAS[best]).reshape(h, len(xs))
        out.append(best)
        for wgt in all_weights[second_pass, c]:
            write_svarint(out, wgt)
    # Range-code in decode order: row, pass, channel.
    order_sym, order_mean, order_scale = [], [], []
    for y in range(h):
        for second_pass in (False, True):
            xs = _positions(w, second_pass)
            for c in range(ch):
                if len(xs):
                    order_sym.append(q[c, y, xs])
                    order_mean.append(mean64[c, y, xs] / _ONE)
                    order_scale.append(scale[c, y, xs])
    model = constriction.stream.model.QuantizedLaplace(qmin, qmax)
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(
        np.concatenate(order_sym).astype(np.int32),
        model,
        np.concatenate(order_mean).astype(np.float64),
        np.concatenate(order_scale).astype(np.float64),
    )
    out += enc.get_compressed().astype("<u4").tobytes()
    return bytes(out)


def decode_grid(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of encode_grid. Corrupt input raises FormatError; output size is fixed by `shape`."""
    import constriction

    ch, h, w = shape
    r = Reader(data, "latent stream")
    offsets = np.asarray([r.svarint() for _ in range(ch)], np.int64)
    qmin = r.svarint()
    span = r.uvarint(limit=MAX_SPAN)
    qmax = qmin + span
    q = np.zeros(shape, np.int64)
    if span == 0:
        return q + qmin + offsets[:, None, None]
    kappas, weights = {}, {}
    for second_pass in (False, True):
        for c in range(ch):
            if len(_positions(w, second_pass)) == 0:
                continue
            j = r.take(1)[0]
            if j >= len(_KAPPAS):
                raise FormatError("corrupt latent stream: bad scale index")
            kappas[second_pass, c] = _KAPPAS[j]
            n_feats = (2 + 1 if second_pass else 3) + min(_MAX_CROSS, c)
            weights[second_pass, c] = [r.svarint() for _ in range(n_feats)]
            if any(abs(v) > 4 * _ONE for v in weights[second_pass, c]):
                raise FormatError("corrupt latent stream: bad predictor weight")
    rest = r.take(r.remaining)
    if len(rest) % 4 or not rest:
        raise FormatError("corrupt latent stream: bad length")
    model = constriction.stream.model.QuantizedLaplace(qmin, qmax)
    try:
        dec = constriction.stream.queue.RangeDecoder(np.frombuffer(rest, dtype="<u4").astype(np.uint32))
        r64 = np.zeros_like(q)
        for y in range(h):
            for second_pass in (False, True):
                xs = _positions(w, second_pass)
                if len(xs) == 0:
                    continue
                for c in range(ch):
                    feats, activity, n_act = _features(q, r64, c, y, xs, second_pass)
                    pred = _predict(feats, weights[second_pass, c])
                    scales = _scales(activity, n_act, kappas[second_pass, c])
                    vals = np.asarray(dec.decode(model, pred / _ONE, scales), np.int64)
                    q[c, y, xs] = vals
                    r64[c, y, xs] = vals * _ONE - pred
    except FormatError:
        raise
    except Exception as exc:  # constriction reports corrupt streams in several ways
        raise FormatError(f"corrupt latent stream ({type(exc).__name__})") from None
    return q + offsets[:, None, None]
