"""How a row's rules lift over a batch axis (its batching rule, named by the row itself:
defprim(..., lift=(kind, shift))): the three kinds of lifting and the parameter shifters.

ELEMENTWISE rows see every array broadcast to the batched output; ALIGNED rows (matmul)
see the batch as one more leading axis of each input; LEADING rows (reductions, reshapes,
indexing) see it as a new axis 0 and shift the parameters that name axes or shapes past it.
pyad.ops.batching runs the lifted rules.
"""


ELEMENTWISE, ALIGNED, LEADING = "elementwise", "aligned", "leading"


def same_params(params, batch, args):
    return params


def shift_axes(params, batch, args):          # (axes tuple, keepdims)
    axes, keepdims = params
    return (tuple(a + 1 for a in axes), keepdims)


def shift_first(params, batch, args):         # (axis, *rest)
    return (params[0] + 1,) + tuple(params[1:])


def prefix_shape(params, batch, args):        # (shape, *rest)
    return ((batch,) + tuple(params[0]),) + tuple(params[1:])


def prefix_key(key):
    return (slice(None),) + (key if isinstance(key, tuple) else (key,))


def prefix_index(params, batch, args):        # (key,)
    return (prefix_key(params[0]),)


def transpose_axes(params, batch, args):
    axes = params[0]
    if axes is None:
        axes = tuple(range(args[0].ndim - 1, -1, -1))
    return ((0,) + tuple(a + 1 for a in axes),)


def sum_to_shape(params, batch, args):
    # the target keeps the batch axis and the input's rank; the result is reshaped after
    shape = tuple(params[0])
    return ((batch,) + (1,) * (args[0].ndim - len(shape)) + shape,)


def scatter_params(params, batch, args):
    shape, key = params
    return ((batch,) + tuple(shape), prefix_key(key))


# the common lifts, by what the row is
ELEMENTWISE_ROW = (ELEMENTWISE, same_params)
