"""Training: layers (nn), initialisers (init), losses, optimizers (optim), Hessian-free
optimisation, data loading, bundled datasets and checkpoints (serialize: save/load)."""
