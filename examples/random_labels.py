"""Fit an MLP to digits with randomly shuffled labels: it memorises them, and learns nothing.

Zhang et al., "Understanding deep learning requires rethinking generalization" (ICLR 2017):
a network big enough to fit the real training labels also fits a random permutation of them
(to ~100% training accuracy, only more slowly), while its test accuracy stays at chance.
Chance accuracy here is 1 / (number of classes) = 10%: what a guess that ignores the image
scores on the (nearly balanced) digits, in the printed text and in the plot alike. The same
model and optimizer trained on the true labels is shown for contrast. Nothing in the training
procedure tells the two runs apart, only the data.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (accuracy, ad, digits, log, parser, progress, pyplot,  # noqa: E402
                     save_figure, train_epoch)


def run(name, x_train, y_train, x_test, y_test, args):
    """Train a fresh MLP (same seed every time) and return its per-epoch history."""
    model = ad.nn.MLP([64, args.width, args.width, 10], seed=args.seed)
    optimizer = ad.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)
    history = {"train_loss": [], "train_acc": [], "test_acc": []}
    for epoch in progress(range(1, args.epochs + 1), desc=name, unit="epoch"):
        loss, _ = train_epoch(model, optimizer, x_train, y_train, args.batch_size, rng)
        history["train_loss"].append(loss)
        history["train_acc"].append(accuracy(model, x_train, y_train))
        history["test_acc"].append(accuracy(model, x_test, y_test))
        if epoch % args.log_every == 0 or epoch == args.epochs:
            log(f"{name:>13} epoch {epoch:3d}/{args.epochs}  train loss {loss:.4f}  "
                f"train acc {history['train_acc'][-1]:.3f}  "
                f"test acc {history['test_acc'][-1]:.3f}")
    return history


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--width", type=int, default=512, help="hidden layer width (two layers)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--log-every", type=int, default=10, help="print every N epochs")
    args = p.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = digits()
    num_classes = len(np.unique(y_train))
    chance = 1.0 / num_classes          # the one definition of chance, printed and plotted
    # a permutation of the training labels: same class frequencies, no relation to the images
    y_random = np.random.default_rng(args.seed).permutation(y_train)
    log(f"chance accuracy: 1/{num_classes} = {chance:.3f}; {np.mean(y_random == y_train):.3f} "
        f"of the shuffled training labels happen to equal the true ones (about chance)")
    results = {"true labels": run("true labels", x_train, y_train, x_test, y_test, args),
               "random labels": run("random labels", x_train, y_random, x_test, y_test, args)}

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    epochs = np.arange(1, args.epochs + 1)
    for (name, h), color in zip(results.items(), ("C0", "C3")):
        ax.plot(epochs, h["train_acc"], "-", color=color, label=f"{name}: train")
        ax.plot(epochs, h["test_acc"], "--", color=color, label=f"{name}: test")
    ax.axhline(chance, color="0.4", lw=1.2, ls=":",
               label=f"chance: 1/{num_classes} = {chance:.2f}")
    ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02),
           title=f"MLP 64-{args.width}-{args.width}-10 on digits, Adam lr {args.lr:g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center right")
    fig.tight_layout()
    save_figure(fig, args.out, "random_labels.png")
    return results


if __name__ == "__main__":
    main()
