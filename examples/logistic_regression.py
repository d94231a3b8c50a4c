"""Logistic regression trained with ad.grad (autograd's lecture example) on breast-cancer data."""
import argparse

import numpy as np

import pyad as ad


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.5)
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load_data()
    loss_grad = ad.grad(loss)
    weights = np.zeros(x_train.shape[1])

    def report(tag):
        print(f"{tag:>8}: train loss {float(loss(weights, x_train, y_train)):.4f}  "
              f"train acc {accuracy(weights, x_train, y_train):.3f}  "
              f"test acc {accuracy(weights, x_test, y_test):.3f}")

    report("initial")
    for _ in range(args.steps):
        weights = weights - args.lr * loss_grad(weights, x_train, y_train)
    report("trained")
    return weights


if __name__ == "__main__":
    main()
