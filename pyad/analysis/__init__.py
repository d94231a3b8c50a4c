"""Analysis of training dynamics: curvature spectra and estimators, quadratic dynamics
(curvature.py), implicit differentiation (implicit.py) and unrolled optimisation
(unrolled.py)."""
