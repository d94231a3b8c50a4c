"""Optimizer updates (SGD/momentum/Nesterov, RMSprop, Adam/AdamW/AMSGrad) in Array API ops,
in place like the CPU's fused kernels."""

UPDATES = {}
