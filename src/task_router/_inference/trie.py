"""A token trie of candidate answers, packed into one sequence that is scored in a single forward pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class TokenTrie:
    """Candidate token sequences merged on their common prefixes.

    Every trie node is one token at one position of the packed sequence; a node attends to the prompt and to its
    ancestors only, so each candidate is read exactly as if it followed the prompt alone, while shared prefixes
    (``Restaurants_1.Find...`` / ``Restaurants_1.Reserve...``) are computed once.

    Example:
        >>> trie = TokenTrie.build([[5, 6], [5, 7], [8]])
        >>> trie.tokens, trie.parents, trie.depths
        ([5, 6, 7, 8], [-1, 0, 0, -1], [0, 1, 1, 0])
        >>> trie.paths
        [[0, 1], [0, 2], [3]]
    """

    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)  # index of the parent node, -1 for a root
    depths: list[int] = field(default_factory=list)
    paths: list[list[int]] = field(default_factory=list)  # per candidate, the node index of each of its tokens

    @classmethod
    def build(cls, candidates: Sequence[Sequence[int]]) -> TokenTrie:
        trie = cls()
        children: dict[tuple[int, int], int] = {}
        for candidate in candidates:
            if not candidate:
                raise ValueError("a candidate answer tokenized to nothing: give every candidate some text")
            parent, path = -1, []
            for token in candidate:
                key = (parent, int(token))
                node = children.get(key)
                if node is None:
                    node = len(trie.tokens)
                    children[key] = node
                    trie.tokens.append(int(token))
                    trie.parents.append(parent)
                    trie.depths.append(0 if parent < 0 else trie.depths[parent] + 1)
                path.append(node)
                parent = node
            trie.paths.append(path)
        return trie

    def __len__(self) -> int:
        return len(self.tokens)

    def ancestors(self, node: int) -> list[int]:
        """The node and all its ancestors (the trie positions it may attend to)."""
        chain = []
        while node >= 0:
            chain.append(node)
            node = self.parents[node]
        return chain
