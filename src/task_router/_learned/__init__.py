"""The ``learned`` router (kind ``learned``): LoRA-tuned all-MiniLM-L6-v2 encoders that score the catalogue's tasks.

Routing reads a trained model folder and needs nothing else:

- :mod:`~task_router._learned.model`: what a model folder holds (``learned.json``: :class:`LearnedConfig`,
  the adapters' sub-folders), loading a folder (the shipped one is ``builtin/``) and scoring texts with it;
- :mod:`~task_router._learned.texts`: the query and candidate texts, the same in training and routing;
- :mod:`~task_router._learned.router`: the Router kind ``learned`` (:class:`~task_router.routers.LearnedRouter`).

Training (``task-router train --router learned``) is :mod:`task_router._learned.training`; it imports the routing
modules, never the other way round, so that routing loads no trainer (tests/unit_tests/test_learned_package.py).
"""
