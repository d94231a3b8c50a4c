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


def save_checkpoint(path, model, optimizer, schedule, rng, epoch, step, history, config):
    """One atomic .npz (ad.save) with everything a bit-for-bit --resume needs: the model's
    state dict (parameters and buffers such as BatchNorm's running statistics), the optimizer
    and schedule states, the epoch and step counters, the state of the numpy Generator that
    shuffles the minibatches, the history and the run's settings."""
    ad.save(path, {"model": dict(model.state_dict()), "optimizer": optimizer.state_dict(),
                   "schedule": schedule.state_dict(), "epoch": epoch, "step": step,
                   "rng": rng.bit_generator.state, "history": history, "config": config})


def load_checkpoint(path, model, optimizer, schedule, rng, config, keys):
    """Restore what save_checkpoint wrote into model, optimizer, schedule and rng (in place);
    returns (epoch, step, history). Exits with a message, loading nothing, when the settings
    named by keys differ between the checkpoint and config."""
    ckpt = ad.load(path)
    saved = ckpt["config"]
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {config[k]!r}" for k in keys
            if saved.get(k) != config[k]]
    if diff:
        raise SystemExit(f"--resume: {path} was written with other settings ("
                         + "; ".join(diff) + "); pass the same options or start afresh")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])      # after the optimizer: it sets the lr
    rng.bit_generator.state = ckpt["rng"]
    history = {k: list(v) for k, v in ckpt["history"].items()}
    return int(ckpt["epoch"]), int(ckpt["step"]), history


def checkpoint_options(p, name):
    """--ckpt, --resume and --stop-after on the parser p; the checkpoint defaults to
    OUT/name.npz."""
    p.add_argument("--ckpt", default=None, help=f"checkpoint path (default OUT/{name}.npz)")
    p.add_argument("--resume", action="store_true", help="continue from --ckpt")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this epoch, as if interrupted (for --resume)")


def train_resumable(args, name, config, keys, build, data, evaluate=accuracy, describe=repr):
    """The epochs of a run that can be interrupted and resumed bit for bit: build(config) gives
    (model, optimizer, schedule), data is ((x_train, y_train), (x_test, y_test)); a checkpoint
    (save_checkpoint) after every epoch, --resume continuing from one written with the same
    settings (those named by keys), evaluate(model, x, y) the test accuracy after each epoch,
    curves in OUT/name_curves.png. Returns {"history", "model", "checkpoint"}."""
    out = out_dir(args.out)
    ckpt_path = args.ckpt or os.path.join(out, f"{name}.npz")
    (x_train, y_train), (x_test, y_test) = data
    model, optimizer, schedule = build(config)
    rng = np.random.default_rng(args.seed)          # shuffles the minibatches
    epoch, step = 0, 0
    history = {"train_loss": [], "train_acc": [], "test_acc": [], "lr": []}
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        epoch, step, history = load_checkpoint(ckpt_path, model, optimizer, schedule, rng,
                                               config, keys)
        log(f"resumed from {ckpt_path} after epoch {epoch} (step {step})")
    else:
        log(f"model: {describe(model)}".replace("\n", "\n       "))
        log(f"initial: test acc {evaluate(model, x_test, y_test):.3f}")

    last = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    # one tick per epoch over the whole run (a resumed run starts the bar where it stopped)
    bar = progress(range(epoch, last), initial=epoch, total=last, desc="epochs", unit="epoch")
    for _ in bar:
        lr = optimizer.lr
        train_loss, train_acc = train_epoch(model, optimizer, x_train, y_train,
                                            args.batch_size, rng)
        step += -(-len(x_train) // args.batch_size)
        schedule.step()
        epoch += 1
        test_acc = evaluate(model, x_test, y_test)
        for k, v in zip(history, (train_loss, train_acc, test_acc, lr)):
            history[k].append(float(v))
        bar.set_postfix(loss=f"{train_loss:.4f}", test_acc=f"{test_acc:.3f}", refresh=False)
        log(f"epoch {epoch:3d}/{args.epochs}  lr {lr:.2e}  train loss {train_loss:.4f}  "
            f"train acc {train_acc:.3f}  test acc {test_acc:.3f}")
        save_checkpoint(ckpt_path, model, optimizer, schedule, rng, epoch, step, history,
                        config)

    if history["test_acc"]:
        plot_history(history, out, f"{name}_curves.png")
        done = ("final" if epoch == args.epochs
                else f"stopped after epoch {epoch} (--resume goes on)")
        n_test = len(y_test)
        log(f"{done}: test acc {history['test_acc'][-1]:.3f} "
            f"({round(history['test_acc'][-1] * n_test)}/{n_test}); checkpoint {ckpt_path}")
    return {"history": history, "model": model, "checkpoint": ckpt_path}


def plot_history(history, out, name):
    """Training loss and train/test accuracy per epoch, side by side, saved as out/name."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="training loss")
    ax_acc.plot(epochs, history["train_acc"], "o-", label="train (during the epoch)")
    ax_acc.plot(epochs, history["test_acc"], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, out, name)


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
