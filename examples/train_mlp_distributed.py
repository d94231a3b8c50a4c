"""Data-parallel MLP training on the digits over MPI ranks, then the Hessian's spectrum across them.

    mpiexec -n 2 python examples/train_mlp_distributed.py            # 2 ranks, ~98% test acc
    mpiexec -n 2 python examples/train_mlp_distributed.py --stop-after 5
    mpiexec -n 2 python examples/train_mlp_distributed.py --resume   # continues bit for bit
    python examples/train_mlp_distributed.py                         # a world of one works too

Every rank builds the same model (rank 0's values are broadcast), takes its share of each
combined minibatch (ad.data.batches(..., rank, world)) and computes its gradient; the
DistributedOptimizer averages the gradients over the ranks (one Allreduce per 25 MB bucket)
before each AdamW step, so N ranks with batch B train exactly as one process with batch N*B.
Rank 0 prints the epoch lines and writes the checkpoint and the plot; every rank can resume.

At the end, the Hessian of the training loss at the trained parameters: each rank passes its
shard's share of the loss (its sum of per-sample losses over the global sample count) and
``distributed=True`` makes the operator the sum over the ranks of their Hessian-vector
products, so every rank gets the top eigenvalues and the spectral density of the whole
training set's Hessian.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (ad, digits, log, out_dir, parser, pyplot, save_figure,  # noqa: E402
                     training_step)

import pyad.distributed as dist  # noqa: E402

CONFIG_KEYS = ("hidden", "epochs", "batch_size", "lr", "seed", "world")


def build(config):
    model = ad.nn.MLP([64, *config["hidden"], 10], activation="relu", seed=config["seed"],
                      dtype=np.float32)
    dist.broadcast_parameters(model)           # the same start on every rank, whatever seed
    optimizer = dist.DistributedOptimizer(ad.optim.AdamW(model.parameters(), lr=config["lr"],
                                                         weight_decay=1e-4))
    schedule = ad.optim.CosineAnnealingLR(optimizer.optimizer, T_max=config["epochs"],
                                          eta_min=config["lr"] * 1e-3)
    return model, optimizer, schedule


def summed(*values):
    """Python numbers summed over the ranks (one small Allreduce)."""
    return dist.allreduce(np.array(values, dtype=np.float64)).data


def train_epoch(step, x, y, batch_size, rng):
    """One epoch over this rank's shards; the loss and accuracy of all ranks together."""
    loss_sum, correct, seen = 0.0, 0, 0
    for xb, yb in ad.data.batches(x, y, batch_size=batch_size, seed=rng, rank=dist.rank(),
                                  world=dist.size()):
        loss, logits = step(xb, yb)
        loss_sum += loss.item() * len(yb)
        correct += int(np.sum(np.asarray(logits.data).argmax(axis=1) == yb))
        seen += len(yb)
    loss_sum, correct, seen = summed(loss_sum, correct, seen)
    return loss_sum / seen, correct / seen


def test_accuracy(model, x, y):
    """Each rank scores its slice of the test set; the counts are summed."""
    part = slice(dist.rank() * len(x) // dist.size(), (dist.rank() + 1) * len(x) // dist.size())
    with ad.no_grad():
        right = np.sum(np.asarray(model(x[part]).data).argmax(axis=1) == y[part])
    correct, total = summed(right, len(y[part]))
    return correct / total


def relu_mlp(p, x):
    """The model as a function of its parameters (a list: weight, bias, weight, ...)."""
    h = x
    for i in range(0, len(p), 2):
        h = h @ p[i] + p[i + 1]
        if i + 2 < len(p):
            h = ad.relu(h)
    return h


def hessian_spectrum(model, x, y, k, probes, steps):
    """Top-k Hessian eigenvalues and the spectral density of the mean training loss, each
    rank holding 1/size of the training set (in float64)."""
    params = [p.data.astype(np.float64) for p in model.parameters()]
    shard = slice(dist.rank() * len(x) // dist.size(), (dist.rank() + 1) * len(x) // dist.size())
    xs, ys = x[shard].astype(np.float64), y[shard]
    weight = len(ys) / len(x)           # this shard's mean loss, as a share of the global mean

    def share(p):
        return ad.losses.softmax_cross_entropy(relu_mlp(p, xs), ys) * weight

    vals, _, info = ad.curvature.hessian_eigs(share, params, k=k, distributed=True, tol=1e-6)
    grid, density = ad.curvature.hessian_density(share, params, num_probes=probes,
                                                 num_steps=steps, distributed=True)
    return np.asarray(vals), info, grid, density


def plot(history, grid, density, vals, out):
    plt = pyplot()
    fig, (ax_loss, ax_acc, ax_spec) = plt.subplots(1, 3, figsize=(14, 4))
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax_loss.plot(epochs, history["train_loss"], "o-")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log",
                title=f"training loss ({history['world']} ranks)")
    ax_acc.plot(epochs, history["train_acc"], "o-", label="train (during the epoch)")
    ax_acc.plot(epochs, history["test_acc"], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    ax_spec.semilogy(grid, np.maximum(density, 1e-8))
    for v in vals:
        ax_spec.axvline(v, color="C3", lw=0.8, alpha=0.6)
    ax_spec.set(xlabel="eigenvalue", ylabel="density",
                title="Hessian spectrum (red: top eigenvalues)")
    for ax in (ax_loss, ax_acc, ax_spec):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out, "mlp_distributed.png")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    p.add_argument("--batch-size", type=int, default=32, help="per rank")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--eigs", type=int, default=3, help="top Hessian eigenvalues")
    p.add_argument("--probes", type=int, default=2, help="probes of the spectral density")
    p.add_argument("--lanczos-steps", type=int, default=40)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--stop-after", type=int, default=None)
    args = p.parse_args(argv)

    dist.init()
    rank0 = dist.rank() == 0
    say = log if rank0 else (lambda message: None)
    out = out_dir(args.out) if rank0 else args.out
    ckpt_path = os.path.join(out, "mlp_distributed.npz")
    config = {"hidden": list(args.hidden), "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
              "world": dist.size()}

    (x_train, y_train), (x_test, y_test) = digits()
    model, optimizer, schedule = build(config)
    # forward, backward, the gradient average and the update, compiled: recorded twice, then
    # replayed (DistributedOptimizer.step averages over the ranks first)
    step = training_step(model, optimizer)
    rng = np.random.default_rng(args.seed)          # the same on every rank: shared order
    history = {"train_loss": [], "train_acc": [], "test_acc": [], "world": dist.size()}
    epoch = 0
    if args.resume:
        ckpt = dist.load(ckpt_path)
        diff = [k for k in CONFIG_KEYS if ckpt["config"].get(k) != config[k]]
        if diff:
            raise SystemExit(f"--resume: {ckpt_path} was written with other settings "
                             f"({', '.join(diff)}); pass the same options and -n")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        rng.bit_generator.state = ckpt["rng"]
        epoch = int(ckpt["epoch"])
        history = {k: (list(v) if isinstance(v, list) else v) for k, v in ckpt["history"].items()}
        say(f"resumed from {ckpt_path} after epoch {epoch}")
    else:
        say(f"{dist.size()} rank(s), batch {args.batch_size} per rank "
            f"({args.batch_size * dist.size()} combined); {optimizer!r}")

    last = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    while epoch < last:
        lr = optimizer.lr
        train_loss, train_acc = train_epoch(step, x_train, y_train, args.batch_size, rng)
        schedule.step()
        epoch += 1
        test_acc = test_accuracy(model, x_test, y_test)
        for key, v in zip(("train_loss", "train_acc", "test_acc"),
                          (train_loss, train_acc, test_acc)):
            history[key].append(float(v))
        say(f"epoch {epoch:3d}/{args.epochs}  lr {lr:.2e}  train loss {train_loss:.4f}  "
            f"train acc {train_acc:.3f}  test acc {test_acc:.3f}")
        dist.save(ckpt_path, {"model": dict(model.state_dict()),
                              "optimizer": optimizer.state_dict(),
                              "schedule": schedule.state_dict(), "epoch": epoch,
                              "rng": rng.bit_generator.state, "history": history,
                              "config": config})
    result = {"history": history, "model": model, "checkpoint": ckpt_path}
    if epoch < args.epochs:
        say(f"stopped after epoch {epoch} (--resume goes on)")
        return result

    vals, info, grid, density = hessian_spectrum(model, x_train, y_train, args.eigs,
                                                 args.probes, args.lanczos_steps)
    say(f"Hessian of the training loss over {dist.size()} rank(s): top eigenvalues "
        + ", ".join(f"{v:.4f}" for v in vals) + f" ({info['iterations']} Lanczos steps)")
    if rank0:
        plot(history, grid, density, vals, out)
    say(f"final: test acc {history['test_acc'][-1]:.3f}; checkpoint {ckpt_path}")
    result.update(eigenvalues=vals, density=(grid, density))
    return result


if __name__ == "__main__":
    main()
