"""The local runtime's SAM translation cache: a hit skips the translator, and the cache stays bounded."""

from __future__ import annotations

import pytest

from local_runtime import sam_template as stack

pytestmark = pytest.mark.unit


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def fake_translate(sam, parameters, region):
        calls.append(dict(parameters))
        return {"Resources": {}, "Translated": dict(parameters)}

    monkeypatch.setattr(stack, "translate", fake_translate)
    return calls


def test_the_same_input_is_translated_once(tmp_path, translations):
    first = stack.translate_cached({"Resources": {}}, {"Url": "a"}, "us-east-1", tmp_path)
    again = stack.translate_cached({"Resources": {}}, {"Url": "a"}, "us-east-1", tmp_path)

    assert first == again == {"Resources": {}, "Translated": {"Url": "a"}}
    assert translations == [{"Url": "a"}]


def test_the_cache_keeps_only_the_most_recently_used_translations(tmp_path, translations, monkeypatch):
    monkeypatch.setattr(stack, "TRANSLATION_CACHE_ENTRIES", 3)
    for port in range(6):
        stack.translate_cached({"Resources": {}}, {"Url": f"http://127.0.0.1:{port}"}, "us-east-1", tmp_path)

    assert len(list(tmp_path.glob("*.json"))) == 3
    stack.translate_cached({"Resources": {}}, {"Url": "http://127.0.0.1:5"}, "us-east-1", tmp_path)
    assert len(translations) == 6  # the newest is still cached
    stack.translate_cached({"Resources": {}}, {"Url": "http://127.0.0.1:0"}, "us-east-1", tmp_path)
    assert len(translations) == 7  # the oldest was pruned
