from indexer.vectors.faiss_index import VectorIndex, VectorIndexConfig

__all__ = ["VectorIndex", "VectorIndexConfig"]
