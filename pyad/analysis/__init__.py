"""Analysis of training dynamics: curvature spectra and estimators (curvature.py, which also
gathers the names users reach as ``ad.curvature.X``), quadratic dynamics (dynamics.py),
implicit differentiation (implicit.py) and unrolled optimisation (unrolled.py)."""
