"""NumPy reference implementations of the loss formulas, written from the papers.

Independent of asd_tf (no TensorFlow): float64, plain loops/vectorised NumPy.
References: Wilkinghoff & Kurth TASLP 2024 (WK, Defs. 1-4, Eqs. 1-20),
Zhao et al. EMM (Eqs. 1-5 and the EMM loss), FGASpecNet Sec. 2.3 (Noisy-ArcMix,
SoftTriple), Neri & Carli (ArcFace + mixup).
"""

from __future__ import annotations

import numpy as np


def normalize(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def onehot(y, n):
    out = np.zeros((len(y), n))
    out[np.arange(len(y)), np.asarray(y)] = 1.0
    return out


def targets(y1, n, y2=None, lam=None, mode="linear"):
    """Mixup soft labels: linear (Zhang et al.) or the public code's elementwise max."""
    t1 = onehot(y1, n)
    if y2 is None:
        return t1
    lam = np.asarray(lam, np.float64)[:, None]
    t2 = onehot(y2, n)
    if mode == "linear":
        return lam * t1 + (1 - lam) * t2
    return np.maximum(lam * t1, (1 - lam) * t2)


def log_softmax(a):
    a = np.asarray(a, np.float64)
    mx = a.max(axis=-1, keepdims=True)
    return a - mx - np.log(np.exp(a - mx).sum(axis=-1, keepdims=True))


def cosines(e, centres):
    return normalize(e) @ normalize(centres).T


# ------------------------------------------------------------------ compactness
def compactness_loss(e, centres, t):
    """WK Eq. 1 per sample, label-weighted: sum_j t_j ||z - c_j||^2."""
    z = normalize(e)
    d = ((z[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return (t * d).sum(1)


def intra_inter(e, centres, y, m):
    """Nearest own centre / mean over other classes' centres of ||z - c||^2."""
    z = normalize(e)
    c = normalize(centres)
    n = len(c) // m
    intra, inter = [], []
    for b in range(len(z)):
        d = ((z[b] - c) ** 2).sum(-1).reshape(n, m)
        intra.append(d[y[b]].min())
        others = [d[k] for k in range(n) if k != y[b]]
        inter.append(np.mean(np.concatenate(others)) if others else 0.0)
    return np.array(intra), np.array(inter)


def cce(logits, t):
    return -(t * log_softmax(logits)).sum(1)


# ---------------------------------------------------------------------- AdaCos
def adacos_loss(e, centres, t, s):
    """WK Eq. 9 = Eq. 3 with margin 0 and scale s."""
    return cce(s * cosines(e, centres), t)


def adacos_next_scale(e, centres, t, s_prev):
    """WK Eqs. 7-8 with mixup: non-target = l_j(x) != 1; median of mixed angles."""
    return adacos_scale_from_cosines(cosines(e, centres), t, s_prev)


def adacos_scale_from_cosines(cos, t, s_prev):
    """WK Eqs. 7-8 on given class cosines [B, N] (AdaCos, AdaProj)."""
    theta = np.arccos(np.clip(cos, -1, 1))
    b = len(cos)
    b_avg = 0.0
    for x in range(b):
        for j in range(cos.shape[1]):
            if not np.isclose(t[x, j], 1.0, atol=1e-6, rtol=0):
                b_avg += np.exp(s_prev * cos[x, j])
    b_avg /= b
    theta_med = np.median((t * theta).sum(1))
    return np.log(b_avg) / np.cos(min(np.pi / 4, theta_med))


def subcluster_class_probs(e, centres, s, m):
    """WK Eq. 14: p(j|x) = sum over C_j of the softmax over all N*M centres."""
    sc = s * cosines(e, centres)
    p = np.exp(log_softmax(sc))
    return p.reshape(len(e), -1, m).sum(-1)


def subcluster_loss(e, centres, t, s, m):
    """WK Eq. 13."""
    return -(t * np.log(subcluster_class_probs(e, centres, s, m))).sum(1)


def subcluster_next_scale(e, centres, t, s_prev, m):
    """WK Eqs. 10-12; target angle of a class = angle to its nearest sub-cluster."""
    cos = cosines(e, centres)
    f_max = np.max(s_prev * cos)  # Eq. 12
    b_avg = np.exp(s_prev * cos - f_max).sum(1).mean()  # Eq. 11
    n = centres.shape[0] // m
    theta_class = np.arccos(np.clip(cos.reshape(len(e), n, m).max(-1), -1, 1))
    theta_med = np.median((t * theta_class).sum(1))
    return (f_max + np.log(b_avg)) / np.cos(min(np.pi / 4, theta_med))


# ---------------------------------------------------------------------- AdaProj
def adaproj_class_cosines(e, vectors, m):
    """Cosine of z to normalise(sum_k (z . w_ck) w_ck), the w_ck the class's m normalised vectors (loops)."""
    z = normalize(e)
    w = normalize(vectors)
    n = len(w) // m
    out = np.zeros((len(z), n))
    for b in range(len(z)):
        for c in range(n):
            p = np.zeros(w.shape[1])
            for k in range(m):
                p += (z[b] @ w[c * m + k]) * w[c * m + k]
            out[b, c] = z[b] @ p / np.linalg.norm(p)
    return out


def adaproj_loss(e, vectors, t, s, m):
    """Soft-label cross-entropy of the logits s * cos_c."""
    return cce(s * adaproj_class_cosines(e, vectors, m), t)


def adaproj_next_scale(e, vectors, t, s_prev, m):
    """AdaCos' scale update (WK Eqs. 7-8) on the AdaProj class cosines."""
    return adacos_scale_from_cosines(adaproj_class_cosines(e, vectors, m), t, s_prev)


# --------------------------------------------------------------- ArcFace family
def psi(theta, m):
    """cos(theta + m), continued below cos(pi) = -1 by cos(theta) - 1 + cos(m) when theta + m > pi."""
    theta = np.asarray(theta, np.float64)
    m = np.broadcast_to(np.asarray(m, np.float64), theta.shape)
    out = np.where(theta + m <= np.pi, np.cos(theta + m), np.cos(theta) - 1 + np.cos(m))
    return np.where(m == 0, np.cos(theta), out)


def margin_logits(e, centres, s, margins):
    """s * cos(theta_k + margins[:, k]) for a [B, N] margin matrix (EMM Eq. 5)."""
    theta = np.arccos(np.clip(cosines(e, centres), -1, 1))
    return s * psi(theta, margins)


def arcface_soft_loss(e, centres, t, s, m):
    """ArcFace with soft targets: logits s((1-t)cos + t cos(theta+m)), loss -sum t log softmax."""
    cos = cosines(e, centres)
    theta = np.arccos(np.clip(cos, -1, 1))
    m = np.broadcast_to(np.reshape(np.asarray(m, np.float64), (-1, 1)), cos.shape)
    logits = s * ((1 - t) * cos + t * psi(theta, m))
    return cce(logits, t)


def arcface_class_loss(e, centres, y, s, m):
    n = centres.shape[0]
    return cce(margin_logits(e, centres, s, onehot(y, n) * m), onehot(y, n))


def arcmix_loss(e, centres, y1, y2, lam, s, m):
    n = centres.shape[0]
    l1 = cce(margin_logits(e, centres, s, onehot(y1, n) * m), onehot(y1, n))
    l2 = cce(margin_logits(e, centres, s, onehot(y2, n) * m), onehot(y2, n))
    return lam * l1 + (1 - lam) * l2


def noisy_arcmix_loss(e, centres, y1, y2, lam, s, m):
    n = centres.shape[0]
    lg = margin_logits(e, centres, s, onehot(y1, n) * m)
    return lam * cce(lg, onehot(y1, n)) + (1 - lam) * cce(lg, onehot(y2, n))


def margin_mixup_loss(e, centres, y1, y2, lam, s, m1, m2):
    """EMM loss with given margins m1 (on y1) and m2 (on y2)."""
    n = centres.shape[0]
    margins = onehot(y1, n) * np.asarray(m1)[:, None] + onehot(y2, n) * np.asarray(m2)[:, None]
    lg = margin_logits(e, centres, s, margins)
    return lam * cce(lg, onehot(y1, n)) + (1 - lam) * cce(lg, onehot(y2, n))


# ------------------------------------------------------------------- SoftTriple
def softtriple_similarity(e, centres, k, gamma):
    x = normalize(e)
    w = normalize(centres)
    n = w.shape[0] // k
    s = np.zeros((len(x), n))
    for b in range(len(x)):
        for c in range(n):
            sims = np.array([x[b] @ w[c * k + j] for j in range(k)])
            q = np.exp(sims / gamma) / np.exp(sims / gamma).sum()
            s[b, c] = (q * sims).sum()
    return s


def softtriple_loss(e, centres, t, k, gamma, lam, delta, tau=0.0):
    s = softtriple_similarity(e, centres, k, gamma)
    loss = cce(lam * (s - delta * t), t)
    if tau > 0 and k > 1:
        w = normalize(centres)
        n = w.shape[0] // k
        reg = 0.0
        for c in range(n):
            for a in range(k):
                for b in range(a + 1, k):
                    reg += np.sqrt(2 + 1e-5 - 2 * w[c * k + a] @ w[c * k + b])
        loss = loss + tau * reg / (n * k * (k - 1))
    return loss


# ------------------------------------------------------------------ Theorem 6
def d_sqdist_d_embedding(e, c):
    """d/de ||e/|e| - c||^2 for one raw embedding e: J^T 2(z - c) with J = (I - z z^T)/|e|."""
    e = np.asarray(e, np.float64)
    norm = np.linalg.norm(e)
    z = e / norm
    jac = (np.eye(len(e)) - np.outer(z, z)) / norm
    return jac.T @ (2 * (z - c))


def theorem6_gradient(e, centres, t, s, m):
    """Per-sample gradient of the sub-cluster AdaCos loss from WK Eqs. 16-19.

    For sample x of class i: (s/2) sum_{c in C_i} P(c | C_i) d||z-c||^2   (Eq. 16, IC compactness)
                          - (s/2) sum_k sum_{c in C_k} P(c) d||z-c||^2    (Eq. 17, inter-class)
    With mixup the class-i term is a target-weighted sum over the mixed classes
    (proof, last paragraph); the second term has weight sum_i t_i = 1 (linear mix).
    """
    c = normalize(centres)
    n = c.shape[0] // m
    out = np.zeros_like(np.asarray(e, np.float64))
    for b in range(len(e)):
        z = normalize(e[b : b + 1])[0]
        logits = s * (c @ z)
        p_all = np.exp(logits - logits.max())
        p_all /= p_all.sum()  # Eq. 19
        grads = np.array([d_sqdist_d_embedding(e[b], c[j]) for j in range(len(c))])
        g = np.zeros(e.shape[1])
        for i in range(n):
            if t[b, i] == 0:
                continue
            sl = slice(i * m, (i + 1) * m)
            p_cond = np.exp(logits[sl] - logits[sl].max())
            p_cond /= p_cond.sum()  # Eq. 18
            g += t[b, i] * (s / 2) * (p_cond[:, None] * grads[sl]).sum(0)  # Eq. 16
        g -= t[b].sum() * (s / 2) * (p_all[:, None] * grads).sum(0)  # Eq. 17
        out[b] = g
    return out
