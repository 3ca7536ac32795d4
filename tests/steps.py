"""The steps of the model-based tests, drawn by weight among those the model's state allows.

One drawing rule rather than a Hypothesis rule per step: the steps that move a life on come often enough for
whole lives in few steps (a rule per step, drawn alike, would leave some out of each example), and a step
that cannot go ahead in the model's state (nothing to relocate yet) is not drawn at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st


class Steps:
    """A model's steps: ``@steps(weight, when, **parameters)`` registers a method of the model as a step,
    drawn by :meth:`draw` among the steps ``when`` allows (the model as argument), ``weight`` times as likely
    as a step of weight 1, its ``parameters`` drawn from their strategies."""

    def __init__(self) -> None:
        self.registered: dict[str, tuple[int, Callable[[Any], bool], dict[str, st.SearchStrategy]]] = {}

    def __call__(self, weight: int, when: Callable[[Any], bool] = lambda model: True,
                 **parameters: st.SearchStrategy):
        def register(method):
            self.registered[method.__name__] = (weight, when, parameters)
            return method
        return register

    def draw(self, model: Any, data: Any) -> None:
        """One step of ``model``, drawn with ``data`` (``st.data()``), with its parameters, and taken."""
        name = data.draw(st.sampled_from([n for n, (weight, when, _) in self.registered.items() if when(model)
                                          for _ in range(weight)]), label="step")
        getattr(model, name)(**{k: data.draw(v, label=k) for k, v in self.registered[name][2].items()})
