"""pyad.planner: chain accumulation costs, the matrix-chain optimum, traced sizes, mode choice."""
import numpy as np
import pytest

import pyad as ad
from pyad.planner import (bracketing_cost, bracketing_string, chain_costs, choose_mode,
                          optimal_bracketing, trace_dims)


def _all_bracketings(i, j):
    """Every full bracketing of J_j ... J_i as nested pairs (leftmost = latest map)."""
    if i == j:
        yield i
        return
    for s in range(i, j):
        for left in _all_bracketings(s + 1, j):
            for right in _all_bracketings(i, s):
                yield (left, right)


def test_hand_computed_three_maps():
    # J1: 3x2, J2: 4x3, J3: 5x4
    c = chain_costs([2, 3, 4, 5])
    assert c["forward"] == 4 * 3 * 2 + 5 * 4 * 2          # J2 J1 then J3 (J2 J1)
    assert c["reverse"] == 5 * 4 * 3 + 5 * 3 * 2          # J3 J2 then (J3 J2) J1
    assert c["optimal"] == min(c["forward"], c["reverse"]) == 64
    assert c["bracketing"] == "(J3 (J2 J1))" and c["best_pure"] == "forward"


def test_single_map_and_scalar_output():
    assert chain_costs([7, 3]) == {"forward": 0, "reverse": 0, "optimal": 0,
                                   "bracketing": "J1", "tree": 1, "best_pure": "forward"}
    # a scalar loss at the end: reverse mode is the cheapest pure mode and optimal
    c = chain_costs([100, 50, 20, 1])
    assert c["reverse"] == 1 * 20 * 50 + 1 * 50 * 100
    assert c["forward"] == 20 * 50 * 100 + 1 * 20 * 100
    assert c["optimal"] == c["reverse"] and c["bracketing"] == "((J3 J2) J1)"


def test_bracketing_cost_and_string():
    dims = [2, 3, 4, 5]
    assert bracketing_string(((3, 2), 1)) == "((J3 J2) J1)"
    assert bracketing_cost(((3, 2), 1), dims)[0] == chain_costs(dims)["reverse"]
    assert bracketing_cost((3, (2, 1)), dims)[0] == chain_costs(dims)["forward"]
    assert bracketing_cost(((3, 2), 1), dims)[1:] == (5, 2)


@pytest.mark.parametrize("seed", range(12))
def test_dp_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    for L in range(1, 8):
        dims = list(rng.integers(1, 40, size=L + 1))
        costs = {b: bracketing_cost(b, dims)[0] for b in _all_bracketings(1, L)}
        cost, tree = optimal_bracketing(dims)
        assert cost == min(costs.values()) == costs[tree]
        c = chain_costs(dims)
        assert c["optimal"] <= min(c["forward"], c["reverse"])
        # the pure modes are two particular bracketings
        fwd_tree, rev_tree = 1, L
        for k in range(2, L + 1):
            fwd_tree = (k, fwd_tree)
        for k in range(L - 1, 0, -1):
            rev_tree = (rev_tree, k)
        assert costs[fwd_tree] == c["forward"] and costs[rev_tree] == c["reverse"]


def test_funky_way_beats_both_pure_modes():
    # a bottleneck in the middle of R^100 -> R^100: accumulate each half towards the narrow
    # layer (reverse on the first half, forward on the second), then one outer product
    dims = [100, 100, 1, 100, 100]
    c = chain_costs(dims)
    assert c["forward"] == c["reverse"] == 100 * (100 * 100 + 100 * 1 + 1 * 100)
    assert c["optimal"] == 3 * 100 * 100
    assert c["bracketing"] == "((J4 J3) (J2 J1))"
    assert c["optimal"] * 30 < min(c["forward"], c["reverse"])


def test_costs_count_real_matrix_products():
    # the counts are what numpy's matmul does: check by multiplying the Jacobians
    rng = np.random.default_rng(0)
    dims = [3, 5, 2, 4]
    J = {k: rng.standard_normal((dims[k], dims[k - 1])) for k in range(1, 4)}
    _, tree = optimal_bracketing(dims)

    def evaluate(t):
        return J[t] if isinstance(t, int) else evaluate(t[0]) @ evaluate(t[1])
    np.testing.assert_allclose(evaluate(tree), J[3] @ J[2] @ J[1], rtol=1e-12)


def test_trace_dims_layers_and_sequential():
    x = np.ones((2, 3))
    layers = [lambda h: h @ np.ones((3, 8)), np.tanh, lambda h: ad.sum(h, axis=1)]
    assert trace_dims(layers, x) == [6, 16, 16, 2]
    net = ad.nn.Sequential(ad.nn.Linear(3, 5, seed=0), ad.nn.Tanh(), ad.nn.Linear(5, 1, seed=1))
    assert trace_dims(net, x) == [6, 10, 10, 2]
    assert trace_dims(lambda h: ad.sum(h), x) == [6, 1]


def test_choose_mode():
    assert choose_mode(3, 10) == "fwd" and choose_mode(10, 3) == "rev"
    assert choose_mode(5, 5) == "fwd"
    # fewer inputs than outputs, but a bottleneck right after the input makes reverse cheaper
    dims = [10, 1, 1000, 20]
    c = chain_costs(dims)
    assert c["reverse"] < c["forward"]
    assert choose_mode(10, 20, dims) == "rev" and choose_mode(10, 20) == "fwd"
    with pytest.raises(ValueError):
        choose_mode(3, 20, dims)


def test_bad_dims():
    for bad in ([], [3], [3, 0, 2]):
        with pytest.raises(ValueError):
            chain_costs(bad)
