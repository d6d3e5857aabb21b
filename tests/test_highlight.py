"""Highlighting: the words the keyword leg matches (same stem, same typo distance) in <em>,
everything else escaped, on hand-made texts and through the API on real products."""
from __future__ import annotations

import pytest

import html

from search_engine.highlight import QueryMatcher, highlight_title, snippet, within_edits


def marked_title(query, title, description=""):
    return highlight_title(title, QueryMatcher.of(query).for_product(title, description))


def test_stemmed_and_misspelled_words_are_marked_and_others_not():
    assert marked_title("wireles mice batteries", "Wireless mice with AA battery pack") == \
        "<em>Wireless</em> <em>mice</em> with AA <em>battery</em> pack"
    assert marked_title("wireles mice", "Wired mouse") == "Wired mouse"  # 2 edits from "wireles", a 7-letter word


def test_a_word_typed_without_its_accents_is_marked():
    assert marked_title("creme brulee", "Crème brûlée torch") == "<em>Crème</em> <em>brûlée</em> torch"
    assert marked_title("Kühlschrank", "Kuhlschrank 300 l") == "<em>Kuhlschrank</em> 300 l"
    assert marked_title("brulle torch", "Crème brûlée torch") == "Crème <em>brûlée</em> <em>torch</em>"  # a typo of it


def test_typos_are_marked_only_for_query_words_the_product_does_not_contain():
    assert marked_title("pink case", "Pink ink case") == "<em>Pink</em> ink <em>case</em>"
    assert marked_title("black ink", "Blank black ink") == "Blank <em>black</em> <em>ink</em>"
    # typos are the title's (the keyword leg's fuzzy fields), never the description's
    matcher = QueryMatcher.of("wireles").for_product("Mouse", "a wireless mouse")
    assert "<em>" not in snippet("a wireless mouse", matcher)


def test_markup_in_a_product_text_is_escaped_not_run():
    title = '<script>alert("x")</script> Mouse & <b onclick=1>pad</b>'
    matcher = QueryMatcher.of("mouse").for_product(title)
    marked = highlight_title(title, matcher)
    assert marked == ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <em>Mouse</em> &amp; '
                      '&lt;b onclick=1&gt;pad&lt;/b&gt;')
    assert "<script" not in snippet(title * 20, matcher)


def test_a_snippet_is_cut_around_the_first_match_at_word_boundaries():
    text = " ".join(f"filler{i}" for i in range(60)) + " the wireless mouse " + " ".join(
        f"after{i}" for i in range(60))
    mouse = QueryMatcher.of("mouse").for_product("", text)
    cut = snippet(text, mouse, chars=80)
    assert cut.startswith("…") and cut.endswith("…") and "<em>mouse</em>" in cut
    inner = cut.strip("…")
    assert all(word in text.split() for word in inner.replace("<em>", "").replace("</em>", "").split())
    assert snippet("short text", mouse) == "short text" and snippet("", mouse) == ""
    # no spaces to cut at, or the match at the very end: the match stays in the snippet
    for hard in ("the mouse," + "a," * 200, "intro " + "a," * 200 + "mouse", "a\n" * 300 + "mouse"):
        assert "<em>mouse</em>" in snippet(hard, mouse), hard[:20]


@pytest.mark.parametrize("a, b, limit, expected", [
    ("wireless", "wireles", 1, True), ("wireless", "wirelss", 1, True), ("kitten", "sitting", 2, False),
    ("kitten", "sitting", 3, True), ("abc", "abc", 0, True), ("abc", "abd", 0, False), ("a", "abcd", 2, False),
    ("wirelses", "wireless", 1, True), ("ab", "ba", 1, True), ("abc", "cba", 1, False)])
def test_edit_distance_within_a_limit(a, b, limit, expected):
    assert within_edits(a, b, limit) is expected


def test_the_search_api_highlights_real_products(client):
    body = client.get("/search", query_string={"q": "wireles mice", "highlight": "true", "k": 5}).get_json()
    marked = [r["highlight"] for r in body["results"]]
    assert any("<em>" in h["title"] for h in marked)
    for result, h in zip(body["results"], marked):
        assert h["title"].replace("<em>", "").replace("</em>", "") == html.escape(result["title"])
    snippets = client.get("/search", query_string={"q": "usb hub", "highlight": "true", "k": 5}).get_json()
    assert any("<em>" in r["highlight"]["description"] for r in snippets["results"])
    plain = client.get("/search", query_string={"q": "wireles mice"}).get_json()
    assert "highlight" not in plain["results"][0]
    bad = client.get("/search", query_string={"q": "mouse", "highlight": "maybe"})
    assert bad.status_code == 400 and bad.get_json()["error"]["parameter"] == "highlight"


def test_the_banded_distance_agrees_with_the_full_one_on_random_words():
    import random

    def osa(a, b):  # the whole table, no band: the reference
        d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
        return d[-1][-1]

    rng = random.Random(3)
    for _ in range(2000):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        for limit in (0, 1, 2):
            assert within_edits(a, b, limit) is (osa(a, b) <= limit), (a, b, limit)
