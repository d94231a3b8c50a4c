"""The curvature / training-dynamics example scripts run in their fast modes and show what they claim."""
import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the examples need scikit-learn's bundled data")
pytest.importorskip("matplotlib", reason="the examples plot: pip install -e '.[examples]'")
pytest.importorskip("tqdm", reason="the examples show progress bars: pip install -e '.[examples]'")

from example_helpers import assert_png, load_example  # noqa: E402


def run(name, tmp_path, *extra):
    return load_example(name).main(["--fast", "--out", str(tmp_path), *extra])


def test_quadratic_dynamics_closed_form_matches_simulation(tmp_path, capsys):
    r = run("quadratic_dynamics", tmp_path)
    assert_png(tmp_path / "quadratic_dynamics.png")
    assert r["worst_diff"] < 1e-8
    for res in r["results"]:
        np.testing.assert_allclose(res["pred"], res["sim"], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(res["pred"], res["formula"], rtol=1e-8, atol=1e-8)
    # below 1/lambda_max, between 1/ and 2/lambda_max, above 2/lambda_max
    assert [res["labels"][-1] for res in r["results"]] == ["decaying", "oscillating",
                                                           "diverging"]
    assert r["max_stable_lr"] == pytest.approx(2 / r["eigenvalues"][-1])
    out = capsys.readouterr().out
    assert "max stable lr" in out and "diverging" in out


def test_sawtooth_pieces_double_with_depth(tmp_path):
    r = run("sawtooth", tmp_path)
    assert_png(tmp_path / "sawtooth.png")
    rows = r["rows"]
    assert [row["depth"] for row in rows] == list(range(1, 7))
    for row in rows:
        assert row["deep"] == 2 ** row["depth"]
        assert row["shallow"] <= row["units"] + 1
    # the shallow net with as many units cannot follow the sawtooth once it has more teeth
    assert rows[-1]["shallow_rms"] > 0.2


def test_hessian_spectrum_finite_and_negative_curvature_shrinks(tmp_path):
    r = run("hessian_spectrum", tmp_path)
    assert_png(tmp_path / "hessian_spectrum.png")
    h = r["history"]
    small, large = np.array(h["smallest"]), np.array(h["largest"])
    assert np.all(np.isfinite(small)) and np.all(np.isfinite(large))
    assert np.all(large[:, 0] > 0)
    assert np.all(small <= large.min(axis=1, keepdims=True))
    assert small[0, 0] < 0                                    # a saddle-rich start
    assert small[-1, 0] / large[-1, 0] > 0.5 * small[0, 0] / large[0, 0]
    for grid, dens in r["densities"].values():
        assert np.all(np.isfinite(dens)) and np.all(dens >= 0)
        assert np.sum(dens) * (grid[1] - grid[0]) == pytest.approx(1.0, abs=0.05)


def test_sharpness_tracks_lambda_max(tmp_path):
    r = run("sharpness", tmp_path)
    assert_png(tmp_path / "sharpness.png")
    (lr, h), = r["runs"].items()
    lam = np.array(h["lambda_max"])
    assert len(lam) >= 3 and np.all(np.isfinite(lam)) and np.all(lam > 0)
    assert h["loss_step"][-1] < h["loss_step"][0]


def test_hypergradient_lowers_validation_loss(tmp_path):
    r = run("hypergradient", tmp_path)
    assert_png(tmp_path / "hypergradient.png")
    np.testing.assert_allclose(r["hypergrad0"], r["fd0"], rtol=1e-4, atol=1e-8)
    val = r["history"]["val"]
    assert val[-1] < 0.9 * val[0]
    assert r["accuracy"] > r["accuracy0"]


def test_hypergradient_checkpointed_unroll_gives_same_hypergradient(tmp_path):
    plain = run("hypergradient", tmp_path, "--outer-steps", "1")
    ckpt = run("hypergradient", tmp_path, "--outer-steps", "1", "--checkpoint-every", "5")
    np.testing.assert_allclose(ckpt["hypergrad0"], plain["hypergrad0"], rtol=1e-9)


def test_implicit_ridge_derivative_and_tuning(tmp_path):
    r = run("implicit_ridge", tmp_path)
    assert_png(tmp_path / "implicit_ridge.png")
    np.testing.assert_allclose(r["implicit"], r["closed"], rtol=1e-6, atol=1e-6)
    assert r["err_closed"] < 1e-6
    np.testing.assert_allclose(r["fd"], r["closed"], rtol=1e-4, atol=1e-6)
    h = r["history"]
    assert h["hypergrad"][0] == pytest.approx(r["hypergrad_fd"], rel=1e-5)
    assert h["val"][-1] < h["val"][0]


def test_hessian_free_beats_adam_per_iteration(tmp_path, capsys):
    r = run("hessian_free", tmp_path)
    assert_png(tmp_path / "hessian_free.png")
    hf, adam = r["hf"], r["adam"]
    k = len(hf["loss"]) - 1
    assert k == 10 and len(adam["loss"]) > k
    assert hf["loss"][k] < adam["loss"][k]
    assert all(b <= a for a, b in zip(hf["loss"], hf["loss"][1:]))     # HF never goes up
    assert len(hf["damping"]) == k and all(d > 0 for d in hf["damping"])
    assert "damping used per iteration" in capsys.readouterr().out
