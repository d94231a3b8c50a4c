"""GloVe word vectors (Pennington et al. 2014) trained with pyad on Python's own documentation.

    python examples/glove.py                    # help() pages + standard-library docstrings
    python examples/glove.py --corpus topics    # only the help() pages (smaller, faster)

GloVe fits word vectors w_i, context vectors w~_j and biases b_i, b~_j to the logarithm of a
word co-occurrence matrix X by weighted least squares:

    J = sum over X_ij > 0 of  f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
    f(x) = min(1, (x / x_max)^alpha),  alpha = 3/4, x_max = 100,

so that frequent pairs count more, but not without limit, and pairs never seen count not at
all. The corpus ships with Python, no download: the pages that help('if'), help('for') and so
on print (pydoc_data.topics) and the docstrings of the standard library's modules, classes and
functions, read from their source files with ast (nothing is imported). The vocabulary is the
most frequent few thousand words; X_ij adds 1/d for every occurrence of word j at distance
d <= window from word i inside one document. Training runs Adam on minibatches of the non-zero
entries of X, with ad.value_and_grad of the batch loss; the embedding of a word is w_i + w~_i.
The script prints the loss per epoch and the nearest neighbours (cosine similarity) of a few
words, and plots the loss curve and a 2-D PCA projection of chosen word vectors.
"""
import ast
import collections
import os
import re
import sys
import sysconfig

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, log, parser, progress, pyplot, save_figure  # noqa: E402

TOKEN = re.compile(r"[a-z]+")
QUERY_WORDS = ("true", "dictionary", "read", "encode", "error", "server", "start", "year",
               "left")
# words of the PCA panel, in groups that a reader expects to see together
PCA_GROUPS = {
    "types": ("int", "float", "str", "bytes", "list", "tuple", "dict", "set"),
    "I/O": ("read", "write", "open", "close", "file", "socket", "stream"),
    "numbers": ("one", "two", "three", "four", "zero"),
    "errors": ("error", "exception", "raise", "raised", "warning"),
}
# standard-library folders that are not the library's own documentation
SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__",
             "lib2to3", "idlelib", "turtledemo", "ensurepip", "pydoc_data"}


def help_topics():
    """The help() pages that ship with CPython (pydoc_data), one document each; [] if absent."""
    try:
        from pydoc_data.topics import topics
    except ImportError:               # some Linux distributions split pydoc_data out
        return []
    return [topics[k] for k in sorted(topics)]


def stdlib_docstrings(max_files=None):
    """Docstrings of every module, class and function in the standard library's .py files
    (found by parsing the sources, in a fixed order), one document each."""
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        paths += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    docs = []
    for path in paths[:max_files]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    docs.append(doc)
    return docs


def load_corpus(which, max_files=None):
    docs = []
    if which in ("topics", "both"):
        topics = help_topics()
        if not topics and which == "topics":
            raise SystemExit("this Python lacks the pydoc_data package (help() pages); "
                             "run with --corpus docstrings")
        docs += topics
    if which in ("docstrings", "both"):
        docs += stdlib_docstrings(max_files)
    return [TOKEN.findall(d.lower()) for d in docs]


def build_vocabulary(token_lists, size, min_count):
    """The `size` most frequent words seen at least min_count times (ties by spelling)."""
    counts = collections.Counter(w for tokens in token_lists for w in tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, c in ranked[:size] if c >= min_count], counts


def cooccurrence(token_lists, index, window):
    """The non-zero entries (i, j, X_ij) of the symmetric co-occurrence matrix: word j at
    distance d <= window from word i in the same document adds 1/d. Out-of-vocabulary words
    are dropped before the windows are taken (as GloVe's own cooccur tool does)."""
    ids = [np.array([index[w] for w in tokens if w in index], np.int64) for tokens in token_lists]
    doc = np.concatenate([np.full(len(a), k) for k, a in enumerate(ids)])
    ids = np.concatenate(ids)
    v = len(index)
    x = np.zeros(v * v)
    for d in range(1, window + 1):
        same = doc[:-d] == doc[d:]                 # windows never cross a document boundary
        left, right = ids[:-d][same], ids[d:][same]
        x += np.bincount(left * v + right, minlength=v * v) / d
        x += np.bincount(right * v + left, minlength=v * v) / d
    flat = np.flatnonzero(x)
    return flat // v, flat % v, x[flat], len(ids)


def weighting(x, x_max, alpha):
    """f(x) = min(1, (x / x_max)^alpha): GloVe's weight of a co-occurrence count."""
    return np.minimum(1.0, (x / x_max) ** alpha)


def batch_loss(params, i, j, log_x, f_x):
    """Mean over the batch of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 (J / entries)."""
    r = (ad.sum(params["w"][i] * params["w_ctx"][j], axis=1) + params["b"][i]
         + params["b_ctx"][j] - log_x)
    return ad.mean(f_x * r * r)


def objective(params, i, j, log_x, f_x, chunk=1 << 16):
    """J / number of entries over all the non-zero entries (numpy, in chunks)."""
    total = 0.0
    for s in range(0, len(i), chunk):
        a, b = i[s:s + chunk], j[s:s + chunk]
        r = (np.einsum("nd,nd->n", params["w"][a], params["w_ctx"][b]) + params["b"][a]
             + params["b_ctx"][b] - log_x[s:s + chunk])
        total += float(np.dot(f_x[s:s + chunk], r * r))
    return total / len(i)


def neighbours(vectors, vocab, words, k=5):
    """The k words whose vectors have the largest cosine similarity with each word's."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: n for n, w in enumerate(vocab)}
    out = {}
    for w in words:
        if w in index:
            sims = unit @ unit[index[w]]
            sims[index[w]] = -np.inf
            out[w] = [(vocab[n], float(sims[n])) for n in np.argsort(-sims)[:k]]
    return out


def place_labels(ax, points, labels, colors, fontsize=10):
    """Write each label next to its point, on the side (of eight, near or farther) where it
    overlaps the fewest labels already placed and points: word clouds are crowded."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    marks = [to_px(p) for p in points]
    placed = []
    near = [(5, 3, "left", "bottom"), (5, -3, "left", "top"), (-5, 3, "right", "bottom"),
            (-5, -3, "right", "top"), (0, 6, "center", "bottom"), (0, -6, "center", "top"),
            (8, 0, "left", "center"), (-8, 0, "right", "center")]
    sides = near + [(2 * dx, 2 * dy, ha, va) for dx, dy, ha, va in near]
    for point, label, color in zip(points, labels, colors):
        best = None
        for dx, dy, ha, va in sides:
            text = ax.annotate(label, point, xytext=(dx, dy), textcoords="offset points",
                               ha=ha, va=va, fontsize=fontsize, color=color)
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            cost = 3 * sum(box.overlaps(other) for other in placed) + sum(
                box.x0 - 2 < mx < box.x1 + 2 and box.y0 - 2 < my < box.y1 + 2
                for mx, my in marks)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost == 0:
                break
        placed.append(best[2])


def plot(history, vectors, vocab, args, out):
    plt = pyplot()
    fig, (ax_loss, ax_pca) = plt.subplots(1, 2, figsize=(13, 5.5),
                                          gridspec_kw={"width_ratios": [1, 1.35]})
    ax_loss.plot(np.arange(len(history)), history, "o-", ms=4)
    ax_loss.set(xlabel="epoch", ylabel="J / non-zero entries", yscale="log",
                title="GloVe weighted least-squares loss")
    ax_loss.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax_loss.grid(alpha=0.3, which="both")

    index = {w: n for n, w in enumerate(vocab)}
    groups = {g: [w for w in ws if w in index] for g, ws in PCA_GROUPS.items()}
    groups = {g: ws for g, ws in groups.items() if ws}
    words = [w for ws in groups.values() for w in ws]
    if len(words) >= 3:
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        sel = unit[[index[w] for w in words]]
        sel = sel - sel.mean(axis=0)
        _, s, vt = np.linalg.svd(sel, full_matrices=False)
        xy = sel @ vt[:2].T
        share = s[:2] ** 2 / np.sum(s ** 2)
        colors = []
        for color, (group, ws) in zip(("C0", "C1", "C2", "C3", "C4", "C5"), groups.items()):
            pts = xy[len(colors):len(colors) + len(ws)]
            ax_pca.scatter(pts[:, 0], pts[:, 1], s=30, color=color, label=group)
            colors += [color] * len(ws)
        ax_pca.set(xlabel=f"principal component 1 ({share[0]:.0%} of the variance)",
                   ylabel=f"principal component 2 ({share[1]:.0%})",
                   title="PCA of selected word vectors (w + w~, unit length)")
        ax_pca.margins(0.15)
        ax_pca.legend(loc="best", fontsize=9)
        ax_pca.grid(alpha=0.3)
    fig.suptitle(f"GloVe on Python's documentation: vocabulary {len(vocab)}, dimension "
                 f"{args.dim}, window {args.window}, x_max {args.x_max:g}, "
                 f"alpha {args.alpha:g}", fontsize=11)
    fig.tight_layout()
    if len(words) >= 3:
        place_labels(ax_pca, xy, words, colors)
    return save_figure(fig, out, "glove.png")


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--corpus", default="both", choices=["both", "topics", "docstrings"],
                   help="help() pages, standard-library docstrings, or both")
    p.add_argument("--vocab", type=int, default=3000, help="vocabulary size")
    p.add_argument("--min-count", type=int, default=5, help="rarer words are left out")
    p.add_argument("--window", type=int, default=10, help="context words on each side")
    p.add_argument("--dim", type=int, default=50, help="vector size")
    p.add_argument("--x-max", type=float, default=100.0, help="f(x) = 1 from x_max on")
    p.add_argument("--alpha", type=float, default=0.75, help="exponent of f")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=8192, help="non-zero entries per step")
    p.add_argument("--lr", type=float, default=0.03, help="Adam learning rate")
    p.add_argument("--max-files", type=int, default=None,
                   help="read only the first N standard-library files")
    p.add_argument("--fast", action="store_true", help="help() pages only, a small vocabulary "
                   "and few epochs (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.corpus, args.vocab, args.dim, args.epochs = "topics", 600, 16, 4

    documents = load_corpus(args.corpus, args.max_files)
    vocab, counts = build_vocabulary(documents, args.vocab, args.min_count)
    index = {w: n for n, w in enumerate(vocab)}
    i, j, x, n_tokens = cooccurrence(documents, index, args.window)
    log(f"corpus ({args.corpus}): {len(documents)} documents, {sum(map(len, documents))} "
        f"words, {len(counts)} distinct; vocabulary of the {len(vocab)} most frequent covers "
        f"{n_tokens / sum(map(len, documents)):.1%} of the text")
    log(f"co-occurrence matrix {len(vocab)} x {len(vocab)}: {len(x)} non-zero entries "
        f"({len(x) / len(vocab) ** 2:.1%}), largest X_ij {x.max():.0f}, "
        f"{np.mean(x >= args.x_max):.2%} at or above x_max = {args.x_max:g}")

    dtype = np.float32
    log_x, f_x = np.log(x).astype(dtype), weighting(x, args.x_max, args.alpha).astype(dtype)
    rng = np.random.default_rng(args.seed)
    v, d = len(vocab), args.dim
    # GloVe's initialisation: uniform in [-0.5, 0.5] / dim, biases likewise
    tensors = {name: ad.tensor(((rng.random(shape) - 0.5) / d).astype(dtype),
                               requires_grad=True)
               for name, shape in (("w", (v, d)), ("w_ctx", (v, d)), ("b", (v,)),
                                   ("b_ctx", (v,)))}
    optimizer = ad.optim.Adam(tensors.values(), lr=args.lr)
    schedule = ad.optim.CosineAnnealingLR(optimizer, T_max=args.epochs, eta_min=args.lr * 0.01)
    value_and_grad = ad.value_and_grad(batch_loss)
    params = {name: t.data for name, t in tensors.items()}      # updated in place by Adam

    history = [objective(params, i, j, log_x, f_x)]
    log(f"epoch   0/{args.epochs}  J/entries {history[0]:.4f}")
    for epoch in progress(range(1, args.epochs + 1), desc="epochs"):
        order = rng.permutation(len(x))
        running = 0.0
        for s in range(0, len(order), args.batch_size):
            b = order[s:s + args.batch_size]
            loss, grads = value_and_grad(params, i[b], j[b], log_x[b], f_x[b])
            for name, t in tensors.items():
                t.grad = grads[name]
            optimizer.step()
            running += float(loss) * len(b)
        schedule.step()
        history.append(objective(params, i, j, log_x, f_x))
        log(f"epoch {epoch:3d}/{args.epochs}  J/entries {history[-1]:.4f}  "
            f"(running mean over the epoch's batches {running / len(order):.4f})")

    vectors = params["w"] + params["w_ctx"]
    log("nearest neighbours (cosine similarity of w + w~):")
    near = neighbours(vectors, vocab, QUERY_WORDS)
    width = max(map(len, near), default=0)
    for w, ns in near.items():
        log(f"  {w:>{width}}: " + ", ".join(f"{n} {s:.2f}" for n, s in ns))
    png = plot(history, vectors, vocab, args, args.out)
    return {"history": history, "neighbours": near, "vocab": vocab, "vectors": vectors,
            "png": png}


if __name__ == "__main__":
    main()
