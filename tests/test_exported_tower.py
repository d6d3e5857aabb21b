"""Serving without torch: towers exported at index build, loaded by ONNX Runtime and tokenizers."""
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from encoders.model_resolution import packaged_minilm_path

pytestmark = pytest.mark.slow

TEXTS = ["wireless mouse", "hdmi cable 2m", "Brother TN-2110 toner cartridge Original Black 1 pc(s)",
         "notebook " * 400]  # the last one is cut at the tower's 256 tokens

# Run in a subprocess: what the train extra and the packaged model bring cannot be imported, as
# in a serving install.
WITHOUT_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"torch", "sentence_transformers", "transformers", "onnx", "all_minilm_l6_v2"}:
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NotInstalled())
""")


@pytest.fixture(scope="module")
def onnx_tower():
    from encoders.towers import TextEncoder

    return TextEncoder(backend="onnx", device="cpu")


def test_an_exported_tower_gives_the_vectors_of_the_tower_it_came_from(onnx_tower, towers, tmp_path):
    from encoders.exported_tower import ExportedTower

    folder = onnx_tower.export(tmp_path)
    exported = ExportedTower(folder)
    assert (exported.fingerprint, exported.vectors_key, exported.dimension, exported.backend) == \
        (onnx_tower.fingerprint, onnx_tower.vectors_key, onnx_tower.dimension, "onnx")
    np.testing.assert_allclose(exported.encode(TEXTS), onnx_tower.encode(TEXTS), atol=1e-5)
    # and sentence-transformers on torch, with the transformers tokenizer: the same vectors
    np.testing.assert_allclose(exported.encode(TEXTS), towers.query.encode(TEXTS), atol=1e-4)
    many = [f"{text} {i}" for i in range(10) for text in TEXTS]  # more than a batch: the batched path
    np.testing.assert_allclose(exported.encode(many), towers.query.encode(many), atol=1e-4)
    written = (folder / "tower.json").stat().st_mtime_ns
    assert onnx_tower.export(tmp_path) == folder and (folder / "tower.json").stat().st_mtime_ns == written


def test_a_torch_tower_has_nothing_to_export(towers, tmp_path):
    assert towers.query.backend == "torch"
    assert towers.query.export(tmp_path) is None and not list(tmp_path.iterdir())


def test_an_export_of_a_model_folder_retrained_since_is_not_used(tmp_path):
    from encoders.exported_tower import find_export
    from encoders.towers import TextEncoder

    model = tmp_path / "my-model"
    shutil.copytree(packaged_minilm_path(), model)
    TextEncoder(str(model), backend="onnx", device="cpu").export(tmp_path / "exports")
    assert find_export([tmp_path / "exports"], str(model), "onnx", "query") is not None
    weights = next(model.rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b" ")  # new weights in the same folder
    assert find_export([tmp_path / "exports"], str(model), "onnx", "query") is None


def test_an_index_built_with_the_onnx_tower_serves_searches_without_torch(onnx_tower, small_catalog, tmp_path):
    from encoders.exported_tower import exports_folder
    from indexer.build import build_version

    root = tmp_path / "index"
    build_version(small_catalog, onnx_tower, root)
    assert list(exports_folder(root).iterdir())
    script = WITHOUT_TORCH + textwrap.dedent(f"""
        import json
        from api import create_app
        from search_engine.settings import load_settings

        settings = load_settings(index_root={str(root)!r}, events_path={str(tmp_path / "events.db")!r},
                                 merchandising_path={str(tmp_path / "m.db")!r}, judgments_path={str(tmp_path / "j.db")!r})
        client = create_app({{"SETTINGS": settings}}).test_client()
        ids = [r["id"] for r in client.get("/search?q=wireless+mouse&k=5&mode=dense").get_json()["results"]]
        print(json.dumps({{"ids": ids, "torch": "torch" in sys.modules}}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    vector = onnx_tower.encode(["wireless mouse"])[0]
    from indexer.search_index import SearchIndex

    expected = [SearchIndex.open_current(root).products.product(doc).id
                for doc, _ in SearchIndex.open_current(root).snapshot().vectors.search(vector, 5)]
    assert served == {"ids": expected, "torch": False}


def test_without_torch_and_without_an_export_the_error_says_what_to_install(tmp_path):
    script = WITHOUT_TORCH + textwrap.dedent(f"""
        import os
        os.environ["SEARCH_MODEL_CACHE"] = {str(tmp_path / "no-models")!r}
        from encoders.towers import MissingTrainingInstall, load_tower
        try:
            load_tower(None, "onnx", exports=[{str(tmp_path)!r}])
        except MissingTrainingInstall as exc:
            print(exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "no exported onnx tower for 'all-MiniLM-L6-v2'" in run.stdout and ".[train]" in run.stdout


def test_processes_exporting_the_same_tower_at_once_all_get_one_whole_export(onnx_tower, tmp_path):
    # Every gunicorn worker exports on start: none may fail, and none may see half an export.
    from concurrent.futures import ThreadPoolExecutor

    from encoders.exported_tower import find_export, read_info

    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: onnx_tower.export(tmp_path), range(16)))
    assert len(set(folders)) == 1 and read_info(folders[0]).vectors_key == onnx_tower.vectors_key
    assert [p.name for p in tmp_path.iterdir()] == [folders[0].name]  # no leftovers
    assert find_export([tmp_path], "all-MiniLM-L6-v2", "onnx", "query") == folders[0]
