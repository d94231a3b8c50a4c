"""Train a small CNN (conv, batch norm, pooling) on the 8x8 digits, with checkpoints and --resume.

    python examples/cnn_digits.py                  # 12 epochs, ~99% test accuracy, seconds
    python examples/cnn_digits.py --stop-after 5   # stop early, as if interrupted ...
    python examples/cnn_digits.py --resume         # ... and continue bit-for-bit

The model is built from pyad.nn's PyTorch-named layers:

    Conv2d(1, 32, 3, padding=1) - BatchNorm2d - ReLU - Conv2d(32, 64, 3, padding=1) -
    BatchNorm2d - ReLU - MaxPool2d(2) - Flatten - Linear(64 * 4 * 4, 10)

The images are (N, 1, 8, 8), standardised with the training set's mean and standard deviation;
the train/test split is ad.datasets.digits()'s, the one train_mlp_digits.py uses. The training
step runs under ad.compile (examples/_common.py). Batch normalisation is in training mode for
the epochs (batch statistics; the running statistics move towards them) and in evaluation mode
(model.eval(): the running statistics) to measure accuracy. The checkpoint written after every
epoch (ad.save: one atomic .npz) holds the model's state dict, BatchNorm's running statistics
and batch counters included, the optimizer and schedule states, the epoch and step counters,
the state of the Generator that shuffles the minibatches and the history, so a resumed run
ends with exactly the same parameters and buffers as an uninterrupted one.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (accuracy, ad, checkpoint_options, digits, parser,  # noqa: E402
                     train_resumable)

# what must match between a checkpoint and the command line for --resume to make sense
CONFIG_KEYS = ("channels", "epochs", "batch_size", "lr", "weight_decay", "seed")


def images():
    """((x_train, y_train), (x_test, y_test)): the digits as (N, 1, 8, 8) float32 images,
    standardised with the training set's pixel mean and standard deviation."""
    (x_train, y_train), (x_test, y_test) = digits()
    mean, std = x_train.mean(), x_train.std()

    def prepare(x):
        return ((x - mean) / std).reshape(-1, 1, 8, 8).astype(np.float32)
    return (prepare(x_train), y_train), (prepare(x_test), y_test)


def build(config):
    c1, c2 = config["channels"]
    init = np.random.default_rng(config["seed"])    # advanced layer by layer
    nn = ad.nn
    # no convolution bias: the batch norm right after it subtracts any constant per channel
    model = nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, bias=False, seed=init), nn.BatchNorm2d(c1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1, bias=False, seed=init), nn.BatchNorm2d(c2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 4 * 4, 10, seed=init))
    optimizer = ad.optim.AdamW(model.parameters(), lr=config["lr"],
                               weight_decay=config["weight_decay"])
    schedule = ad.optim.CosineAnnealingLR(optimizer, T_max=config["epochs"],
                                          eta_min=config["lr"] * 1e-3)
    return model, optimizer, schedule


def describe(model):
    n_params = sum(int(np.prod(q.shape)) for q in model.parameters())
    return f"({n_params} parameters) {model!r}"


def eval_accuracy(model, x, y):
    """Accuracy with batch norm in evaluation mode (running statistics); back to training."""
    model.eval()
    try:
        return accuracy(model, x, y)
    finally:
        model.train()


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12, help="total epochs (sets the schedule)")
    p.add_argument("--channels", type=int, nargs=2, default=[32, 64],
                   help="channels of the two convolutions")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    checkpoint_options(p, "cnn_digits")
    args = p.parse_args(argv)
    config = {"channels": list(args.channels), "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr,
              "weight_decay": args.weight_decay, "seed": args.seed}
    return train_resumable(args, "cnn_digits", config, CONFIG_KEYS, build, images(),
                           evaluate=eval_accuracy, describe=describe)


if __name__ == "__main__":
    main()
