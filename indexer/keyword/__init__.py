"""Keyword (BM25) backends behind one interface: tantivy embedded, Elasticsearch at scale."""
from indexer.keyword.base import KeywordConfig, KeywordIndex

__all__ = ["KeywordConfig", "KeywordIndex"]
