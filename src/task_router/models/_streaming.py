"""Token streaming for local transformers chat models: :class:`LocalChatModel`.

``langchain_huggingface``'s ``ChatHuggingFace`` over a pipeline does stream (``HuggingFacePipeline._stream`` runs the
pipeline with a ``TextIteratorStreamer`` in a thread), but for an interactive chat it falls short: the generation
thread keeps running to ``max_new_tokens`` after the reader stops (Ctrl-C), an error in that thread is only seen as
a 60 s queue timeout, and ``stop`` strings are not honoured (they are looked up as single tokens). This subclass
streams with the same transformers streamer and fixes those three points; it also takes a repetition penalty that
applies to the reply's own tokens only (transformers' ``repetition_penalty`` also penalises every prompt token,
so a small model cannot copy the user's facts into its reply).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_huggingface import ChatHuggingFace

logger = logging.getLogger("task_router")

JOIN_TIMEOUT_S = 30.0  # how long a stopped stream waits for the generation thread's current step to end


class StopText:
    """Cuts a stream of text pieces at the first stop string, never emitting (any part of) the stop string.

    Text that could be the start of a stop string is held back until the next piece tells.

    Example:
        >>> cut = StopText(["\\nUser:"])
        >>> cut.feed("Hello\\nUs"), cut.feed("er: hi")
        (('Hello', False), ('', True))
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit now, whether a stop string was reached: then nothing more should be emitted)."""
        self.pending += text
        found = [index for stop in self.stops if (index := self.pending.find(stop)) >= 0]
        if found:
            out, self.pending = self.pending[: min(found)], ""
            return out, True
        prefixes = (n for stop in self.stops for n in range(1, len(stop)) if self.pending.endswith(stop[:n]))
        held = max(prefixes, default=0)
        cut = len(self.pending) - held
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        """What is still held back (the stream ended without completing a stop string)."""
        out, self.pending = self.pending, ""
        return out


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` up to (not including) the first of ``stops``."""
    found = [index for stop in stops if stop and (index := text.find(stop)) >= 0]
    return text[: min(found)] if found else text


def reply_repetition_penalty(penalty: float) -> Any:
    """A transformers logits processor: ``penalty`` on the tokens the reply has generated so far, not the prompt's.

    One instance per generation: it takes the prompt's length from its first call.
    """
    from transformers import RepetitionPenaltyLogitsProcessor

    class ReplyRepetitionPenalty(RepetitionPenaltyLogitsProcessor):
        prompt_ignore_length: int | None  # the base's attribute: None until the first call sets it

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.prompt_ignore_length is None:
                self.prompt_ignore_length = int(input_ids.shape[-1])
            return super().__call__(input_ids, scores)

    return ReplyRepetitionPenalty(penalty)


def _halt_criteria(halt: threading.Event) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Halt(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Halt()])


class LocalChatModel(ChatHuggingFace):
    """``ChatHuggingFace`` over a local transformers pipeline that streams its reply token by token.

    Besides the pipeline's generation kwargs (``.bind(pipeline_kwargs={...})``), calls accept:

    - ``stop``: strings at which the reply ends (generation halts there; the stop string is not part of the reply),
      as do the pipeline's own ``stop_sequence`` strings;
    - ``reply_repetition_penalty``: a repetition penalty over the reply's own tokens (see the module docstring).

    Streaming (``.stream()``, or ``invoke`` under LangGraph's ``stream_mode="messages"``) runs the generation in a
    daemon thread and reads it through transformers' ``TextIteratorStreamer``; when the reader stops (the
    generator is closed, e.g. after Ctrl-C), the generation halts at its next token.

    Example:
        >>> from task_router.models import load_chat_model
        >>> model = load_chat_model("embedded")  # doctest: +SKIP
        >>> for chunk in model.stream("Write a haiku about routers", stop=["\\n\\n"]):  # doctest: +SKIP
        ...     print(chunk.content, end="", flush=True)
    """

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(the pipeline's kwargs for one call, the stop strings that end the reply)."""
        options = dict(kwargs.get("pipeline_kwargs") or {})
        own = options.get("stop_sequence") or []
        stops = [*(stop or []), *([own] if isinstance(own, str) else own)]
        if stops:
            options["stop_sequence"] = stops  # the pipeline turns them into transformers' stop_strings
        penalty = kwargs.get("reply_repetition_penalty")
        if penalty is not None and penalty != 1.0:
            from transformers import LogitsProcessorList

            options["logits_processor"] = LogitsProcessorList(
                [*(options.get("logits_processor") or []), reply_repetition_penalty(float(penalty))]
            )
        return options, stops

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        stream: bool | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if stream if stream is not None else self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        options, stops = self._options(stop, kwargs)
        prompt = self._to_chat_prompt(messages)
        result = self.llm._generate(prompts=[prompt], run_manager=run_manager, pipeline_kwargs=options)
        generation = result.generations[0][0]
        message = AIMessage(content=cut_at_stop(generation.text, stops))
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=generation.generation_info)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        from transformers import TextIteratorStreamer

        pipe = self.llm.pipeline
        options, stops = self._options(stop, kwargs)
        prompt = self._to_chat_prompt(messages)
        streamer = TextIteratorStreamer(pipe.tokenizer, skip_prompt=True, skip_special_tokens=True)
        halt = threading.Event()
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                pipe(prompt, streamer=streamer, stopping_criteria=_halt_criteria(halt), **options)
            except BaseException as exc:  # handed to the reader, which raises it
                failure.append(exc)
                streamer.end()  # unblocks the reader

        worker = threading.Thread(target=generate, name="task-router-generate", daemon=True)
        worker.start()
        cut = StopText(stops)
        try:
            for piece in streamer:
                text, done = cut.feed(piece)
                if text:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=text))
                if done:
                    break
            else:
                if rest := cut.flush():
                    yield ChatGenerationChunk(message=AIMessageChunk(content=rest))
        finally:  # also when the reader stops early (GeneratorExit): halt the generation at its next token
            halt.set()
            worker.join(JOIN_TIMEOUT_S)
            if worker.is_alive():
                logger.warning("the local model's generation did not stop within %.0f s", JOIN_TIMEOUT_S)
        if failure:
            raise failure[0]


__all__ = ["LocalChatModel", "StopText", "cut_at_stop", "reply_repetition_penalty"]
