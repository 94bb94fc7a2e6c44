"""Training of the ``learned`` router's encoders (``task-router train --router learned``): examples, losses, the
training config, the trainer run and the model card. Routing needs none of it: :mod:`task_router._learned` holds
what a trained model folder is read with."""
