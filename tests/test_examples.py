"""The example scripts run in their fast modes and do what they claim (outputs in a tmp dir)."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the examples need scikit-learn's bundled data")
pytest.importorskip("matplotlib", reason="the examples plot: pip install -e '.[examples]'")
pytest.importorskip("tqdm", reason="the examples show progress bars: pip install -e '.[examples]'")

import pyad as ad  # noqa: E402

from example_helpers import EXAMPLES, assert_png, load_example  # noqa: E402


def test_logistic_regression_learns(tmp_path, capsys):
    lr = load_example("logistic_regression")
    weights = lr.main(["--steps", "200", "--out", str(tmp_path)])
    (x_train, y_train), (x_test, y_test) = lr.load_data()
    assert lr.accuracy(weights, x_train, y_train) > 0.95
    assert lr.accuracy(weights, x_test, y_test) > 0.95
    assert "trained" in capsys.readouterr().out
    assert_png(tmp_path / "logistic_regression.png")


def test_train_mlp_digits_fast_mode(tmp_path, capsys):
    mlp = load_example("train_mlp_digits")
    result = mlp.main(["--epochs", "4", "--out", str(tmp_path)])
    h = result["history"]
    assert len(h["train_loss"]) == 4
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["test_acc"][-1] > 0.9
    assert_png(tmp_path / "mlp_digits_curves.png")
    ckpt = ad.load(tmp_path / "mlp_digits.npz")
    assert ckpt["epoch"] == 4 and ckpt["history"]["test_acc"] == pytest.approx(h["test_acc"])
    for name, value in result["model"].state_dict().items():
        np.testing.assert_array_equal(ckpt["model"][name], value)
    out = capsys.readouterr().out
    assert "epoch   4/4" in out and "test acc" in out
    # a checkpoint of other settings is refused with a message rather than half-loaded
    with pytest.raises(SystemExit, match="other settings"):
        mlp.main(["--epochs", "4", "--lr", "0.5", "--resume", "--out", str(tmp_path)])


def _run_script(args, cwd, script="train_mlp_digits.py"):
    env = dict(os.environ)
    # the subprocess imports the very pyad this test process imported
    root = os.path.dirname(os.path.dirname(os.path.abspath(ad.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)] + args,
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _whole_and_resumed(tmp_path, script, args, checkpoint):
    """The checkpoints of 4 epochs in one process and of 2 epochs then --resume in a fresh
    process (the run's output checked on the way)."""
    fast = ["--epochs", "4"] + args
    whole, split = tmp_path / "whole", tmp_path / "split"
    _run_script(fast + ["--out", str(whole)], tmp_path, script)
    first = _run_script(fast + ["--out", str(split), "--stop-after", "2"], tmp_path, script)
    assert "stopped after epoch 2" in first
    second = _run_script(fast + ["--out", str(split), "--resume"], tmp_path, script)
    assert "resumed" in second and "epoch   3/4" in second and "epoch   1/4" not in second
    return ad.load(whole / checkpoint), ad.load(split / checkpoint)


def _assert_same_run(a, b):
    """Two checkpoints of the same 4 epochs: counters, model, optimizer state, Generator,
    schedule and history equal bit for bit."""
    assert a["epoch"] == b["epoch"] == 4 and a["step"] == b["step"]
    assert list(a["model"]) == list(b["model"])
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)
    for i, state in a["optimizer"]["state"].items():
        for k, v in state.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][i][k], err_msg=f"{i} {k}")
    assert a["rng"] == b["rng"]
    assert a["schedule"] == b["schedule"]
    assert a["history"] == b["history"]


def test_train_mlp_digits_resume_is_bit_for_bit(tmp_path):
    """N epochs in one process == N/2 epochs, then --resume for the rest in a fresh process."""
    a, b = _whole_and_resumed(tmp_path, "train_mlp_digits.py",
                              ["--hidden", "32", "--batch-size", "64"], "mlp_digits.npz")
    for name in a["model"]:
        assert a["model"][name].dtype == np.float32
    _assert_same_run(a, b)


def test_cnn_digits_fast_mode(tmp_path, capsys):
    cnn = load_example("cnn_digits")
    result = cnn.main(["--epochs", "3", "--out", str(tmp_path)])
    h = result["history"]
    assert len(h["train_loss"]) == 3
    assert h["train_loss"][-1] < 0.2 * h["train_loss"][0]
    assert h["test_acc"][-1] > 0.95
    assert_png(tmp_path / "cnn_digits_curves.png")
    ckpt = ad.load(tmp_path / "cnn_digits.npz")
    assert ckpt["epoch"] == 3 and ckpt["history"]["test_acc"] == pytest.approx(h["test_acc"])
    state = result["model"].state_dict()
    # batch norm's buffers are in the checkpoint: running statistics that moved, batch counts
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked",
            "4.running_mean"} <= set(state)
    assert int(ckpt["model"]["1.num_batches_tracked"]) == ckpt["step"] == 3 * 45
    assert np.abs(ckpt["model"]["1.running_mean"]).max() > 0
    for name, value in state.items():
        np.testing.assert_array_equal(ckpt["model"][name], value, err_msg=name)
    out = capsys.readouterr().out
    assert "epoch   3/3" in out and "test acc" in out and "BatchNorm2d" in out
    # a checkpoint of other settings is refused with a message rather than half-loaded
    with pytest.raises(SystemExit, match="other settings"):
        cnn.main(["--epochs", "3", "--channels", "8", "16", "--resume", "--out", str(tmp_path)])


def test_cnn_digits_input_is_standardised_images():
    (x_train, y_train), (x_test, y_test) = load_example("cnn_digits").images()
    assert x_train.shape == (1438, 1, 8, 8) and x_test.shape == (359, 1, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float32
    assert abs(float(x_train.mean())) < 1e-5 and float(x_train.std()) == pytest.approx(1, 1e-5)
    # the split of ad.datasets.digits(), as in train_mlp_digits.py
    (_, y_mlp), (_, y_mlp_test) = ad.datasets.digits()
    np.testing.assert_array_equal(y_train, y_mlp)
    np.testing.assert_array_equal(y_test, y_mlp_test)


def test_cnn_digits_resume_is_bit_for_bit(tmp_path):
    """N epochs in one process == N/2 epochs, then --resume for the rest in a fresh process:
    parameters, batch norm's running statistics and counters, optimizer state, history."""
    a, b = _whole_and_resumed(tmp_path, "cnn_digits.py", ["--batch-size", "64"],
                              "cnn_digits.npz")
    assert "4.running_var" in a["model"] and "4.num_batches_tracked" in a["model"]
    _assert_same_run(a, b)


def test_batchnorm_fast_mode(tmp_path, capsys):
    bn = load_example("batchnorm")
    r = bn.main(["--fast", "--out", str(tmp_path)])
    assert_png(tmp_path / "batchnorm.png")
    runs = r["runs"]
    assert set(runs) == {"no batch norm", "batch norm"}
    for name, h in runs.items():
        assert h["diverged_at"] is None, name
        assert len(h["batch_loss"]) == 150 and np.all(np.isfinite(h["batch_loss"])), name
        assert h["loss_step"] == list(range(0, 151, 10)), name
        assert h["step"] == [0, 50, 100, 150], name
        lam = np.array(h["lambda_max"])
        assert np.all(np.isfinite(lam)) and np.all(lam > 0), name
        assert h["loss"][-1] < 0.5 * h["loss"][0], name
    # the same minibatches at the same lr: batch norm gets to the target in fewer steps
    steps = r["steps_to_target"]
    assert steps["batch norm"] is not None and steps["no batch norm"] is not None
    assert r["speedup"] == pytest.approx(steps["no batch norm"] / steps["batch norm"])
    assert r["speedup"] > 1
    out = capsys.readouterr().out
    assert "speed-up" in out and "lambda_max" in out


def test_batchnorm_runs_start_from_the_same_weights():
    bn = load_example("batchnorm")
    layers = bn.init_layers([64, 16, 16, 10], seed=3)
    normed = bn.with_batch_norm(layers)
    for plain, layer in zip(layers, normed):
        np.testing.assert_array_equal(plain["W"], layer["W"])
        np.testing.assert_array_equal(plain["b"], layer["b"])
    assert [sorted(layer) for layer in normed] == [["W", "b", "beta", "gamma"]] * 2 + [["W", "b"]]
    # at gamma = 1, beta = 0 a batch norm layer standardises each unit over the batch
    x = np.random.default_rng(0).standard_normal((32, 64))
    h = np.asarray(ad.batch_norm(x @ normed[0]["W"] + normed[0]["b"], None, None,
                                 normed[0]["gamma"], normed[0]["beta"], training=True))
    np.testing.assert_allclose(h.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(h.std(axis=0), 1, atol=1e-3)
    logits = np.asarray(bn.forward(normed, x))
    assert logits.shape == (32, 10) and np.all(np.isfinite(logits))


def test_optimizers_fast_mode(tmp_path):
    opt = load_example("optimizers")
    result = opt.main(["--steps", "30", "--epochs", "1", "--out", str(tmp_path)])
    assert set(result["paths"]) == set(result["curves"]) == set(opt.OPTIMIZERS)
    f0 = opt.quadratic(np.array(opt.START))
    for name, path in result["paths"].items():
        assert path.shape == (31, 2)
        assert opt.quadratic(path[-1]) < 0.05 * f0, name
    for name, losses in result["curves"].items():
        assert np.all(np.isfinite(losses)), name
        assert losses[-10:].mean() < 0.5 * losses[:3].mean(), name
    assert_png(tmp_path / "optimizers.png")


def test_random_labels_fast_mode(tmp_path):
    rl = load_example("random_labels")
    result = rl.main(["--epochs", "8", "--width", "256", "--out", str(tmp_path)])
    true, rand = result["true labels"], result["random labels"]
    assert true["test_acc"][-1] > 0.9
    # memorising has begun: well above the 10% chance level on the shuffled training labels ...
    assert rand["train_acc"][-1] > 0.2
    assert rand["train_acc"][-1] > rand["train_acc"][0] + 0.05
    # ... while nothing generalises to the real test labels
    assert rand["test_acc"][-1] < 0.2
    assert_png(tmp_path / "random_labels.png")


def test_language_model_fast_mode(tmp_path):
    pytest.importorskip("pydoc_data.topics", reason="this Python ships without pydoc_data")
    lm = load_example("language_model")
    result = lm.main(["--epochs", "1", "--max-docs", "25", "--vocab", "400", "--dim", "16",
                      "--hidden", "32", "--eval-every", "40", "--out", str(tmp_path)])
    (train0, valid0), (train1, valid1) = result["before"], result["after"]
    assert 300 < valid0 < 600                   # ~uniform over the 400 words at the start
    assert train1 < 0.5 * train0 and valid1 < 0.5 * valid0
    assert np.all(np.isfinite(result["history"]["valid"]))
    assert result["neighbours"] and all(len(n) == 5 for n in result["neighbours"].values())
    assert_png(tmp_path / "language_model_perplexity.png")


def test_glove_fast_mode(tmp_path, capsys):
    pytest.importorskip("pydoc_data.topics", reason="this Python ships without pydoc_data")
    glove = load_example("glove")
    result = glove.main(["--fast", "--out", str(tmp_path)])
    h = result["history"]
    assert len(h) == 5 and np.all(np.isfinite(h))            # before training + 4 epochs
    assert all(b < a for a, b in zip(h, h[1:]))
    assert h[-1] < 0.3 * h[0]
    vocab, vectors = result["vocab"], result["vectors"]
    assert vectors.shape == (len(vocab), 16) and np.all(np.isfinite(vectors))
    near = result["neighbours"]
    assert near and all(len(n) == 5 for n in near.values())
    assert near["true"][0][0] == "false"                     # the clearest pair of the corpus
    out = capsys.readouterr().out
    assert "epoch   4/4" in out and "nearest neighbours" in out and "true: false" in out
    assert_png(tmp_path / "glove.png")


def test_glove_weighting_and_cooccurrence():
    glove = load_example("glove")
    x = np.array([1.0, 50.0, 100.0, 1e4])
    np.testing.assert_allclose(glove.weighting(x, 100.0, 0.75), [0.01 ** 0.75, 0.5 ** 0.75, 1, 1])
    index = {"a": 0, "b": 1, "c": 2}
    # "a b c" and "c a" (documents never share a window); "z" is out of the vocabulary
    i, j, x, n = glove.cooccurrence([["a", "z", "b", "c"], ["c", "a"]], index, window=2)
    dense = np.zeros((3, 3))
    dense[i, j] = x
    expected = np.array([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]]) + np.array(
        [[0, 0, 1], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_allclose(dense, expected)
    assert n == 5
