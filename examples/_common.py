"""Shared helpers of the example scripts: optional imports, output folder, progress bar, plots."""
import argparse
import os
import sys

import numpy as np

INSTALL_HINT = "pip install -e '.[examples]'"
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output")

try:
    import pyad as ad
except ModuleNotFoundError as e:             # pragma: no cover - depends on the environment
    # only pyad itself or its compiled extensions missing; other import errors propagate
    if e.name != "pyad" and not (e.name or "").startswith("pyad._"):
        raise
    raise SystemExit(f"this example needs pyad, installed and built ({e}); from the "
                     f"repository root run: {INSTALL_HINT}") from None


def require(module):
    """Import an optional dependency of the examples or exit with the install command."""
    import importlib
    root = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != root:
            raise                      # the package is there but broken: show the real error
        raise SystemExit(f"this example needs {root}: {INSTALL_HINT}") from None


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (files only, no display needed)."""
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def digits():
    """((x_train, y_train), (x_test, y_test)) of scikit-learn's 8x8 digits, float32 in [0, 1]."""
    require("sklearn")
    return ad.datasets.digits()


def parser(doc, out=True, seed=0):
    """An ArgumentParser with the options every script shares (--out, --seed)."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    if out:
        p.add_argument("--out", default=DEFAULT_OUT, help="folder for plots (and checkpoints)")
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help="seed of everything random")
    return p


def out_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def progress(iterable, **kwargs):
    """A tqdm bar on a terminal; silent otherwise (scripts print one line per epoch anyway)."""
    tqdm = require("tqdm").tqdm
    return tqdm(iterable, disable=not sys.stdout.isatty(), leave=False, dynamic_ncols=True,
                **kwargs)


def log(message):
    """print() that does not break a running tqdm bar."""
    tqdm = require("tqdm").tqdm
    tqdm.write(message) if sys.stdout.isatty() else print(message, flush=True)


def predict(model, x, batch_size=4096):
    """Logits of the model on x as a numpy array, without recording anything."""
    with ad.no_grad():
        return np.concatenate([np.asarray(model(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])


def accuracy(model, x, y):
    return float(np.mean(predict(model, x).argmax(axis=1) == y))


_STEPS = {}     # (id(model), id(optimizer)) -> (model, optimizer, their compiled training step)


def training_step(model, optimizer):
    """The minibatch step of model and optimizer under ad.compile (recorded on its first two
    calls per batch shape, then replayed: bitwise the eager step, without its Python work);
    returns (loss, logits)."""
    key = (id(model), id(optimizer))
    if key not in _STEPS:
        @ad.compile
        def step(xb, yb):
            logits = model(xb)
            loss = ad.losses.softmax_cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss, logits
        _STEPS[key] = (model, optimizer, step)     # the references keep the ids unique
    return _STEPS[key][2]


def train_epoch(model, optimizer, x, y, batch_size, rng):
    """One pass over (x, y) in minibatches shuffled by rng (a numpy Generator, which advances);
    returns the mean training loss and accuracy seen during the pass. An epoch on the digits
    takes a fraction of a second, so the callers show a progress bar over the epochs."""
    total_loss, correct = 0.0, 0
    step = training_step(model, optimizer)
    for xb, yb in ad.data.batches(x, y, batch_size=batch_size, seed=rng):
        loss, logits = step(xb, yb)
        total_loss += loss.item() * len(yb)
        correct += int(np.sum(np.asarray(logits.data).argmax(axis=1) == yb))
    return total_loss / len(x), correct / len(x)


def save_figure(fig, out, name):
    path = os.path.join(out_dir(out), name)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    log(f"wrote {path}")
    return path


def init_mlp(sizes, seed):
    """{"W0", "b0", ...}: LeCun-normal weights (right for tanh), zero biases, float64."""
    rng = np.random.default_rng(seed)
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        p[f"W{i}"] = rng.standard_normal((a, b)) / np.sqrt(a)
        p[f"b{i}"] = np.zeros(b)
    return p


def mlp(p, x):
    """A tanh MLP written with pyad ops on a params dict from init_mlp (linear last layer)."""
    n = len(p) // 2
    h = x
    for i in range(n):
        h = h @ p[f"W{i}"] + p[f"b{i}"]
        if i < n - 1:
            h = ad.tanh(h)
    return h
