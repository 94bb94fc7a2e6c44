"""`RouterWrapper`: the one base of routers that wrap another (abstention, shortlist, ...)."""

from __future__ import annotations

from typing import Any

from task_router._catalog import TaskCatalog
from task_router._decision import RouteDecision
from task_router._router_input import RoutingInput
from task_router.routers._base import Prediction, Router


class RouterWrapper(Router):
    """A router that decides through ``router``: decisions keep the wrapped router's kind and model label, and
    every capability of the wrapped router (``prefill``, ``warm``, ``reranker``, ...) is reachable on the wrapper,
    however deep the wrapping, so that the graph and the CLI never need to unwrap.

    Subclasses implement :meth:`plan`, usually as ``prediction = yield from self.router.plan(routing, config)``
    on a changed input, then changing the prediction: the wrapped router's model calls then stay async under
    ``ainvoke`` (:mod:`task_router.routers._plans`).

    Example:
        >>> from task_router.routers._base import Prediction
        >>> class Always(Router):
        ...     kind = "always"
        ...     def predict(self, routing, config):
        ...         return Prediction("recap")
        ...     def prefill(self, input, config=None):
        ...         return 0
        >>> class Same(RouterWrapper):
        ...     def plan(self, routing, config):
        ...         return (yield from self.router.plan(routing, config))
        >>> wrapped = Same(Always())
        >>> wrapped.kind, callable(getattr(wrapped, "prefill", None))
        ('always', True)
    """

    def __init__(self, router: Router, *, catalog: TaskCatalog | None = None) -> None:
        super().__init__(catalog=catalog or router.catalog, model_label=router.model_label)
        self.router = router
        # The wrapper's decision runs the wrapped router's predict within one time-out: the wrapped router's.
        self.timeout_s = router.timeout_s

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.router.kind

    @property
    def decides_in_place(self) -> bool:  # type: ignore[override]
        return self.router.decides_in_place

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        self.router.warm(catalog or self.catalog)

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        return self.router.finish(routing, prediction, latency_ms)  # the wrapped kind's own decision rules

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the wrapper itself lacks: forward the wrapped router's capabilities.
        if name == "router" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.router, name)
