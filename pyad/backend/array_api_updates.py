"""Optimizer updates (SGD/momentum/Nesterov, RMSprop, Adam/AdamW/AMSGrad) in Array API ops,
in place like the CPU's fused kernels."""
import math

from pyad.backend.namespaces import namespace_of as _xp, numpy_dtype


def _scalars(p, *values):
    """The hyperparameters rounded to p's dtype one by one, as the C++ loops hold them (so
    float32's 1 - beta is the float32 difference of 1 and float32(beta)), as Python floats:
    the standard takes no numpy scalars."""
    t = numpy_dtype(p.dtype, _xp(p)).type
    return [float(t(v)) for v in values]


def sgd_update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """torch.optim.SGD's step in place: d = g + wd p; buf = d (first step) or
    mu buf + (1 - dampening) d; d = d + mu buf (nesterov) or buf; p -= lr d. buf None: no
    momentum."""
    lr, mu, damp, wd = _scalars(param, lr, momentum, dampening, weight_decay)
    damp = _scalars(param, 1.0 - damp)[0]
    d = grad + wd * param
    if buf is not None:
        m = d if first_step else mu * buf + damp * d
        buf[...] = m
        d = d + mu * m if nesterov else m
    param[...] = param - lr * d


def adam_update(param, grad, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled):
    """torch.optim.Adam (decoupled False) or AdamW (True) step in place: m += (1 - b1)(g - m);
    v = b2 v + (1 - b2) g^2; p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps) with the bias
    corrections bc = 1 - beta**step. AdamW first decays p *= 1 - lr wd, Adam adds wd p to g.
    vmax (AMSGrad; None: off) keeps the running max of v and steps with it."""
    xp = _xp(param)
    bc1 = 1.0 - beta1 ** step
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    b1, b2, eps_, wd = _scalars(param, beta1, beta2, eps, weight_decay)
    b1c, b2c = _scalars(param, 1.0 - b1, 1.0 - b2)
    step_size, bc2s = _scalars(param, lr / bc1, bc2_sqrt)
    decay = _scalars(param, 1.0 - _scalars(param, lr * weight_decay)[0])[0] if decoupled else 1.0
    g = grad if decoupled else grad + wd * param
    p = param * decay
    m_new = m + b1c * (g - m)
    v_new = b2 * v + b2c * g * g
    m[...] = m_new
    v[...] = v_new
    if vmax is not None:
        v_new = xp.where(vmax > v_new, vmax, v_new)     # a NaN v wins, as in the C++ compare
        vmax[...] = v_new
    param[...] = p - step_size * (m_new / (xp.sqrt(v_new) / bc2s + eps_))


def rmsprop_update(param, grad, square_avg, grad_avg, buf, lr, alpha, eps, weight_decay,
                   momentum):
    """torch.optim.RMSprop's step in place: g += wd p; sq = alpha sq + (1 - alpha) g^2;
    avg = sqrt(sq - ga^2) + eps with ga = alpha ga + (1 - alpha) g (centered, grad_avg not
    None) else sqrt(sq) + eps; buf = mu buf + g / avg, p -= lr buf (momentum, buf not None)
    else p -= lr g / avg."""
    xp = _xp(param)
    lr, a, eps, wd, mu = _scalars(param, lr, alpha, eps, weight_decay, momentum)
    ac = _scalars(param, 1.0 - a)[0]
    g = grad + wd * param
    s = a * square_avg + ac * g * g
    square_avg[...] = s
    if grad_avg is not None:
        c = a * grad_avg + ac * g
        grad_avg[...] = c
        avg = xp.sqrt(s - c * c) + eps
    else:
        avg = xp.sqrt(s) + eps
    if buf is not None:
        b = mu * buf + g / avg
        buf[...] = b
        param[...] = param - lr * b
    else:
        param[...] = param - lr * (g / avg)


UPDATES = {"sgd": sgd_update, "rmsprop": rmsprop_update, "adam": adam_update}
