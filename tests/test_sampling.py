"""The one typed sampling value: defaults, what a conversation stores, presets, the cap."""

from __future__ import annotations

import pytest

from lmdesk.core.sampling import PRESETS, SamplingSettings
from lmdesk.core.settings import SamplingDefaults


def test_the_settings_defaults_become_sampling() -> None:
    s = SamplingSettings.from_defaults(SamplingDefaults(temperature=0.3, seed=-1))
    assert (s.temperature, s.max_tokens, s.seed) == (0.3, 1024, None)
    s = SamplingSettings.from_defaults(SamplingDefaults(max_tokens=256, seed=7))
    assert (s.max_tokens, s.seed) == (256, 7)


def test_a_conversation_stores_and_reads_back_the_same_value() -> None:
    chosen = SamplingSettings(temperature=0.0, top_k=5, max_tokens=12, seed=1)
    stored = chosen.to_stored()
    assert stored == {
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 5,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
        "max_tokens": 12,
        "seed": 1,
    }
    assert SamplingSettings.from_stored(stored, SamplingSettings()) == chosen


def test_unusable_stored_values_keep_the_defaults_and_the_rest_is_read() -> None:
    base = SamplingSettings(temperature=0.5)
    stored = {"temperature": "hot", "top_k": 2.5, "top_p": 7, "seed": True, "min_p": 0.2}
    read = SamplingSettings.from_stored(stored, base)
    assert (read.temperature, read.top_k, read.top_p, read.seed) == (0.5, 40, 0.9, None)
    assert read.min_p == 0.2
    assert SamplingSettings.from_stored({"max_tokens": 0, "seed": -1}, base).max_tokens is None
    assert SamplingSettings.from_stored(None, base) == base


def test_presets_and_the_reply_cap() -> None:
    mine = SamplingSettings(max_tokens=900, seed=3).with_preset("Precise")
    assert mine.preset_name() == "Precise" and (mine.max_tokens, mine.seed) == (900, 3)
    assert mine.temperature == PRESETS["Precise"].temperature
    assert mine.with_changes(temperature=0.55).preset_name() is None
    assert mine.capped(1024).max_tokens == 512 and mine.capped(4096).max_tokens == 900


def test_openai_penalties_are_bounded_and_a_grammar_is_text() -> None:
    settings = SamplingSettings(
        presence_penalty=0.5, frequency_penalty=-0.5, grammar='root ::= "a"'
    )
    assert settings.with_changes(max_tokens=3).grammar == 'root ::= "a"'
    for name in ("presence_penalty", "frequency_penalty"):
        with pytest.raises(ValueError, match=name):
            SamplingSettings(**{name: 2.5})


def test_thinking_switches_are_kept_per_chat_and_reach_the_template() -> None:
    base = SamplingSettings()
    assert "thinking" not in base.to_stored() and base.template_variables() == {}
    chosen = base.with_changes(thinking=False, reasoning_effort="high")
    stored = chosen.to_stored()
    assert stored["thinking"] is False and stored["reasoning_effort"] == "high"
    assert SamplingSettings.from_stored(stored, base) == chosen
    assert chosen.template_variables() == {"enable_thinking": False, "reasoning_effort": "high"}
    damaged = {"thinking": "yes", "reasoning_effort": "extreme"}
    assert SamplingSettings.from_stored(damaged, base) == base  # unusable values: defaults kept
    with pytest.raises(ValueError, match="reasoning effort"):
        SamplingSettings(reasoning_effort="max")
