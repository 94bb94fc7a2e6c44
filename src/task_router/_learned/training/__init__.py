"""Training of the ``learned`` router's encoders (``task-router train --router learned``).

- :mod:`~task_router._learned.training.config`: the training run's options (:class:`LearnedTrainConfig`, saved as
  the model folder's ``training.json``; what routing reads is :mod:`task_router._learned.model`) and the model
  card (``README.md`` of the model folder);
- :mod:`~task_router._learned.training.examples`: routing examples (query, right answer, wrong ones) from records;
- :mod:`~task_router._learned.training.loss`: the bi-encoder's and the cross-encoder's losses;
- :mod:`~task_router._learned.training.train`: the run (:func:`train_learned`) and ``--recalibrate``;
- :mod:`~task_router._learned.training.calibrate`: the NONE scores and temperature fitted on held-out turns (also
  by ``task-router fit --router learned``), and ``top_k`` chosen on them and on held-out catalogues of 100+ tasks
  (:func:`~task_router._learned.training.calibrate.large_catalogue_records`);
- ``data/off_topic_requests.txt``: the hand-written off-topic requests inserted into training conversations;
- ``data/task_families.txt``: hand-written families of close tasks, never trained on (the large catalogues).

:mod:`task_router.training` re-exports ``LearnedTrainConfig`` and ``train_learned``. This package imports the
routing part (:mod:`task_router._learned`), never the other way round: routing needs none of it.
"""
