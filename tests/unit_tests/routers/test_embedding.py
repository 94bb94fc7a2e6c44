"""The embedding router over any LangChain Embeddings: the same decisions as over the same vectors given through
sentence-transformers' encode, and the embeddings' model named in the decision."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from task_router import TaskCatalog
from task_router.routers._embedding import EmbeddingRouter
from tests.unit_tests.fakes import Words

TURNS = [
    ("summarise the meeting notes", None),
    ("and add the action items", "recap"),
    ("now write the follow up email to the client", "recap"),
    ("draft a linkedin post about our launch", None),
]


class WordEmbeddings(Embeddings):
    """The test bag of words behind LangChain's Embeddings interface (not normalised: the router normalises)."""

    def __init__(self) -> None:
        self.words = Words()
        self.model = "bag-of-words"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return (3.0 * self.words.encode(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_langchain_embeddings_route_like_the_same_vectors_through_encode(catalog: TaskCatalog) -> None:
    options = {"catalog": catalog, "closing_phrases": ()}
    through_langchain = EmbeddingRouter(encoder=WordEmbeddings(), **options)
    through_encode = EmbeddingRouter(encoder=Words(), **options)
    decided = []
    for text, active in TURNS:
        turn = {"messages": [text], "active_task": active}
        expected = through_encode.invoke(dict(turn))
        decision = through_langchain.invoke(dict(turn))
        assert (decision.event, decision.task) == (expected.event, expected.task)
        assert abs(decision.confidence - expected.confidence) < 1e-5  # the router normalises the vectors
        decided.append((decision.event, decision.task))
    assert decided == [("START", "recap"), ("CONTINUE", "recap"), ("SWITCH", "email"), ("START", "post")]
    assert decision.model == "bag-of-words"
