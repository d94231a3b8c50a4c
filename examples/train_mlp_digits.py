"""Train an MLP on scikit-learn's 8x8 digits with Adam + cosine schedule, checkpoints and --resume.

    python examples/train_mlp_digits.py                 # 30 epochs, ~98% test accuracy
    python examples/train_mlp_digits.py --stop-after 10 # stop early, as if interrupted ...
    python examples/train_mlp_digits.py --resume        # ... and continue bit-for-bit

A checkpoint (ad.save: one atomic .npz) is written after every epoch. It holds the model and
optimizer state, the schedule, the epoch and step counters, the state of the numpy Generator
that shuffles the minibatches and the history, so a resumed run ends with exactly the same
parameters as an uninterrupted one.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (accuracy, ad, digits, log, out_dir, parser, progress,  # noqa: E402
                     pyplot, save_figure, train_epoch)

# what must match between a checkpoint and the command line for --resume to make sense
CONFIG_KEYS = ("hidden", "activation", "epochs", "batch_size", "lr", "weight_decay", "seed")


def build(config):
    model = ad.nn.MLP([64, *config["hidden"], 10], activation=config["activation"],
                      seed=config["seed"], dtype=np.float32)
    optimizer = ad.optim.AdamW(model.parameters(), lr=config["lr"],
                               weight_decay=config["weight_decay"])
    # eta_min > 0 so that the last epoch still learns a little (a cosine to 0 ends at lr 0)
    schedule = ad.optim.CosineAnnealingLR(optimizer, T_max=config["epochs"],
                                          eta_min=config["lr"] * 1e-3)
    return model, optimizer, schedule


def save_checkpoint(path, model, optimizer, schedule, rng, epoch, step, history, config):
    ad.save(path, {"model": dict(model.state_dict()), "optimizer": optimizer.state_dict(),
                   "schedule": schedule.state_dict(), "epoch": epoch, "step": step,
                   "rng": rng.bit_generator.state, "history": history, "config": config})


def load_checkpoint(path, model, optimizer, schedule, rng, config):
    ckpt = ad.load(path)
    saved = ckpt["config"]
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {config[k]!r}" for k in CONFIG_KEYS
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


def plot(history, out):
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
    return save_figure(fig, out, "mlp_digits_curves.png")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30, help="total epochs (sets the schedule)")
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="hidden sizes")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--ckpt", default=None, help="checkpoint path (default OUT/mlp_digits.npz)")
    p.add_argument("--resume", action="store_true", help="continue from --ckpt")
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this epoch, as if interrupted (for --resume)")
    args = p.parse_args(argv)

    out = out_dir(args.out)
    ckpt_path = args.ckpt or os.path.join(out, "mlp_digits.npz")
    config = {"hidden": list(args.hidden), "activation": args.activation,
              "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "weight_decay": args.weight_decay, "seed": args.seed}

    (x_train, y_train), (x_test, y_test) = digits()
    model, optimizer, schedule = build(config)
    rng = np.random.default_rng(args.seed)          # shuffles the minibatches
    epoch, step = 0, 0
    history = {"train_loss": [], "train_acc": [], "test_acc": [], "lr": []}
    if args.resume:
        if not os.path.exists(ckpt_path):
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        epoch, step, history = load_checkpoint(ckpt_path, model, optimizer, schedule, rng,
                                               config)
        log(f"resumed from {ckpt_path} after epoch {epoch} (step {step})")
    else:
        log(f"model: {model!r}".replace("\n", "\n       "))
        log(f"initial: test acc {accuracy(model, x_test, y_test):.3f}")

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
        test_acc = accuracy(model, x_test, y_test)
        for k, v in zip(history, (train_loss, train_acc, test_acc, lr)):
            history[k].append(float(v))
        bar.set_postfix(loss=f"{train_loss:.4f}", test_acc=f"{test_acc:.3f}", refresh=False)
        log(f"epoch {epoch:3d}/{args.epochs}  lr {lr:.2e}  train loss {train_loss:.4f}  "
            f"train acc {train_acc:.3f}  test acc {test_acc:.3f}")
        save_checkpoint(ckpt_path, model, optimizer, schedule, rng, epoch, step, history,
                        config)

    if history["test_acc"]:
        plot(history, out)
        done = "final" if epoch == args.epochs else f"stopped after epoch {epoch} (--resume goes on)"
        log(f"{done}: test acc {history['test_acc'][-1]:.3f}; checkpoint {ckpt_path}")
    return {"history": history, "model": model, "checkpoint": ckpt_path}


if __name__ == "__main__":
    main()
