"""Library output a load or a training run should not print: transformers' weight-loading bars and the deprecation
notice PEFT triggers in transformers on every adapter it wraps or loads (nothing for a user to act on)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_loading_bars() -> Iterator[None]:
    """transformers' "Loading weights" bars off while a model loads; turned back on after it if they were on."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@contextmanager
def peft_quietly() -> Iterator[None]:
    """PEFT asks transformers ``is_gradient_checkpointing``, deprecated in transformers 5 (a FutureWarning each time
    an adapter is wrapped or loaded): that one notice is dropped, inside this block only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield
