"""Presets: named system prompt + sampling, applied per chat; a per-model default over the
model file's recommended sampling; all of it survives a restart. Real widgets, real SQLite,
real llama.cpp."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from gguf import GGUFValueType
from gguf_factory import write_model
from pytestqt.qtbot import QtBot

from lmdesk.core.chats import ChatStore, PresetNotFoundError
from lmdesk.core.sampling import SamplingSettings, model_card_sampling
from lmdesk.ui.pages.chat.page import ChatPage


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


def test_presets_and_model_preferences_are_kept_in_the_database(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        store.save_preset("Terse", system_prompt="Be terse.", sampling={"temperature": 0.1})
        store.save_preset("terse two", system_prompt="", sampling={"top_k": 5})
        store.set_model_preset("/m/a.gguf", "Terse")
        store.set_model_template("/m/a.gguf", "{{ messages }}")
        with pytest.raises(PresetNotFoundError):
            store.set_model_preset("/m/a.gguf", "Missing")
        with pytest.raises(ValueError, match="needs a name"):
            store.save_preset("  ", system_prompt="", sampling={})
    with ChatStore(path) as store:
        assert [p.name for p in store.presets()] == ["Terse", "terse two"]
        assert store.preset("Terse").system_prompt == "Be terse."
        prefs = store.model_preferences("/m/a.gguf")
        assert prefs.preset == "Terse" and prefs.chat_template == "{{ messages }}"
        store.delete_preset("Terse")  # the model's default goes with it
        assert store.model_preferences("/m/a.gguf").preset is None
        assert store.model_preferences("/m/other.gguf").chat_template is None


def test_the_model_files_recommended_sampling_is_read() -> None:
    card = model_card_sampling(
        {"general.sampling.temp": "0.6", "general.sampling.top_k": "20", "general.x": "1"}
    )
    assert card == {"temperature": 0.6, "top_k": 20.0}
    applied = SamplingSettings.from_stored(card, SamplingSettings())
    assert applied.temperature == 0.6 and applied.top_k == 20


def test_a_preset_is_applied_per_chat_and_a_models_default_survives_a_restart(
    qtbot: QtBot, make_page: Callable[[], ChatPage], tmp_path: Path
) -> None:
    model = write_model(
        tmp_path / "carded.gguf",
        extra={
            "general.sampling.temp": (0.6, GGUFValueType.FLOAT32),
            "general.sampling.top_k": (20, GGUFValueType.INT32),
        },
    )
    page = make_page()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(model), SETTINGS.with_changes(n_ctx=256))
    # A new chat starts from the model file's recommended sampling.
    page.new_chat()
    assert page.session.sampling().temperature == pytest.approx(0.6)
    assert page.session.sampling().top_k == 20
    # Keep this chat's prompt and sampling as a preset.
    page.session.set_system_prompt("Answer in one word.")
    page.session.set_sampling(page.session.sampling().with_changes(temperature=0.2, top_p=0.5))
    bar = page.sampling.presets
    bar.name.setText("One word")
    bar.save_button.click()
    assert bar.combo.currentText() == "One word"
    # Another chat: apply it.
    page.store.add_message(page.session.conversation_id, "user", "hello")
    page.new_chat()
    assert page.session.conversation is not None
    assert page.session.conversation.system_prompt == ""
    bar.apply_button.click()
    assert page.session.conversation.system_prompt == "Answer in one word."
    assert page.system_prompt.text() == "Answer in one word."
    assert page.session.sampling().temperature == pytest.approx(0.2)
    assert page.session.sampling().top_p == pytest.approx(0.5)
    # The model's default: new chats with this model start from the preset.
    bar.model_default.setChecked(True)
    assert page.store.model_preferences(str(model)).preset == "One word"
    page.store.add_message(page.session.conversation_id, "user", "hi")
    page.shutdown()

    again = make_page()  # a restart: presets and the model's default are still there
    with qtbot.waitSignal(again.controller.loaded, timeout=60_000):
        again.load_model(str(model), SETTINGS.with_changes(n_ctx=256))
    again.new_chat()
    assert again.session.conversation is not None
    assert again.session.conversation.system_prompt == "Answer in one word."
    assert again.session.sampling().temperature == pytest.approx(0.2)
    assert again.session.sampling().top_k == 20  # the model card's, the preset kept it
    assert again.sampling.presets.model_default.isChecked()
    again.tabs.setCurrentWidget(again.sampling)
    again.grab().save(str(tmp_path / "presets.png"))
