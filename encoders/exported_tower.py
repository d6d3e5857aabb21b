"""A tower exported for serving: its ONNX graph, its tokenizer and what an index needs to know
of it, in one folder, loaded without torch or sentence-transformers.

A folder holds model.onnx (the graph the ONNX backend serves: fused and int8 as chosen),
tokenizer.json (the tokenizers library's) and tower.json (ExportInfo). Index builds and
servers that load a tower with torch write one under <index root>/towers/ (Towers.export),
so a serving install without torch (pip install . without the train extra) can answer
searches and encode updated products with the very vectors of the index.

A local model folder can be retrained in place: an export records a digest of its weight
files and is not used once they differ.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from encoders.onnx_runtime import OnnxTower, TokenizerPadding, serving_tokenizer

EXPORTS_FOLDER = "towers"  # under an index root
INFO_FILE = "tower.json"
GRAPH_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass(frozen=True)
class ExportInfo:
    name: str  # the display name (TextEncoder.name)
    source: str  # the model name or path it was loaded from
    task: str | None  # "query" or "document" for one route of an asymmetric model; None: shared
    backend: str  # "onnx" or "onnx-int8"
    fingerprint: str  # of the torch weights (TextEncoder.fingerprint)
    vectors_key: str
    dimension: int
    max_length: int
    normalize: bool
    pad_id: int
    pad_token: str
    weights_digest: str | None  # of a local model folder's weight files; None for a hub name
    pad_type_id: int = 0
    padding_side: str = "right"
    truncation_side: str = "right"


def exports_folder(index_root: str | Path) -> Path:
    return Path(index_root) / EXPORTS_FOLDER


def export_prefix(source: str, backend: str, task: str | None) -> str:
    """The start of every export's folder name for one tower: readable, unique per source."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", source).strip("_.")[-60:] or "model"
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{slug}-{digest}-{task or 'shared'}-{backend}-"


def weights_digest(source: str) -> str | None:
    """A hash of a local model folder's weight files; None when source is not a folder here."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_export(root: Path, info: ExportInfo, graph: Path, tokenizer_json: str) -> Path:
    """The export of one tower under root. Export folders are never changed once written:
    each is named by its vectors (and weights), written beside its place and renamed into
    it, so a reader never sees half of one, and of processes exporting at once one wins and
    the others find its folder."""
    key = hashlib.sha256(f"{info.vectors_key}:{info.weights_digest}".encode()).hexdigest()[:12]
    target = Path(root) / (export_prefix(info.source, info.backend, info.task) + key)
    if read_info(target) is not None:
        return target
    Path(root).mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    partial.chmod(0o755)  # mkdtemp's 0700 would hide it from a server running as another user
    try:
        _link_or_copy(graph, partial / GRAPH_FILE)
        (partial / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
        (partial / INFO_FILE).write_text(json.dumps(asdict(info), indent=2), encoding="utf-8")
        try:
            os.rename(partial, target)
        except OSError:  # another process wrote the same export first
            if read_info(target) is None:
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where both are on one file system (graphs are never changed in place, only
    replaced), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def read_info(folder: Path) -> ExportInfo | None:
    try:
        return ExportInfo(**json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def find_export(roots: Sequence[Path], source: str, backend: str, task: str) -> Path | None:
    """The newest export of this tower under one of roots (its own route's, else a shared
    one). For a model folder on this machine, only one made from its present weights; a
    folder that is not here (a tower trained elsewhere) is trusted by its name."""
    digest = weights_digest(source)
    for root in roots:
        for route in (task, None):
            prefix = export_prefix(source, backend, route)
            found = [(read_info(folder), folder) for folder in Path(root).glob(prefix + "*")
                     if not folder.name.startswith(".")] if Path(root).is_dir() else []
            usable = [(folder.stat().st_mtime, folder) for info, folder in found
                      if info is not None and (digest is None or info.weights_digest == digest)]
            if usable:
                return max(usable)[1]
    return None


class ExportedTower:
    """A tower from an exported folder: the interface of encoders.towers.TextEncoder."""

    device = "cpu"

    def __init__(self, folder: Path, threads: int | None = None):
        self.folder = Path(folder)
        self.info = read_info(self.folder)
        if self.info is None:
            raise FileNotFoundError(f"no exported tower in {self.folder} (missing {INFO_FILE})")
        info = self.info
        tokenizer = serving_tokenizer((self.folder / TOKENIZER_FILE).read_text(encoding="utf-8"),
                                      info.max_length, TokenizerPadding(info.pad_id, info.pad_token, info.pad_type_id,
                                                                        info.padding_side, info.truncation_side))
        self._onnx = OnnxTower(self.folder / GRAPH_FILE, tokenizer, info.normalize, threads)
        self.name, self.source, self.backend = info.name, info.source, info.backend
        self.fingerprint, self.vectors_key, self.dimension = info.fingerprint, info.vectors_key, info.dimension
        self.asymmetric = info.task is not None
        self.task = info.task or "document"

    def encode(self, texts: Sequence[str], show_progress: bool = False, batch_size: int | None = None) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._onnx.encode(list(texts), batch_size, show_progress)

    def export(self, root: Path) -> Path:
        """This tower's export under root (a copy, unless it is the one loaded)."""
        return write_export(Path(root), self.info, self.folder / GRAPH_FILE,
                            (self.folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
