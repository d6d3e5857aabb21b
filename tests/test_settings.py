import pytest

from search_engine.settings import load_settings


def test_defaults_toml_then_environment_then_overrides(tmp_path):
    config = tmp_path / "search.toml"
    config.write_text('index_root = "/srv/index"\ndense_weight = 0.3\nfusion = "rrf"\n')
    settings = load_settings(config, env={"SEARCH_DENSE_WEIGHT": "0.7", "SEARCH_FAISS_THREADS": "2"})
    assert settings.index_root == "/srv/index" and settings.fusion == "rrf"
    assert settings.dense_weight == 0.7 and settings.faiss_threads == 2
    assert load_settings(config, env={}, index_root="/other").index_root == "/other"
    assert load_settings(env={}).model == "all-MiniLM-L6-v2"


def test_bad_settings_are_named(tmp_path):
    config = tmp_path / "search.toml"
    config.write_text('fusoin = "rrf"\n')
    with pytest.raises(ValueError, match="unknown setting.*fusoin"):
        load_settings(config, env={})
    with pytest.raises(ValueError, match="unknown fusion 'max'"):
        load_settings(env={"SEARCH_FUSION": "max"})
    with pytest.raises(ValueError, match="setting candidates: 'many'"):
        load_settings(env={"SEARCH_CANDIDATES": "many"})


def test_a_renamed_setting_is_refused_not_ignored(tmp_path):
    from search_engine.settings import load_settings

    with pytest.raises(ValueError, match="now synonyms_file"):
        load_settings(env={"SEARCH_ELASTICSEARCH_SYNONYMS_FILE": "synonyms.txt"})
    config = tmp_path / "search.toml"
    config.write_text('elasticsearch_synonyms_file = "synonyms.txt"\n')
    with pytest.raises(ValueError, match="SEARCH_SYNONYMS_FILE"):
        load_settings(config, env={})
    assert load_settings(env={"SEARCH_SYNONYMS_FILE": "synonyms.txt"}).synonyms_file == "synonyms.txt"
