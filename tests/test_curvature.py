"""pyad.curvature against dense references: Lanczos vs numpy.linalg.eigh, Hessian and
Gauss-Newton eigenpairs of a small MLP vs the dense matrices, stochastic Lanczos quadrature
moments, Hutchinson estimates, stationary-point classification, and the quadratic model's
closed-form gradient-descent / momentum trajectories vs simulated runs."""
import numpy as np
import pytest

import pyad as ad
from pyad import curvature as cv

RNG = np.random.default_rng(1234)


def sym_with(eigs, seed=0):
    """A random symmetric matrix with the given eigenvalues."""
    rng = np.random.default_rng(seed)
    n = len(eigs)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.asarray(eigs, dtype=float)) @ Q.T


def true_residuals(A, vals, vecs):
    return np.linalg.norm(A @ vecs - vecs * vals, axis=0)


def check_pairs(A, vals, vecs, info, ref, tol):
    """Values match ref, vectors are unit, residuals honour tol (and match the estimates)."""
    assert vals.shape == ref.shape and vecs.shape == (A.shape[0], ref.size)
    anorm = np.max(np.abs(np.linalg.eigvalsh(A)))
    np.testing.assert_allclose(vals, ref, rtol=0, atol=1e-8 * anorm)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=0), 1.0, atol=1e-10)
    res = true_residuals(A, vals, vecs)
    floor = np.sqrt(np.finfo(float).eps) * anorm
    assert np.all(res <= 1.01 * tol * np.maximum(np.abs(vals), floor) + 1e-12 * anorm)
    np.testing.assert_allclose(info["residuals"], res, rtol=1e-3, atol=1e-12 * anorm)
    assert info["converged"]


def expected(ev, k, which):
    ev = np.sort(ev)
    k = min(k, ev.size)
    if which == "largest":
        return ev[::-1][:k]
    if which == "smallest":
        return ev[:k]
    idx = sorted(set(range(k)) | set(range(ev.size - k, ev.size)))
    return ev[idx]


# ============================================================================ ravel
def test_ravel_roundtrip_numpy_and_tensor():
    tree = {"b": np.arange(3.0), "a": [np.ones((2, 2), np.float32), np.float64(5.0)]}
    flat, unravel = cv.ravel(tree)
    assert flat.shape == (8,) and flat.dtype == np.float64
    np.testing.assert_array_equal(flat, [1, 1, 1, 1, 5, 0, 1, 2])      # dict keys sorted
    back = unravel(flat * 2)
    assert back["a"][0].dtype == np.float32 and back["a"][0].shape == (2, 2)
    np.testing.assert_array_equal(back["b"], [0, 2, 4])
    assert float(back["a"][1]) == 10.0
    # through pyad ops: d/dx sum(unravel(x)["b"]^2) = 2 x on b's slots only
    g = ad.grad(lambda x: ad.sum(unravel(x)["b"] ** 2))(flat)
    np.testing.assert_allclose(g, [0, 0, 0, 0, 0, 0, 2, 4])
    with pytest.raises(ValueError):
        unravel(np.zeros(7))


# ============================================================================ Lanczos
N = 120
SPECTRA = {
    "indefinite": RNG.uniform(-4.0, 6.0, N),
    "psd_wide": np.concatenate([np.zeros(10), np.logspace(-3, 2, N - 10)]),
    "clustered": np.concatenate([[9.0, 8.99, 8.98], RNG.uniform(0, 5, N - 6),
                                 [-3.0, -3.01, -3.02]]),
}


@pytest.mark.parametrize("name", list(SPECTRA))
@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
@pytest.mark.parametrize("k", [1, 3])
def test_lanczos_matches_eigh(name, which, k):
    A = sym_with(SPECTRA[name], seed=k)
    tol = 1e-8
    vals, vecs, info = cv.lanczos(lambda v: A @ v, N, k=k, which=which, tol=tol)
    ref = expected(np.linalg.eigvalsh(A), k, which)
    check_pairs(A, vals, vecs, info, ref, tol)
    assert info["iterations"] <= N
    if which == "both":
        assert np.all(np.diff(vals) >= 0)
    elif which == "largest":
        assert np.all(np.diff(vals) <= 0)


def test_lanczos_partial_reorthogonalisation_keeps_values_exact_without_ghosts():
    # a long run on a wide spectrum: plain three-term Lanczos would lose orthogonality once
    # the top values converge and return spurious copies of them; Simon's estimates trigger
    # a full pass only now and then, and the values match eigh with no duplicates
    n = 1500
    eigs = np.concatenate([[50.0, 40.0, 30.0, 20.0, 10.0], RNG.uniform(0.0, 5.0, n - 5)])
    d = RNG.permutation(eigs)
    vals, vecs, info = cv.lanczos(lambda v: d * v, n, k=5, tol=1e-7, max_iter=400)
    np.testing.assert_allclose(vals, [50.0, 40.0, 30.0, 20.0, 10.0], rtol=1e-10)
    assert info["converged"] and 0 < info["reorthogonalisations"] < info["iterations"]
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(5), atol=1e-12)
    res = np.linalg.norm(d[:, None] * vecs - vecs * vals, axis=0)
    assert np.all(res <= 1.01 * 1e-7 * vals + 1e-12 * 50.0)
    # a tight tolerance on eigenvalues near 0 reorthogonalises every step (the estimates'
    # floor would otherwise exceed the residual asked for)
    with pytest.warns(RuntimeWarning, match="not converged"):
        _, _, tight = cv.lanczos(lambda v: d * v, n, k=1, which="smallest", tol=1e-12,
                                 max_iter=60)
    assert tight["reorthogonalisations"] >= tight["iterations"] - 2


def test_lanczos_loose_tolerance_stops_early_and_residuals_honoured():
    A = sym_with(np.concatenate([[10.0, 7.0], RNG.uniform(0, 5, 400)]), seed=3)
    for tol in (1e-2, 1e-4, 1e-6):
        vals, vecs, info = cv.lanczos(lambda v: A @ v, 402, k=2, tol=tol)
        res = true_residuals(A, vals, vecs)
        assert info["converged"] and info["iterations"] < 100
        assert np.all(res <= 1.01 * tol * np.abs(vals))
        np.testing.assert_allclose(vals, [10.0, 7.0], rtol=2 * tol)   # error ~ res^2 / gap


def test_lanczos_repeated_eigenvalues_and_invariant_start():
    # 5 distinct eigenvalues, each 8 times: every Krylov block is invariant after <= 5 steps
    A = sym_with(np.repeat([-2.0, 1.0, 2.0, 3.0, 5.0], 8), seed=4)
    for which, ref in [("largest", [5.0] * 3), ("smallest", [-2.0] * 3),
                       ("both", [-2.0, -2.0, -2.0, 5.0, 5.0, 5.0])]:
        vals, vecs, info = cv.lanczos(lambda v: A @ v, 40, k=3, which=which)
        check_pairs(A, vals, vecs, info, np.array(ref), 1e-6)
        assert info["restarts"] >= 2 and info["iterations"] < 40
        # the returned copies span a 3-dimensional eigenspace (orthonormal vectors)
        if which != "both":
            np.testing.assert_allclose(vecs.T @ vecs, np.eye(3), atol=1e-8)
    # a start vector in an invariant subspace (an eigenvector) must not hide the top
    D = np.diag(np.arange(1.0, 301.0))
    v0 = np.zeros(300)
    v0[4] = 1.0
    vals, vecs, info = cv.lanczos(lambda v: D @ v, v0, k=2, tol=1e-8)
    np.testing.assert_allclose(vals, [300.0, 299.0], rtol=1e-10)
    assert info["restarts"] == 1 and info["iterations"] < 150


def test_lanczos_dim_smaller_than_k_and_tiny_operators():
    A = sym_with([3.0, -1.0, 2.0], seed=5)
    for which in ("largest", "smallest", "both"):
        vals, vecs, info = cv.lanczos(lambda v: A @ v, 3, k=5, which=which)
        ref = expected(np.array([3.0, -1.0, 2.0]), 5, which)
        check_pairs(A, vals, vecs, info, ref, 1e-6)
    vals, vecs, info = cv.lanczos(lambda v: 7.0 * v, 1, k=2)
    np.testing.assert_allclose(vals, [7.0])
    vals, _, info = cv.lanczos(lambda v: np.zeros_like(v), 6, k=2)    # the zero operator
    np.testing.assert_allclose(vals, [0.0, 0.0], atol=1e-300)
    assert info["converged"]


def test_lanczos_bad_arguments_and_nonconvergence_warning():
    A = sym_with(RNG.uniform(0, 1, 50), seed=6)
    with pytest.raises(ValueError, match="which"):
        cv.lanczos(lambda v: A @ v, 50, which="top")
    with pytest.raises(ValueError, match="k"):
        cv.lanczos(lambda v: A @ v, 50, k=0)
    with pytest.raises(ValueError, match="shape"):
        cv.lanczos(lambda v: v[:3], 50)
    with pytest.warns(RuntimeWarning, match="not converged"):
        _, _, info = cv.lanczos(lambda v: A @ v, 50, k=3, tol=1e-12, max_iter=5)
    assert not info["converged"] and info["iterations"] == 5


def test_lanczos_one_matvec_per_iteration():
    A = sym_with(RNG.uniform(-1, 1, 80), seed=7)
    calls = [0]

    def mv(v):
        calls[0] += 1
        return A @ v
    _, _, info = cv.lanczos(mv, 80, k=2, tol=1e-6)
    assert calls[0] == info["iterations"]


def test_lanczos_keeps_its_vectors_off_numpys_blas(monkeypatch):
    """Dots and norms of numpy vectors (and the basis' products) run on pyad's BLAS, never
    numpy's own: with MKL installed, one numpy ddot of long vectors woke OpenBLAS's threads,
    which then spun against MKL's through the next ~0.1 s of products (20 Lanczos iterations
    of a 670k-parameter Hessian took 1.8x 20 hvp_fn products instead of 1.25x)."""
    import types
    from pyad.linalg import lanczos as lz

    def refuse(*args, **kwargs):
        raise AssertionError("numpy's own BLAS called on the Lanczos vectors")
    fake = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake.dot, fake.vdot, fake.inner, fake.matmul = refuse, refuse, refuse, refuse
    fake.linalg = types.SimpleNamespace(**{k: getattr(np.linalg, k) for k in dir(np.linalg)
                                           if not k.startswith("__")})
    fake.linalg.norm = refuse
    monkeypatch.setattr(lz, "np", fake)
    A = sym_with(RNG.uniform(-1, 1, 300), seed=11)
    start = RNG.standard_normal(300)
    for tol in (1e-8, 1e-30):       # partial reorthogonalisation, and a full pass every step
        for v0 in (300, start):     # a random start, and the caller's
            vals, _, _ = cv.lanczos(lambda v: A @ v, v0, k=3, tol=tol, max_iter=300)
            np.testing.assert_allclose(vals, np.linalg.eigvalsh(A)[-3:][::-1], rtol=1e-8)


# ============================================================================ Hessian / GN
D_IN, H, C, NS = 3, 4, 2, 6
X = RNG.standard_normal((NS, D_IN))
Y = RNG.standard_normal((NS, C))
ONEHOT = np.eye(C)[RNG.integers(0, C, NS)]
PARAMS = {"W1": 0.8 * RNG.standard_normal((D_IN, H)), "b1": 0.1 * RNG.standard_normal(H),
          "W2": 0.8 * RNG.standard_normal((H, C)), "b2": 0.1 * RNG.standard_normal(C)}


def mlp(p):
    return ad.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def mse(p):
    return 0.5 * ad.mean(ad.sum((mlp(p) - Y) ** 2, axis=1))


def xent(z):
    return -ad.mean(ad.sum(ad.log_softmax(z, axis=1) * ONEHOT, axis=1))


def dense_hessian(f, params):
    flat, unravel = cv.ravel(params)
    return ad.hessian(lambda x: f(unravel(x)))(flat)


def dense_gn(model, loss, params):
    flat, unravel = cv.ravel(params)
    J = ad.jacobian(lambda x: model(unravel(x)))(flat)               # (NS, C, P)
    z = np.asarray(model(params))
    HL = ad.hessian(loss)(z).reshape(z.size, z.size)
    Jm = J.reshape(z.size, flat.size)
    return Jm.T @ HL @ Jm


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_hessian_eigs_matches_dense_hessian(which):
    Hd = dense_hessian(mse, PARAMS)
    assert Hd.shape == (26, 26)
    ev = np.linalg.eigvalsh(Hd)
    assert ev[0] < -1e-3 < 1e-3 < ev[-1]                 # indefinite: a real test of both ends
    vals, vecs, info = cv.hessian_eigs(mse, PARAMS, k=2, which=which, tol=1e-9)
    np.testing.assert_allclose(vals, expected(ev, 2, which), atol=1e-8 * np.abs(ev).max())
    assert isinstance(vecs, list) and len(vecs) == vals.size
    for lam, tree in zip(vals, vecs):
        assert set(tree) == set(PARAMS)
        assert all(np.shape(tree[key]) == PARAMS[key].shape for key in PARAMS)
        y = cv.ravel(tree)[0]
        assert np.linalg.norm(Hd @ y - lam * y) <= 1e-8 * np.abs(ev).max()


def test_hessian_eigs_extra_args_and_start_vector():
    def loss(p, xs, ys):
        return 0.5 * ad.mean(ad.sum((ad.tanh(xs @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
                                     - ys) ** 2, axis=1))
    v0 = {key: np.ones_like(val) for key, val in PARAMS.items()}
    vals, _, _ = cv.hessian_eigs(loss, PARAMS, k=1, args=(X, Y), v0=v0, tol=1e-10)
    np.testing.assert_allclose(vals, np.linalg.eigvalsh(dense_hessian(mse, PARAMS))[-1:],
                               rtol=1e-8)


@pytest.mark.parametrize("loss", [xent, lambda z: 0.5 * ad.mean(ad.sum((z - Y) ** 2, axis=1))],
                         ids=["xent", "sq_err"])
def test_gn_eigs_matches_dense_gauss_newton(loss):
    G = dense_gn(mlp, loss, PARAMS)
    ev = np.linalg.eigvalsh(0.5 * (G + G.T))
    assert ev[0] > -1e-12                               # PSD, and rank <= NS * C = 12 < 26
    vals, vecs, info = cv.gn_eigs(mlp, loss, PARAMS, k=3, which="largest", tol=1e-9)
    np.testing.assert_allclose(vals, ev[::-1][:3], rtol=1e-8)
    for lam, tree in zip(vals, vecs):
        y = cv.ravel(tree)[0]
        assert np.linalg.norm(G @ y - lam * y) <= 1e-8 * ev[-1]
    lo, _, _ = cv.gn_eigs(mlp, loss, PARAMS, k=1, which="smallest", tol=1e-6)
    assert abs(lo[0]) <= 1e-8 * ev[-1]                   # the null space is found


# ============================================================================ SLQ
def test_spectral_density_moments_and_histogram():
    n = 300
    lam = np.concatenate([RNG.uniform(1.0, 3.0, 200), RNG.uniform(6.0, 8.0, 100)])
    A = sym_with(lam, seed=8)
    grid, dens = cv.spectral_density(lambda v: A @ v, n, num_probes=20, num_steps=40,
                                     sigma=0.15, seed=1)
    dx = grid[1] - grid[0]
    assert grid[0] < lam.min() and grid[-1] > lam.max()
    assert abs(np.sum(dens) * dx - 1.0) < 1e-3
    m1 = np.sum(grid * dens) * dx
    m2 = np.sum(grid ** 2 * dens) * dx - 0.15 ** 2          # remove the broadening's sigma^2
    assert abs(m1 - np.trace(A) / n) < 0.03 * np.trace(A) / n
    assert abs(m2 - np.sum(A * A) / n) < 0.03 * np.sum(A * A) / n
    # the mass of each cluster vs the histogram of the true eigenvalues (2/3 and 1/3)
    low = np.sum(dens[grid < 4.5]) * dx
    assert abs(low - 2 / 3) < 0.05
    # the density vs the same broadening of the true eigenvalues: close in L1
    true = np.exp(-0.5 * ((grid[:, None] - lam) / 0.15) ** 2).sum(1) / (n * 0.15 * np.sqrt(2 * np.pi))
    assert np.sum(np.abs(dens - true)) * dx < 0.25


def test_spectral_density_gaussian_probes_exact_on_small_operator():
    # num_steps >= n: every probe's quadrature is exact, so the moments are v^T A^p v
    lam = np.array([-1.0, 0.5, 2.0, 4.0])
    A = sym_with(lam, seed=9)
    grid, dens = cv.spectral_density(lambda v: A @ v, 4, num_probes=400, num_steps=10,
                                     sigma=0.01, probe="gaussian", seed=2)
    dx = grid[1] - grid[0]
    assert abs(np.sum(dens) * dx - 1) < 1e-6
    for e in lam:                                         # four narrow peaks at the eigenvalues
        assert abs(np.sum(dens[np.abs(grid - e) < 0.05]) * dx - 0.25) < 0.06


def test_hessian_density_mass_and_support():
    ev = np.linalg.eigvalsh(dense_hessian(mse, PARAMS))
    grid, dens = cv.hessian_density(mse, PARAMS, num_probes=5, num_steps=30, sigma=0.01)
    dx = grid[1] - grid[0]
    assert abs(np.sum(dens) * dx - 1) < 1e-3
    assert grid[0] <= ev[0] and grid[-1] >= ev[-1]
    assert abs(np.sum(grid * dens) * dx - ev.mean()) < 0.2 * np.abs(ev).max()


# ============================================================================ Hutchinson
def test_hutchinson_trace_within_three_standard_errors():
    A = sym_with(RNG.uniform(-1.0, 5.0, 200), seed=10)
    est, se = cv.hutchinson_trace(lambda v: A @ v, 200, num_probes=100, seed=3)
    assert se > 0
    assert abs(est - np.trace(A)) <= 3 * se
    # the standard error is the right size: sqrt(2 sum_{i != j} A_ij^2 / N)
    off = np.sum(A * A) - np.sum(np.diag(A) ** 2)
    assert 0.5 < se / np.sqrt(2 * off / 100) < 1.5


def test_hutchinson_exact_for_diagonal_and_close_for_dominant():
    d = RNG.uniform(1, 10, 50)
    est, se = cv.hutchinson_trace(lambda v: d * v, 50, num_probes=5)
    assert abs(est - d.sum()) < 1e-10 and se < 1e-10          # z_i^2 = 1 exactly
    np.testing.assert_allclose(cv.hutchinson_diag(lambda v: d * v, 50, num_probes=3), d)
    E = 0.05 * sym_with(RNG.uniform(-1, 1, 50), seed=11)
    A = np.diag(d) + E
    diag = cv.hutchinson_diag(lambda v: A @ v, 50, num_probes=200, seed=4)
    assert np.max(np.abs(diag - np.diag(A))) < 0.05 * np.min(d)


# ============================================================================ stationary points
@pytest.mark.parametrize("f, kind, eigs", [
    (lambda x: x[0] ** 2 + x[1] ** 2, "minimum", [2.0, 2.0]),
    (lambda x: -(x[0] ** 2 + x[1] ** 2), "maximum", [-2.0, -2.0]),
    (lambda x: x[0] ** 2 - x[1] ** 2, "saddle", [-2.0, 2.0]),
    (lambda x: x[0] ** 4 + x[1] ** 2, "degenerate", [0.0, 2.0]),
], ids=["min", "max", "saddle", "degenerate"])
def test_classify_stationary_point(f, kind, eigs):
    r = cv.classify_stationary_point(f, np.zeros(2))
    assert r.kind == kind and r.grad_norm == 0.0
    np.testing.assert_allclose(r.eigenvalues, eigs, atol=1e-12)
    # the Lanczos path (both ends only) agrees
    r2 = cv.classify_stationary_point(f, np.zeros(2), dense_max=0)
    assert r2.kind == kind
    np.testing.assert_allclose(r2.eigenvalues, [min(eigs), max(eigs)], atol=1e-10)


def test_classify_not_stationary_and_pytree_and_large():
    r = cv.classify_stationary_point(lambda x: x[0] ** 2 + x[1] ** 2, np.array([1.0, 1.0]))
    assert r.kind == "not stationary" and r.eigenvalues is None
    assert abs(r.grad_norm - np.sqrt(8.0)) < 1e-12
    # a pytree point; a saddle of a coupled quadratic
    S = sym_with([-1.0, 0.5, 2.0], seed=12)
    r = cv.classify_stationary_point(lambda p: 0.5 * ad.sum(p["u"] * (S @ p["u"])) + p["c"] ** 2,
                                     {"u": np.zeros(3), "c": np.float64(0.0)})
    assert r.kind == "saddle"
    np.testing.assert_allclose(r.eigenvalues, [-1.0, 0.5, 2.0, 2.0], atol=1e-12)
    # 300 parameters: above dense_max, Lanczos on the ends of sum_i c_i x_i^2 / 2
    c = np.linspace(0.5, 3.0, 300)
    r = cv.classify_stationary_point(lambda x: 0.5 * ad.sum(c * x * x), np.zeros(300))
    assert r.kind == "minimum"
    np.testing.assert_allclose(r.eigenvalues, [0.5, 3.0], rtol=1e-6)


# ============================================================================ quadratic model
def quad(lams, b_coef, seed=13):
    """A QuadraticModel with the given eigenvalues and b = Q b_coef (coordinates in the
    eigenbasis, so in/out of A's range is chosen exactly)."""
    rng = np.random.default_rng(seed)
    n = len(lams)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return cv.QuadraticModel((Q * np.asarray(lams)) @ Q.T, Q @ np.asarray(b_coef), c=1.5)


def close_rel(a, b, tol=1e-10):
    scale = np.maximum(1.0, np.abs(b))
    assert np.all(np.abs(a - b) <= tol * scale), np.max(np.abs(a - b) / scale)


LAMS = np.array([0.5, 1.0, 2.0, 4.0])
W0 = np.array([1.0, -2.0, 0.5, 3.0])


@pytest.mark.parametrize("alpha, regime", [
    (0.2, "decaying"),          # alpha < 1 / lambda_max = 0.25
    (0.4, "oscillating"),       # 1 / 4 < alpha < 2 / 4 on the top direction
    (0.6, "diverging"),         # alpha > 2 / lambda_max
])
def test_gd_closed_form_matches_simulation(alpha, regime):
    m = quad(LAMS, [1.0, -1.0, 0.5, 2.0])
    closed = m.gd_trajectory(W0, alpha, 200)
    sim = m.simulate_gd(W0, alpha, 200)
    assert closed.shape == (201, 4)
    close_rel(closed, sim)
    assert m.gd_regime(alpha)[-1] == regime
    # the top direction's error from the minimiser is multiplied by (1 - alpha lambda)^k
    wstar = -np.linalg.solve(m.A, m.b)
    q = m.Q[:, -1]
    e = (sim - wstar) @ q
    np.testing.assert_allclose(e[1:8] / e[:7], 1 - alpha * 4.0, rtol=1e-6)
    if regime == "diverging":
        assert np.linalg.norm(sim[-1]) > 1e6
    else:
        np.testing.assert_allclose(sim[-1], wstar, atol=1e-6)


def test_gd_singular_A_b_in_and_out_of_range():
    lams = [0.0, 0.0, 1.0, 3.0]
    # b in A's range: the zero-curvature directions never move, the rest converge
    m = quad(lams, [0.0, 0.0, 1.0, -2.0])
    closed, sim = m.gd_trajectory(W0, 0.3, 80), m.simulate_gd(W0, 0.3, 80)
    close_rel(closed, sim)
    null = m.Q[:, :2]
    np.testing.assert_allclose(closed @ null, np.tile(W0 @ null, (81, 1)), atol=1e-12)
    assert np.linalg.norm(m.grad(closed[-1])) < 1e-8
    assert list(m.gd_regime(0.3)) == ["stationary", "stationary", "decaying", "decaying"]
    # b out of A's range: linear drift -k alpha b~ forever, the gradient never vanishes
    m = quad(lams, [0.7, -0.2, 1.0, -2.0])
    closed, sim = m.gd_trajectory(W0, 0.3, 80), m.simulate_gd(W0, 0.3, 80)
    close_rel(closed, sim)
    u = closed @ m.Q
    k = np.arange(81)
    np.testing.assert_allclose(u[:, :2], (W0 @ m.Q)[:2] - 0.3 * k[:, None] * m.bt[:2],
                               atol=1e-12)
    assert np.linalg.norm(m.grad(closed[-1])) > 0.7
    assert list(m.gd_regime(0.3)[:2]) == ["drifting", "drifting"]
    # an indefinite A diverges along the negative direction even for tiny alpha
    m = quad([-0.5, 1.0, 2.0, 3.0], [0.1, 0.2, 0.3, 0.4])
    close_rel(m.gd_trajectory(W0, 0.05, 100), m.simulate_gd(W0, 0.05, 100))
    assert m.gd_regime(0.05)[0] == "diverging"


@pytest.mark.parametrize("alpha, beta", [
    (0.1, 0.0),                 # plain GD
    (0.1, 0.5),                 # mixed: real roots on some directions, complex on others
    (0.2, 0.9),                 # underdamped everywhere (complex roots)
    (0.25, 0.25),               # critically damped on lambda = 1: (1 - sqrt(alpha))^2 = beta
    (0.05, 0.3),                # overdamped (real roots)
    (0.9, 0.5),                 # unstable: alpha lambda > 2 (1 + beta) on the top direction
    (0.1, 1.0),                 # no friction
])
def test_momentum_closed_form_matches_simulation(alpha, beta):
    for b_coef, lams in [([1.0, -1.0, 0.5, 2.0], LAMS),
                         ([0.0, 0.4, 0.5, 2.0], [0.0, 1.0, 2.0, 4.0]),      # b in range
                         ([0.3, 0.4, 0.5, 2.0], [0.0, 1.0, 2.0, 4.0])]:     # drifting
        m = quad(lams, b_coef)
        closed = m.momentum_trajectory(W0, alpha, beta, 70)
        sim = m.simulate_momentum(W0, alpha, beta, 70)
        close_rel(closed, sim)
    if beta == 0.0:
        close_rel(m.momentum_trajectory(W0, alpha, 0.0, 30), m.gd_trajectory(W0, alpha, 30))


def test_momentum_double_root_exactly_and_nearly():
    # t = 1 + beta - alpha a with t^2 = 4 beta: the recurrence matrix is a Jordan block
    a, beta = 1.0, 0.36
    alpha = (1 - np.sqrt(beta)) ** 2 / a                   # t = 2 sqrt(beta)
    for d_alpha in (0.0, 1e-9, -1e-9, 1e-5):
        m = cv.QuadraticModel(np.array([[a]]), np.array([0.5]))
        close_rel(m.momentum_trajectory([2.0], alpha + d_alpha, beta, 200),
                  m.simulate_momentum([2.0], alpha + d_alpha, beta, 200), tol=1e-11)


def test_gd_regime_labels_and_boundaries():
    lam = np.array([-1.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    labels = cv.gd_regime(1.0, lam, bt=[0, 0, 0.3, 0, 0, 0, 0, 0])
    assert list(labels) == ["diverging", "stationary", "drifting", "decaying", "decaying",
                            "oscillating", "oscillating", "diverging"]
    assert list(cv.gd_regime(0.1, [10.0, 20.0, 20.0000001])) == [
        "decaying", "oscillating", "diverging"]
    assert list(cv.gd_regime(1.0, [0.0])) == ["stationary"]
    # alpha lambda = 1 lands in one step; = 2 oscillates forever with constant amplitude
    m = cv.QuadraticModel(np.diag([1.0, 2.0]), np.array([-1.0, -2.0]))
    traj = m.gd_trajectory([3.0, 4.0], 1.0, 6)
    np.testing.assert_allclose(traj[1:, 0], 1.0)
    np.testing.assert_allclose(traj[:, 1] - 1.0, 3.0 * (-1.0) ** np.arange(7))
    close_rel(traj, m.simulate_gd([3.0, 4.0], 1.0, 6))
    with pytest.raises(ValueError):
        cv.gd_regime(0.0, [1.0])


def test_max_stable_lr_and_condition_number():
    lam = np.array([0.5, 2.0, 8.0])
    assert cv.max_stable_lr(lam) == 0.25
    assert cv.condition_number(lam) == 16.0
    assert cv.condition_number([0.0, 1.0]) == np.inf
    assert cv.condition_number([-1.0, 1.0]) == np.inf
    assert cv.max_stable_lr([-1.0, 0.0]) == np.inf
    # the bound is sharp: just below converges, just above diverges
    m = cv.QuadraticModel(np.diag(lam), np.zeros(3))
    lr = cv.max_stable_lr(m.eig[0])
    assert np.linalg.norm(m.gd_trajectory(np.ones(3), 0.99 * lr, 2000)[-1]) < 1e-3
    assert np.linalg.norm(m.gd_trajectory(np.ones(3), 1.01 * lr, 2000)[-1]) > 1e3


def test_quadratic_model_basics():
    m = quad(LAMS, [1.0, -1.0, 0.5, 2.0])
    lam, Q = m.eig
    np.testing.assert_allclose(lam, LAMS, atol=1e-12)
    np.testing.assert_allclose(Q.T @ Q, np.eye(4), atol=1e-12)
    w = RNG.standard_normal(4)
    assert abs(m.value(w) - (0.5 * w @ m.A @ w + m.b @ w + 1.5)) < 1e-12
    g = ad.grad(lambda x: 0.5 * ad.sum(x * (m.A @ x)) + ad.sum(m.b * x))(w)
    np.testing.assert_allclose(m.grad(w), g, atol=1e-12)
    with pytest.raises(ValueError, match="symmetric"):
        cv.QuadraticModel(np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros(2))
    with pytest.raises(ValueError):
        cv.QuadraticModel(np.eye(2), np.zeros(3))


def test_lanczos_names_non_finite_operators():
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        cv.hessian_eigs(lambda p: ad.sum(ad.tanh(p) ** 3), np.array([np.nan, 1.0, 2.0]))
