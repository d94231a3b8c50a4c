"""Backends: each exposes the same KERNELS mapping from primitive name to forward kernel."""
