"""bench/run.py's bookkeeping: rounds that pair up, ratios within a round, alternating order."""
import types

import pytest

from bench import run


def _result(median):
    return {"median": median, "iqr": median / 10, "min": median, "inner": 1, "repeat": 3}


MOD = types.SimpleNamespace(BASELINE="floor", REFERENCE="numpy", UNIT="us", PER_CALL=1)


def test_ratio_pairs_each_round_with_the_same_round_of_the_other_framework():
    # A slow phase of the host (2x) hits pyad alone in round 2 and both in round 3: within
    # rounds 1 and 3 pyad takes 1.05x the floor, but its median round is a slow one.
    pyad = [{"M": _result(t)} for t in (105.0, 210.0, 210.0)]
    floor = [{"M": _result(t)} for t in (100.0, 100.0, 200.0)]
    rows = {"pyad": run.combine(pyad), "floor": run.combine(floor)}
    assert rows["pyad"]["M"]["median"] / rows["floor"]["M"]["median"] == 2.1
    run.add_ratios(MOD, rows)
    assert rows["pyad"]["M"]["vs"] == {"floor": pytest.approx(1.05)}
    assert rows["floor"]["M"]["vs"] == {"floor": 1.0}
    text = run.table(MOD, "mlp_step", rows, rounds=3)
    assert "median of the rounds' ratios" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("M") and "pyad" in ln)
    assert line.split()[-2:] == ["1.05", "-"]


def test_a_failed_round_drops_out_of_the_pairs_and_the_medians():
    pyad = run.combine([{"M": _result(110.0)}, None, {"M": _result(330.0)}])
    floor = run.combine([{"M": _result(100.0)}, {"M": _result(1000.0)}, {"M": _result(300.0)}])
    assert pyad["M"]["rounds"] == [110.0, None, 330.0]
    assert pyad["M"]["median"] == 220.0
    assert run.ratio(pyad["M"], floor["M"]) == pytest.approx(1.1)


def test_one_round_divides_the_medians():
    a, b = run.combine([{"S": _result(3.0)}]), run.combine([{"S": _result(2.0)}])
    assert run.ratio(a["S"], b["S"]) == 1.5


def test_rounds_alternate_their_order():
    fws = ["pyad", "jax-jit", "floor"]
    assert [run.order(fws, k) for k in range(3)] == [fws, fws[::-1], fws]


def test_paired_blocks_line_up():
    from bench import paired
    blocks = paired.compare("S", seconds=0.3, block=0.03)
    assert set(blocks) == {"floor", "compiled", "eager"}
    n = len(blocks["floor"])
    assert n >= 1 and all(len(b) == n for b in blocks.values())
    assert all(0 < t < 1 for b in blocks.values() for t in b)     # seconds per step
