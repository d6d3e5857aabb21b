"""BM25 keyword search (and optionally kNN vectors) on an Elasticsearch cluster.

The same interface and the same meaning as the tantivy backend: English stemming on the
text fields, the same scoring (term-centric: combined_fields with the field weights, BM25F
as tantivy's weighted combined field, approximately: Elasticsearch estimates the combined
document frequency and rounds field lengths; field-centric: a multi_match of type most_fields sums
each field's boosted BM25, as tantivy's multi-field query does), the same fuzzy fallback on unstemmed
title, brand and model, the same filters (exact lower-case brand, category and facet
attribute keys, inclusive price and numeric attribute ranges) and the same matched set
(every query word, or a typo of it when few products have them all). Each index version gets its own Elasticsearch index
`<prefix>-<version>`; the alias `<prefix>` follows the serving version (moved atomically by
a build that serves, `switch` and `rollback`, mirroring the local CURRENT pointer), and
pruning a version deletes its index.

The request bodies are built by pure functions (index_body, bulk_actions, search_body,
knn_body) so they can be tested without a cluster.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from indexer.attributes import AttributeConfig, facet_term, facet_terms, numeric_value
from indexer.filters import Filters, filter_key
from indexer.keyword.base import (TEXT_FIELDS, KeywordConfig, append_fuzzy_hits, fold_accents as fold,
                                  product_texts, query_terms)
from indexer.keyword.synonyms import NO_SYNONYMS, Synonyms, every_word, single_words
from indexer.schema import Product

log = logging.getLogger(__name__)
FUZZY_FIELDS = ("title_plain", "brand_plain", "model")


class ElasticsearchError(RuntimeError):
    """The cluster is unreachable, refuses us, or is a version this client cannot talk to."""


class BulkIndexingError(ElasticsearchError):
    def __init__(self, failures: list[dict]):
        self.failures = failures
        shown = "; ".join(f"doc {f['doc']}: {f['reason']}" for f in failures[:20])
        super().__init__(f"{len(failures)} documents failed to index: {shown}")


@dataclass
class ElasticsearchConfig:
    url: str
    api_key: str | None = None
    username: str | None = None
    password: str | None = None
    ca_certs: str | None = None
    index_prefix: str = "products"
    request_timeout_s: float = 30.0


def connect(config: ElasticsearchConfig):
    """A client for the cluster, after checking it answers and speaks our version."""
    import elasticsearch
    from elasticsearch import Elasticsearch

    auth: dict[str, Any] = {}
    if config.api_key:
        auth["api_key"] = config.api_key
    elif config.username:
        auth["basic_auth"] = (config.username, config.password or "")
    client = Elasticsearch(config.url, ca_certs=config.ca_certs, request_timeout=config.request_timeout_s, **auth)
    try:
        info = client.info()
    except elasticsearch.AuthenticationException as exc:
        raise ElasticsearchError(f"Elasticsearch at {config.url} refused our credentials: {exc}") from None
    except elasticsearch.ConnectionError as exc:
        raise ElasticsearchError(f"cannot reach Elasticsearch at {config.url}: {exc}") from None
    server = str(info["version"]["number"])
    supported = elasticsearch.__versionstr__.split(".")[0]
    if server.split(".")[0] != supported:
        raise ElasticsearchError(
            f"Elasticsearch {server} at {config.url} is not supported by this client "
            f"(elasticsearch {elasticsearch.__versionstr__}, which talks to {supported}.x clusters): "
            f"install elasticsearch=={server.split('.')[0]}.*")
    return client


MAX_RESULT_WINDOW = 10_000  # Elasticsearch's default: deeper matched sets are read with scroll


def index_body(config: ElasticsearchConfig, dimension: int | None = None,
               attributes: AttributeConfig = AttributeConfig()) -> dict:
    """Settings and mappings: English analysis like tantivy's en_stem, keys for filters."""
    filters = {
        "english_possessive": {"type": "stemmer", "language": "possessive_english"},
        "english_stemmer": {"type": "stemmer", "language": "english"},
    }
    # Synonyms are not an analyzer here: the engine expands queries itself, the same way for
    # both backends (indexer/keyword/synonyms.py), so editing them needs no reindex.
    search_chain = ["lowercase", "english_possessive", "english_stemmer"]
    analysis = {
        "filter": filters,
        "analyzer": {
            "product_english": {"type": "custom", "tokenizer": "standard",
                                "filter": ["lowercase", "english_possessive", "english_stemmer"]},
            "product_english_search": {"type": "custom", "tokenizer": "standard", "filter": search_chain},
        },
    }
    english = {"type": "text", "analyzer": "product_english", "search_analyzer": "product_english_search"}
    properties: dict[str, Any] = {
        "doc": {"type": "integer"},
        "product_id": {"type": "keyword"},
        "title": english, "brand": english, "category": english, "description": english,
        "attributes": english,
        # Codes keep their spelling, like tantivy's model field; the English copy lets
        # combined_fields (all its fields need one analyzer) score them term-centrically.
        "model": {"type": "text", "analyzer": "standard", "fields": {"english": english}},
        "title_plain": {"type": "text", "analyzer": "standard"},
        "brand_plain": {"type": "text", "analyzer": "standard"},
        "brand_key": {"type": "keyword"},
        "category_key": {"type": "keyword"},
        "price": {"type": "double"},
        "attr_key": {"type": "keyword"},  # "name=value" of the facet attributes, as tantivy's
        "number": {"type": "object", "properties": {name: {"type": "double"} for name in attributes.numeric}},
    }
    if dimension:
        properties["vector"] = {"type": "dense_vector", "dims": dimension, "index": True,
                                "similarity": "dot_product"}  # our vectors are unit length
    return {"settings": {"analysis": analysis}, "mappings": {"dynamic": "strict", "properties": properties}}


def document(doc: int, product: Product, vector: Sequence[float] | None = None,
             attribute_max_chars: int = 0, attributes: AttributeConfig = AttributeConfig(),
             fold_accents: bool = False) -> dict:
    """fold_accents: the text folded as tantivy's documents are (KeywordConfig.keyword_form),
    so both backends match the same words."""
    texts = product_texts(product, attribute_max_chars)
    if fold_accents:
        texts = {name: fold(text) for name, text in texts.items()}
    source = {
        "doc": int(doc), "product_id": product.id, **texts, "title_plain": texts["title"],
        "brand_plain": texts["brand"], "brand_key": filter_key(product.brand),
        "category_key": filter_key(product.category),
    }
    if product.price is not None:
        source["price"] = float(product.price)
    keys = [term for name in attributes.facets
            for term in facet_terms(name, product.attributes.get(name), attributes.split_lists)]
    if keys:
        source["attr_key"] = keys
    numbers = {name: numeric_value(product.attributes.get(name)) for name in attributes.numeric}
    if any(v is not None for v in numbers.values()):
        source["number"] = {name: value for name, value in numbers.items() if value is not None}
    if vector is not None:
        source["vector"] = [float(x) for x in vector]
    return source


def bulk_actions(index_name: str, remove_docs: Iterable[int], add_docs: Iterable[int],
                 products: Iterable[Product], vectors: Iterable[Sequence[float]] | None = None,
                 attribute_max_chars: int = 0, attributes: AttributeConfig = AttributeConfig(),
                 fold_accents: bool = False) -> Iterator[dict]:
    """Deletes, then index actions; a document's _id is its doc number, so re-runs are idempotent."""
    for doc in remove_docs:
        yield {"_op_type": "delete", "_index": index_name, "_id": str(doc)}
    vectors = iter(vectors) if vectors is not None else None
    for doc, product in zip(add_docs, products):
        vector = next(vectors) if vectors is not None else None
        yield {"_op_type": "index", "_index": index_name, "_id": str(doc), "_source": document(doc, product, vector, attribute_max_chars, attributes, fold_accents)}


def filter_clauses(filters: Filters | None) -> list[dict]:
    if filters is None:
        return []
    clauses: list[dict] = []
    if filters.brands:
        clauses.append({"terms": {"brand_key": list(filters.brands)}})
    if filters.categories:
        clauses.append({"terms": {"category_key": list(filters.categories)}})
    if filters.has_price_range:
        bounds = {}
        if filters.price_min is not None:
            bounds["gte"] = filters.price_min
        if filters.price_max is not None:
            bounds["lte"] = filters.price_max
        clauses.append({"range": {"price": bounds}})
    for name, values in filters.attributes:
        clauses.append({"terms": {"attr_key": [facet_term(name, value) for value in values]}})
    for name, low, high in filters.ranges:
        bounds = {key: bound for key, bound in (("gte", low), ("lte", high)) if bound is not None}
        clauses.append({"range": {f"number.{name}": bounds}})
    return clauses


def _text_match(words: str, config: KeywordConfig) -> dict:
    words = " ".join(config.query_words(words))
    if config.scoring == "term-centric":  # BM25F, as tantivy's combined field: weights scale term frequencies
        fields = [f"{'model.english' if name == 'model' else name}^{config.field_weights[name]}"
                  for name in TEXT_FIELDS if config.field_weights.get(name, 0) > 0]
        return {"combined_fields": {"query": words, "fields": fields, "operator": "or"}}
    fields = [f"{name}^{config.boosts[name]:g}" for name in TEXT_FIELDS if config.boosts.get(name, 0) > 0]
    return {"multi_match": {"query": words, "type": "most_fields", "fields": fields}}


def search_body(text: str, k: int, filters: Filters | None, config: KeywordConfig,
                synonyms: Synonyms = NO_SYNONYMS) -> dict | None:
    terms = query_terms(text)
    if not terms:
        return None
    words = " ".join(every_word(synonyms.expand(terms)))
    return {"size": k, "_source": False, "fields": ["doc"],
            "query": {"bool": {"must": [_text_match(words, config)], "filter": filter_clauses(filters)}}}


def _fuzzy_clauses(term: str, config: KeywordConfig) -> list[dict]:
    fuzziness = 1 if len(term) < 8 else 2
    return [{"fuzzy": {field: {"value": word, "fuzziness": fuzziness, "transpositions": True}}}
            for word in config.query_words(term)  # term-level queries: no analyzer folds them
            for field in FUZZY_FIELDS]


def fuzzy_body(text: str, k: int, filters: Filters | None, config: KeywordConfig) -> dict | None:
    terms = [t for t in query_terms(text) if len(t) >= config.fuzzy_min_term_length]
    if not terms:
        return None
    should = [clause for term in terms for clause in _fuzzy_clauses(term, config)]
    return {"size": k, "_source": False, "fields": ["doc"],
            "query": {"bool": {"should": should, "minimum_should_match": 1, "filter": filter_clauses(filters)}}}


def _all_of(words: tuple[str, ...], config: KeywordConfig) -> dict:
    if len(words) == 1:
        return _text_match(words[0], config)
    return {"bool": {"must": [_text_match(word, config) for word in words]}}


def match_query(text: str, config: KeywordConfig, typo_prone: Iterable[str] = (),
                synonyms: Synonyms = NO_SYNONYMS) -> dict | None:
    """The matched set's query (as tantivy's `matches`): every slot of the query (a word, or
    the words a synonym rule names) must match, by the words typed or all the words of one
    alternative; a word in typo_prone may instead be within the typo distance in title,
    brand or model."""
    terms = query_terms(text)
    if not terms:
        return None
    typo_prone = set(typo_prone)
    must = []
    for slot in synonyms.expand(terms):
        if len(slot.alternatives) > 1:
            must.append({"bool": {"should": [_all_of(words, config) for words in slot.alternatives],
                                  "minimum_should_match": 1}})
        elif len(slot.typed) == 1 and slot.typed[0] in typo_prone:
            term = slot.typed[0]
            must.append({"bool": {"should": [_text_match(term, config), *_fuzzy_clauses(term, config)],
                                  "minimum_should_match": 1}})
        else:
            must.append(_all_of(slot.typed, config))
    return {"bool": {"must": must}}


def knn_body(vector: Sequence[float], k: int, filters: Filters | None) -> dict:
    knn: dict[str, Any] = {"field": "vector", "query_vector": [float(x) for x in vector], "k": k,
                           "num_candidates": max(100, 2 * k)}
    clauses = filter_clauses(filters)
    if clauses:
        knn["filter"] = clauses
    return {"size": k, "_source": False, "fields": ["doc"], "knn": knn}


def _hits(response) -> list[tuple[int, float]]:
    return [(int(hit["_id"]), float(hit["_score"])) for hit in response["hits"]["hits"]]


class ElasticsearchKeywordIndex:
    """One index version's Elasticsearch index; the same interface as TantivyKeywordIndex.

    It is also its own searcher: an update is refreshed before it returns, and the engine
    drops hits its snapshot does not hold (see SegmentedVectors and the keyword stage), so a
    search never shows a doc newer than the rest of its snapshot."""

    def __init__(self, client, name: str, config: KeywordConfig, attributes: AttributeConfig, alias: str,
                 stores_vectors: bool = False):
        self.client = client
        self.name = name
        self.config = config
        self.attributes = attributes
        self.alias = alias  # follows the serving version (mark_serving)
        self.stores_vectors = stores_vectors  # the version's vectors live here (kNN), not in FAISS

    @classmethod
    def create(cls, client, name: str, es_config: ElasticsearchConfig, config: KeywordConfig,
               attributes: AttributeConfig, dimension: int | None = None) -> "ElasticsearchKeywordIndex":
        client.indices.delete(index=name, ignore_unavailable=True)  # a leftover of a killed build
        client.indices.create(index=name, **index_body(es_config, dimension, attributes))
        return cls(client, name, config, attributes, es_config.index_prefix, stores_vectors=dimension is not None)

    def add(self, docs: Sequence[int], products: Sequence[Product], vectors=None) -> None:
        self.update([], docs, products, vectors)

    def update(self, remove_docs, add_docs, products, vectors=None) -> None:
        from elasticsearch import helpers

        failures = []
        actions = bulk_actions(self.name, remove_docs, add_docs, products, vectors if self.stores_vectors else None,
                               self.config.attribute_max_chars, self.attributes, self.config.fold_accents)
        for ok, item in helpers.streaming_bulk(self.client, actions, raise_on_error=False,
                                               raise_on_exception=False, max_retries=3):
            if not ok:
                (op, result), = item.items()
                if op == "delete" and result.get("status") == 404:
                    continue  # deleting what is not there is the idempotent case
                failures.append({"doc": result.get("_id"), "reason": result.get("error")})
        self.client.indices.refresh(index=self.name)
        if failures:
            raise BulkIndexingError(failures)

    def searcher(self) -> "ElasticsearchKeywordIndex":
        return self

    def search(self, text: str, k: int, filters: Filters | None = None,
               synonyms: Synonyms = NO_SYNONYMS) -> list[tuple[int, float]]:
        body = search_body(text, k, filters, self.config, synonyms)
        if body is None or k <= 0:
            return []
        hits = _hits(self.client.search(index=self.name, **body))
        if len(hits) >= min(k, self.config.fuzzy_below):
            return hits
        fuzzy = fuzzy_body(text, k + len(hits), filters, self.config)
        if fuzzy is None:
            return hits
        return append_fuzzy_hits(hits, _hits(self.client.search(index=self.name, **fuzzy)), k)

    def count(self, text: str, synonyms: Synonyms = NO_SYNONYMS) -> int:
        query = match_query(text, self.config, synonyms=synonyms)
        return 0 if query is None else self._count(query)

    def count_in_titles(self, text: str) -> int:
        words = self.config.query_words(text)
        return self._count({"match_phrase": {"title": " ".join(words)}}) if words else 0

    def matches(self, text: str, synonyms: Synonyms = NO_SYNONYMS) -> tuple[np.ndarray, np.ndarray]:
        """Every doc the matched-set query matches, ascending, with scores (as tantivy's)."""
        query = match_query(text, self.config, synonyms=synonyms)
        if query is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        config = self.config
        count = self._count(query)
        if count < config.fuzzy_below:
            typo_prone = [t for t in single_words(synonyms.expand(query_terms(text)))
                          if len(t) >= config.fuzzy_min_term_length
                          and self._count(_text_match(t, config)) < config.fuzzy_below]
            query = match_query(text, config, typo_prone, synonyms)
            count = self._count(query)
        hits = self._all_hits(query, count)
        hits.sort()
        return np.array([d for d, _ in hits], dtype=np.int64), np.array([s for _, s in hits], dtype=np.float64)

    def _count(self, query: dict) -> int:
        return int(self.client.count(index=self.name, query=query)["count"])

    def _all_hits(self, query: dict, count: int) -> list[tuple[int, float]]:
        """Every doc the query matches, with its score; count: how many that is."""
        if count <= MAX_RESULT_WINDOW:
            return _hits(self.client.search(index=self.name, query=query, size=max(count, 1), _source=False))
        from elasticsearch import helpers

        return [(int(hit["_id"]), float(hit["_score"] or 0.0)) for hit in helpers.scan(
            self.client, index=self.name, query={"query": query, "track_scores": True}, _source=False)]

    def knn(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        return _hits(self.client.search(index=self.name, **knn_body(vector, k, filters)))

    def vector(self, doc: int):
        import numpy as np

        source = self.client.get(index=self.name, id=str(doc), source_includes=["vector"])
        return np.asarray(source["_source"]["vector"], dtype=np.float32)

    def vectors(self, docs) -> list[np.ndarray | None]:
        """The stored vectors of these docs, in their order (one multi-get); None for a doc
        deleted since the caller's snapshot."""
        response = self.client.mget(index=self.name, ids=[str(int(d)) for d in docs], source_includes=["vector"])
        return [np.asarray(item["_source"]["vector"], dtype=np.float32) if item.get("found") else None
                for item in response["docs"]]

    def num_docs(self) -> int:
        return int(self.client.count(index=self.name)["count"])

    def manifest(self) -> dict:
        return {"elasticsearch_index": self.name}

    def mark_serving(self) -> None:
        """Point the alias at this index, atomically, removing it from any other."""
        alias = self.alias
        actions = [{"remove": {"index": f"{alias}-*", "alias": alias}}] if self.client.indices.exists_alias(
            name=alias) else []
        actions.append({"add": {"index": self.name, "alias": alias}})
        self.client.indices.update_aliases(actions=actions)

    def drop(self) -> None:
        """Delete this version's index from the cluster (pruning)."""
        self.client.indices.delete(index=self.name, ignore_unavailable=True)
