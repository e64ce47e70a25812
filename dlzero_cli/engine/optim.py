"""Optimizers: update a network's named parameters in place from their gradients.

Each optimizer declares its hyperparameters with their defaults (the constructor's
keyword arguments; learning rates as in the book: 0.01, and 0.001 for Adam); the
config validates against them. State is keyed by parameter
name ("m.0.W"), so a checkpoint is a plain .npz of arrays.

The update rules, for a parameter W with gradient g (after weight decay):

- sgd:       W <- W - lr g
- momentum:  v <- mu v - lr g;  W <- W + v                                (the book's)
- nesterov:  v <- mu v - lr g;  W <- W + mu v - lr g      (Sutskever et al. 2013, PyTorch)
- nesterov_book: v <- mu v - lr g;  W <- W + mu^2 v - (1 + mu) lr g  (the book's code)
- adagrad:   h <- h + g^2;  W <- W - lr g / (sqrt(h) + eps)
- rmsprop:   h <- rho h + (1 - rho) g^2;  W <- W - lr g / (sqrt(h) + eps)
- adam:      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
             W <- W - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)  (Kingma & Ba)
- adamw:     W <- W - lr wd W, then the adam step on g without decay     (Loshchilov & Hutter)

Momentum and Nesterov keep the velocity v in parameter units, as the book does;
PyTorch keeps b = mu b + g in gradient units and steps by lr (g + mu b) for Nesterov
(lr b for momentum). With v = -lr b the two are the same while lr stays constant; when
a schedule changes lr, v still carries earlier steps at their own lr.

`weight_decay` (wd) is L2 regularisation: g <- g + wd W for weights (not biases or
batch norm's scale and shift), which is the gradient of 0.5 wd ||W||^2. For adamw it
is decoupled from the gradient, as above.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from dlzero_cli.engine.registry import Registry

OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")


class Optimizer:
    """Base: keeps the parameters, the learning rate and the weight-decay set."""

    # Arrays the size of each parameter this optimizer keeps once it has stepped: its
    # saved state (`slot`) and its scratch (`work`). Memory estimates read it
    # (config.footprint); a test holds it to what stepping really allocates.
    state_copies: ClassVar[int] = 0

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 0.01,
        weight_decay: float = 0.0,
        decayed: set[str] | None = None,
    ) -> None:
        self.params = params
        self.lr = lr
        self.weight_decay = weight_decay
        # Without a list of names, every parameter called W decays.
        self.decayed = decayed if decayed is not None else {n for n in params if n.endswith(".W")}
        self._state: dict[str, np.ndarray] = {}
        self._scratch: dict[str, np.ndarray] = {}

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Name -> default of every setting a config may give (lr included)."""
        signature = inspect.signature(cls.__init__)
        skip = {"self", "params", "decayed"}
        return {n: p.default for n, p in signature.parameters.items() if n not in skip}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, param in self.params.items():
            grad = grads[name]
            if self.weight_decay and name in self.decayed and self.couples_decay:
                grad = grad + param.dtype.type(self.weight_decay) * param
            self.update(name, param, grad, param.dtype.type)

    couples_decay = True

    def update(self, name: str, param: np.ndarray, grad: np.ndarray, cast) -> None:
        raise NotImplementedError

    def slot(self, key: str, like: np.ndarray) -> np.ndarray:
        """Per-parameter state that checkpoints save (momentum, moments), zeros at first.

        ("Buffers" are the network's saved untrained arrays, batch norm's moments.)
        """
        if key not in self._state:
            self._state[key] = np.zeros_like(like)
        return self._state[key]

    def work(self, name: str, like: np.ndarray) -> np.ndarray:
        """A scratch array per parameter, not saved: updates allocate nothing per step."""
        array = self._scratch.get(name)
        if array is None:
            array = self._scratch[name] = np.empty_like(like)
        return array

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._state.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._state = {k: np.array(v, copy=True) for k, v in state.items()}


@OPTIMIZERS.register("sgd", "W <- W - lr g")
class SGD(Optimizer):
    state_copies = 1  # scratch for lr g

    def update(self, name, param, grad, cast):
        work = self.work(name, param)
        param -= np.multiply(grad, cast(self.lr), out=work)


@OPTIMIZERS.register("momentum", "v <- mu v - lr g; W <- W + v")
class Momentum(Optimizer):
    state_copies = 1  # v (and Nesterov's, which inherit it)

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0, decayed=None):
        super().__init__(params, lr, weight_decay, decayed)
        self.momentum = momentum

    def update(self, name, param, grad, cast):
        v = self.slot(f"v.{name}", param)
        v *= cast(self.momentum)
        v -= cast(self.lr) * grad
        param += v


@OPTIMIZERS.register("nesterov", "Nesterov's accelerated gradient (Sutskever 2013, PyTorch's)")
class Nesterov(Momentum):
    """Momentum's settings and state, with the look-ahead: the step is taken from where
    the velocity is about to carry the weights (W + mu v), so the gradient there counts
    once more. The first step is (1 + mu) lr g: 1.9 lr g for mu 0.9."""

    def update(self, name, param, grad, cast):
        mu, lr = cast(self.momentum), cast(self.lr)
        v = self.slot(f"v.{name}", param)
        v *= mu
        v -= lr * grad
        param += mu * v
        param -= lr * grad


@OPTIMIZERS.register("nesterov_book", "the book's Nesterov variant (first step 2.71 lr g)")
class NesterovBook(Momentum):
    """The update of the book's `Nesterov` class (common/optimizer.py), whose first step
    is (1 + mu + mu^2) lr g (2.71 lr g for mu 0.9): more than Nesterov's (1 + mu) lr g.
    Kept to reproduce the book's chapter 6 comparisons; same state as `nesterov`."""

    def update(self, name, param, grad, cast):
        mu, lr = cast(self.momentum), cast(self.lr)
        v = self.slot(f"v.{name}", param)
        v *= mu
        v -= lr * grad
        param += mu * mu * v
        param -= (1 + mu) * lr * grad


@OPTIMIZERS.register("adagrad", "per-parameter lr shrinking with the sum of squared gradients")
class AdaGrad(Optimizer):
    state_copies = 1  # h

    def __init__(self, params, lr=0.01, eps=1e-7, weight_decay=0.0, decayed=None):
        super().__init__(params, lr, weight_decay, decayed)
        self.eps = eps

    def update(self, name, param, grad, cast):
        h = self.slot(f"h.{name}", param)
        h += grad * grad
        param -= cast(self.lr) * grad / (np.sqrt(h) + cast(self.eps))


@OPTIMIZERS.register("rmsprop", "AdaGrad with a decaying average of squared gradients")
class RMSprop(Optimizer):
    state_copies = 1  # h

    def __init__(self, params, lr=0.01, decay_rate=0.99, eps=1e-7, weight_decay=0.0, decayed=None):
        super().__init__(params, lr, weight_decay, decayed)
        self.decay_rate, self.eps = decay_rate, eps

    def update(self, name, param, grad, cast):
        rho = cast(self.decay_rate)
        h = self.slot(f"h.{name}", param)
        h *= rho
        h += (1 - rho) * grad * grad
        param -= cast(self.lr) * grad / (np.sqrt(h) + cast(self.eps))


@OPTIMIZERS.register("adam", "momentum and RMSprop with bias correction (Kingma & Ba)")
class Adam(Optimizer):
    state_copies = 3  # m, v and scratch (AdamW's too)

    def __init__(
        self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decayed=None
    ):
        super().__init__(params, lr, weight_decay, decayed)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def step(self, grads: dict[str, np.ndarray]) -> None:
        steps = self.slot("t", np.zeros((), dtype=np.int64))
        steps += 1
        super().step(grads)

    def update(self, name, param, grad, cast):
        b1, b2 = cast(self.beta1), cast(self.beta2)
        t = int(self._state["t"])
        m = self.slot(f"m.{name}", param)
        v = self.slot(f"v.{name}", param)
        work = self.work(name, param)
        m *= b1
        m += np.multiply(grad, 1 - b1, out=work)
        v *= b2
        np.multiply(grad, grad, out=work)
        work *= 1 - b2
        v += work
        # lr * m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
        np.divide(v, cast(1 - self.beta2**t), out=work)
        np.sqrt(work, out=work)
        work += cast(self.eps)
        np.divide(m, work, out=work)
        work *= cast(self.lr / (1 - self.beta1**t))
        param -= work


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay (Loshchilov & Hutter)")
class AdamW(Adam):
    couples_decay = False

    def __init__(
        self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decayed=None
    ):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, decayed)

    def update(self, name, param, grad, cast):
        if self.weight_decay and name in self.decayed:
            param *= cast(1 - self.lr * self.weight_decay)
        super().update(name, param, grad, cast)
