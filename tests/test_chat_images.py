"""Pictures in the chat page: real SmolLM2 with a small real projector beside it (paired by
the engine), a real PNG through the composer, libmtmd, SQLite, and a restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from mmproj_factory import png, write_mmproj
from pytestqt.qtbot import QtBot
from test_vision import SMOLLM2_EMBD

from lmdesk.ui.pages.chat.page import ChatPage

REPLY_TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


@pytest.fixture
def vision_model(smollm2_path: Path, tmp_path: Path) -> Path:
    """SmolLM2 in a folder of its own (a link), with a projector beside it, as downloaded."""
    folder = tmp_path / "models" / "smol-vision"
    folder.mkdir(parents=True)
    model = folder / smollm2_path.name
    model.symlink_to(smollm2_path)
    write_mmproj(folder / "mmproj-smol-f32.gguf", text_embd=SMOLLM2_EMBD)
    return model


def test_a_picture_is_attached_answered_and_kept_across_a_restart(
    qtbot: QtBot, make_page: Callable[[], ChatPage], vision_model: Path, tmp_path: Path
) -> None:
    page = make_page()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000) as loaded:
        page.load_model(str(vision_model), SETTINGS)
    assert loaded.args[0].report.projector.endswith("mmproj-smol-f32.gguf")  # paired
    composer = page.composer
    assert composer.attach_button.isVisible()

    # Not an image: refused with a sentence, nothing attached.
    notes = tmp_path / "notes.png"
    notes.write_text("just text")
    with qtbot.waitSignal(composer.image_refused, timeout=10_000) as refused:
        composer.add_files([str(notes)])
    assert "not an image" in refused.args[0] and composer.images() == []

    picture = tmp_path / "gradient.png"
    picture.write_bytes(png(64, 48))
    with qtbot.waitSignal(composer.images_changed, timeout=10_000):
        composer.add_files([str(picture)])
    assert [name for name, _ in composer.images()] == ["gradient.png"]
    assert len(composer.strip.thumbnails) == 1

    page.session.set_sampling(page.session.sampling().with_changes(temperature=0, max_tokens=6))
    composer.edit.setPlainText("What is in this picture?")
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as finished:
        composer.send_button.click()
    stats = finished.args[0]
    assert stats.generated_tokens >= 1 and composer.images() == []
    conversation_id = page.session.conversation_id
    assert conversation_id is not None
    question = page.store.messages(conversation_id)[0]
    kept = page.store.attachments(conversation_id)[question.id]
    assert [a.name for a in kept] == ["gradient.png"] and kept[0].data.startswith(b"\x89PNG")
    widget = page.messages.widget_for(question.id)
    assert widget is not None and len(widget.pictures.thumbnails) == 1
    page.grab().save(str(tmp_path / "images.png"))
    page.shutdown()

    again = make_page()  # a restart: the picture is read back from the database
    again.session.open(conversation_id)
    widget = again.messages.widget_for(question.id)
    assert widget is not None and len(widget.pictures.thumbnails) == 1
    assert not widget.pictures.isHidden()
    # Deleting the chat deletes its pictures: the rows and the files the engine read.
    files = tmp_path / "chat-images" / str(conversation_id)
    assert any(files.iterdir())
    again.session.delete(conversation_id)
    assert not files.exists() and again.store.attachments(conversation_id) == {}


def test_a_model_without_a_projector_offers_no_pictures(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    assert page.composer.attach_button.isHidden()
    with qtbot.waitSignal(page.session.notice, timeout=5_000) as notice:
        assert not page.session.send("Look", [("p.png", png(8, 8))])
    assert "cannot see pictures" in notice.args[1]
