"""A Bengio-style neural language model (2003) trained on Python's own help() texts.

The previous K words are looked up in an embedding table (nn.Embedding), concatenated, passed
through a tanh hidden layer and a softmax over the vocabulary that predicts the next word;
the loss is softmax_cross_entropy. The text ships with Python: pydoc_data.topics, the pages
of the language reference that help('assignment'), help('if') and so on print (about 75,000
words). Each page is split 90/10 into training and validation text. The script prints the
perplexity before and after training and the nearest neighbours (cosine similarity) of a few
words in the learned embedding space, and plots the perplexity curves.
"""
import collections
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, log, parser, predict, progress, pyplot, save_figure  # noqa: E402

UNK, BOS = "<unk>", "<s>"
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+|[.,;:?!()]")
PROBE_WORDS = ("class", "function", "list", "value", "if", "returns", "two", "must")


def load_documents():
    """The help() topics that ship with CPython (pydoc_data), in a fixed order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:               # some Linux distributions split pydoc_data out
        raise SystemExit("this example reads Python's help() topics (the pydoc_data package "
                         "of the standard library), which this Python lacks") from None
    return [topics[k] for k in sorted(topics)]


def tokenize(text):
    return TOKEN.findall(text.lower())


def build_vocabulary(token_lists, size):
    """The size - 2 most frequent training words plus <unk> (id 0) and <s> (id 1)."""
    counts = collections.Counter(w for tokens in token_lists for w in tokens)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size - 2]]
    return [UNK, BOS] + words


def ngrams(token_lists, index, context):
    """(contexts (N, K) int64, next words (N,) int64) from each document, padded with <s>."""
    xs, ys = [], []
    for tokens in token_lists:
        ids = np.array([index[BOS]] * context + [index.get(w, 0) for w in tokens], np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(ids, context + 1)
        xs.append(windows[:, :context])
        ys.append(windows[:, context])
    return np.concatenate(xs), np.concatenate(ys)


class NeuralLM(ad.nn.Module):
    """logits = W_out tanh(W_h [e(w_t-K); ...; e(w_t-1)] + b_h) + b_out."""

    def __init__(self, vocab_size, context, dim, hidden, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.context, self.dim = context, dim
        self.embedding = ad.nn.Embedding(vocab_size, dim, seed=rng)
        self.embedding.weight.data *= 0.1             # N(0, 0.01), as in Bengio et al.
        self.hidden = ad.nn.Linear(context * dim, hidden, init="xavier", seed=rng)
        self.output = ad.nn.Linear(hidden, vocab_size, init="xavier", seed=rng)

    def forward(self, ids):
        e = self.embedding(ids)                                  # (N, K, dim)
        h = ad.tanh(self.hidden(ad.reshape(e, (len(ids), self.context * self.dim))))
        return self.output(h)


def perplexity(model, x, y):
    """exp(mean cross-entropy) of the next-word predictions, without recording anything."""
    logits = predict(model, x)
    with ad.no_grad():
        return float(np.exp(ad.losses.softmax_cross_entropy(logits, y).item()))


def neighbours(model, vocab, words, k=5):
    """The k words whose embeddings have the largest cosine similarity with each word's."""
    emb = model.embedding.weight.data
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(vocab)}
    out = {}
    for w in words:
        if w not in index:
            continue
        sims = unit @ unit[index[w]]
        sims[[index[w], index[UNK], index[BOS]]] = -np.inf
        out[w] = [(vocab[j], float(sims[j])) for j in np.argsort(-sims)[:k]]
    return out


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--context", type=int, default=3, help="K: previous words seen")
    p.add_argument("--vocab", type=int, default=1500, help="vocabulary size with <unk>, <s>")
    p.add_argument("--dim", type=int, default=48, help="embedding size")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--max-docs", type=int, default=None, help="use only the first N pages")
    p.add_argument("--eval-every", type=int, default=75, help="steps between evaluations")
    args = p.parse_args(argv)

    documents = [tokenize(d) for d in load_documents()[:args.max_docs]]
    split = [int(0.9 * len(d)) for d in documents]
    train_docs = [d[:s] for d, s in zip(documents, split)]
    valid_docs = [d[s:] for d, s in zip(documents, split)]
    vocab = build_vocabulary(train_docs, args.vocab)
    index = {w: i for i, w in enumerate(vocab)}
    x_train, y_train = ngrams(train_docs, index, args.context)
    x_valid, y_valid = ngrams(valid_docs, index, args.context)
    log(f"{len(documents)} help() pages: {len(y_train)} training and {len(y_valid)} validation "
        f"words, vocabulary {len(vocab)} ({np.mean(y_train == 0):.1%} of training words <unk>)")

    model = NeuralLM(len(vocab), args.context, args.dim, args.hidden, seed=args.seed)
    optimizer = ad.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = -(-len(y_train) // args.batch_size)
    schedule = ad.optim.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch,
                                          eta_min=args.lr * 1e-2)    # stepped every step
    rng = np.random.default_rng(args.seed)
    # training perplexity on a fixed subset the size of the validation set (cheaper)
    subset = np.random.default_rng(args.seed + 1).choice(len(y_train), len(y_valid),
                                                         replace=False)
    x_tsub, y_tsub = x_train[subset], y_train[subset]

    history = {"step": [0], "train": [perplexity(model, x_tsub, y_tsub)],
               "valid": [perplexity(model, x_valid, y_valid)]}
    before = (history["train"][0], history["valid"][0])
    log(f"before training: train perplexity {before[0]:.1f}  validation perplexity "
        f"{before[1]:.1f}  (uniform guess: {len(vocab)})")
    step = 0
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for xb, yb in progress(ad.data.batches(x_train, y_train, batch_size=args.batch_size,
                                               seed=rng),
                               total=steps_per_epoch, desc=f"epoch {epoch}"):
            loss = ad.losses.softmax_cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step + 1 < args.epochs * steps_per_epoch:
                schedule.step()
            step += 1
            total += loss.item() * len(yb)
            if step % args.eval_every == 0 or step == args.epochs * steps_per_epoch:
                history["step"].append(step)
                history["train"].append(perplexity(model, x_tsub, y_tsub))
                history["valid"].append(perplexity(model, x_valid, y_valid))
        log(f"epoch {epoch}/{args.epochs}  running train perplexity "
            f"{np.exp(total / len(y_train)):.1f}  train {history['train'][-1]:.1f}  "
            f"validation {history['valid'][-1]:.1f}")
    after = (history["train"][-1], history["valid"][-1])
    log(f"after training:  train perplexity {after[0]:.1f}  validation perplexity "
        f"{after[1]:.1f}  (best validation {min(history['valid']):.1f})")

    log("nearest neighbours in the embedding space (cosine similarity):")
    near = neighbours(model, vocab, PROBE_WORDS)
    for w, ns in near.items():
        log(f"  {w:>9}: " + ", ".join(f"{n} {s:.2f}" for n, s in ns))

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    epochs = np.array(history["step"]) / steps_per_epoch
    ax.plot(epochs, history["train"], "o-", ms=3, label="train (fixed subset)")
    ax.plot(epochs, history["valid"], "s-", ms=3, label="validation")
    ax.set(yscale="log", xlabel="epoch", ylabel="perplexity",
           title=f"neural LM on Python's help() pages: K={args.context}, vocab {len(vocab)}, "
                 f"dim {args.dim}, hidden {args.hidden}")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, args.out, "language_model_perplexity.png")
    return {"before": before, "after": after, "history": history, "neighbours": near}


if __name__ == "__main__":
    main()
