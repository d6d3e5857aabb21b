"""Create or open an index version's keyword index with the backend its settings name."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from indexer.attributes import AttributeConfig
from indexer.keyword.base import KeywordConfig, KeywordIndex
from indexer.keyword.tantivy_index import TantivyKeywordIndex

KEYWORD_DIR = "keyword"
BACKENDS = ("tantivy", "elasticsearch")


def create_keyword_index(version_dir: Path, version: str, config: KeywordConfig, attributes: AttributeConfig,
                         elasticsearch=None, vector_dimension: int | None = None) -> KeywordIndex:
    """A new, empty keyword index for this version."""
    if config.backend == "tantivy":
        return TantivyKeywordIndex.create(Path(version_dir) / KEYWORD_DIR, config, attributes)
    if config.backend == "elasticsearch":
        from indexer.keyword.elasticsearch_index import ElasticsearchKeywordIndex, connect

        if elasticsearch is None:
            raise ValueError("the elasticsearch keyword backend needs a connection (SEARCH_ELASTICSEARCH_URL)")
        name = f"{elasticsearch.index_prefix}-{version}"
        return ElasticsearchKeywordIndex.create(connect(elasticsearch), name, elasticsearch, config, attributes,
                                                vector_dimension)
    raise ValueError(f"unknown keyword backend {config.backend!r}; expected one of {', '.join(BACKENDS)}")


def keyword_config(manifest: dict) -> KeywordConfig:
    """The keyword settings a version was built with."""
    settings = {k: v for k, v in manifest.get("keyword", {}).items() if k != "elasticsearch_index"}
    settings.setdefault("scoring", "field-centric")  # what versions built before term-centric scoring used
    settings.setdefault("attribute_max_chars", 0)  # ... and before the attribute length limit
    settings.setdefault("fold_accents", False)  # ... and before accents were folded
    return KeywordConfig(**settings)


def open_keyword_index(version_dir: Path, manifest: dict, elasticsearch=None) -> KeywordIndex:
    es_index = manifest.get("keyword", {}).get("elasticsearch_index")
    config = keyword_config(manifest)
    attributes = AttributeConfig.from_manifest(manifest)
    if config.backend == "tantivy":
        return TantivyKeywordIndex.open(Path(version_dir) / KEYWORD_DIR, config, attributes)
    from indexer.keyword.elasticsearch_index import ElasticsearchKeywordIndex, connect

    if elasticsearch is None:
        raise ValueError(f"index {manifest['version']} keeps its keywords on Elasticsearch: "
                         "set SEARCH_ELASTICSEARCH_URL to serve it")
    return ElasticsearchKeywordIndex(connect(elasticsearch), es_index, config, attributes, elasticsearch.index_prefix,
                                     stores_vectors=manifest["vector_index"]["kind"] == "elasticsearch")


def keyword_manifest(config: KeywordConfig, index: KeywordIndex) -> dict:
    return {**asdict(config), **index.manifest()}
