"""Logistic regression trained with ad.grad (autograd's lecture example) on breast-cancer data.

    python examples/logistic_regression.py               # 200 gradient-descent steps

Plain gradient descent on the mean negative log-likelihood, with the gradient from ad.grad.
The script prints the loss and accuracies before and after training and plots the training
and test loss per step next to the predicted probabilities of the test set, by true class.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, parser, pyplot, save_figure  # noqa: E402


def load_data(seed=0):
    """scikit-learn's bundled Wisconsin breast-cancer set (no download), standardised, with a
    bias column; a seeded 80/20 train/test split."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        raise SystemExit("this example needs scikit-learn: pip install -e '.[examples]'")
    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order].astype(np.float64)
    n_train = int(0.8 * len(y))
    mean, std = x[:n_train].mean(0), x[:n_train].std(0)
    x = np.hstack([(x - mean) / std, np.ones((len(y), 1))])
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def predictions(weights, inputs):
    """P(label = 1 | inputs): the logistic sigmoid of a linear score."""
    return ad.sigmoid(inputs @ weights)


def loss(weights, inputs, targets):
    """Mean negative log-likelihood of the labels."""
    p = predictions(weights, inputs)
    label_probabilities = p * targets + (1.0 - p) * (1.0 - targets)
    return -ad.mean(ad.log(label_probabilities))


def accuracy(weights, inputs, targets):
    return float(np.mean((np.asarray(predictions(weights, inputs)) > 0.5) == targets))


def plot(history, weights, x_test, y_test, out):
    plt = pyplot()
    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(11, 4.2))
    steps = np.arange(len(history["train"]))
    ax_loss.plot(steps, history["train"], label="train")
    ax_loss.plot(steps, history["test"], "--", label="test")
    ax_loss.set(xlabel="gradient-descent step", ylabel="mean negative log-likelihood",
                yscale="log", title="loss")
    ax_loss.legend()
    p = np.asarray(predictions(weights, x_test))
    bins = np.linspace(0, 1, 21)
    classes = ((0, "malignant", "C3"), (1, "benign", "C0"))
    ax_prob.hist([p[y_test == label] for label, _, _ in classes], bins=bins, stacked=True,
                 color=[color for _, _, color in classes], alpha=0.8,
                 label=[f"{name} (label {label}, {np.sum(y_test == label)} tumours)"
                        for label, name, _ in classes])
    ax_prob.axvline(0.5, color="k", lw=1, ls=":", label="decision threshold 0.5")
    ax_prob.set(xlabel="predicted P(label = 1)", ylabel="test examples (stacked)",
                title=f"test set: accuracy {accuracy(weights, x_test, y_test):.3f}")
    ax_prob.legend(loc="upper center")
    for ax in (ax_loss, ax_prob):
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return save_figure(fig, out, "logistic_regression.png")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.5)
    args = p.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_data(args.seed)
    loss_grad = ad.grad(loss)
    weights = np.zeros(x_train.shape[1])

    def report(tag):
        print(f"{tag:>8}: train loss {float(loss(weights, x_train, y_train)):.4f}  "
              f"train acc {accuracy(weights, x_train, y_train):.3f}  "
              f"test acc {accuracy(weights, x_test, y_test):.3f}")

    history = {"train": [], "test": []}

    def record():
        history["train"].append(float(loss(weights, x_train, y_train)))
        history["test"].append(float(loss(weights, x_test, y_test)))

    report("initial")
    record()
    for _ in range(args.steps):
        weights = weights - args.lr * loss_grad(weights, x_train, y_train)
        record()
    report("trained")
    plot(history, weights, x_test, y_test, args.out)
    return weights


if __name__ == "__main__":
    main()
