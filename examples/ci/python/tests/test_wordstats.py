from wordstats import most_common, words


def test_words_are_lower_case_and_split_on_punctuation():
    assert words("Hello, world! HELLO") == ["hello", "world", "hello"]


def test_most_common_counts():
    assert most_common("a b a c a b", 2) == [("a", 3), ("b", 2)]


def test_empty_text():
    assert most_common("") == []
