"""Word statistics for a text: counts and the most common words."""
from collections import Counter
import re

_WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def most_common(text: str, n: int = 3) -> list[tuple[str, int]]:
    return Counter(words(text)).most_common(n)
