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
from _common import ad, checkpoint_options, digits, parser, train_resumable  # noqa: E402

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


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30, help="total epochs (sets the schedule)")
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128], help="hidden sizes")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    checkpoint_options(p, "mlp_digits")
    args = p.parse_args(argv)
    config = {"hidden": list(args.hidden), "activation": args.activation,
              "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "weight_decay": args.weight_decay, "seed": args.seed}
    return train_resumable(args, "mlp_digits", config, CONFIG_KEYS, build, digits())


if __name__ == "__main__":
    main()
