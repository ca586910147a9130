"""Images through llama.cpp's multimodal library: the real SmolLM2 with a small real projector
(tests/mmproj_factory.py), real PNG bytes, and the refusals a person can run into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mmproj_factory import png, write_mmproj

from lmdesk.core.engine import Engine, ReplyStats
from lmdesk.core.engine.errors import GenerationError, ModelFileError
from lmdesk.core.images import ImageError, image_facts
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings

SMOLLM2_EMBD = 576


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mmproj(tmp_path_factory.mktemp("vision") / "mmproj.gguf", text_embd=SMOLLM2_EMBD)


@pytest.fixture(scope="module")
def engine(smollm2_path: Path, projector: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(smollm2_path, LoadSettings(n_ctx=1024, n_threads=1, mmproj=str(projector)))
    yield engine
    engine.unload()


def test_a_message_with_an_image_is_answered_through_libmtmd(
    engine: Engine, tmp_path: Path
) -> None:
    picture = tmp_path / "gradient.png"
    picture.write_bytes(png(48, 40))
    assert engine.sees_images
    message = {"role": "user", "content": "What is in this picture?", "images": str(picture)}
    *chunks, stats = list(engine.chat([message], SamplingSettings(temperature=0, max_tokens=6)))
    assert isinstance(stats, ReplyStats)
    assert 1 <= stats.generated_tokens <= 6 and stats.text == "".join(c.text for c in chunks)
    text_only = engine.count_message_tokens([{"role": "user", "content": message["content"]}])
    # The picture took positions of its own (4 patches), beyond the text's tokens.
    assert stats.prompt_tokens > text_only
    # The next, text-only reply starts from a clean cache and works as usual.
    *_, again = list(
        engine.chat([{"role": "user", "content": "Hi"}], SamplingSettings(max_tokens=3))
    )
    assert isinstance(again, ReplyStats) and again.cached_tokens == 0


def test_a_file_that_is_not_an_image_is_refused_with_a_message(
    engine: Engine, tmp_path: Path
) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    message = {"role": "user", "content": "Look", "images": str(fake)}
    with pytest.raises(GenerationError, match="not an image"):
        list(engine.chat([message], SamplingSettings(max_tokens=2)))
    *_, stats = list(
        engine.chat([{"role": "user", "content": "Hi"}], SamplingSettings(max_tokens=2))
    )
    assert isinstance(stats, ReplyStats)  # the engine is still usable


def test_a_200_megapixel_image_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    huge = png(20_000, 10_000, pixels=False)  # only the header: the size is read from it
    with pytest.raises(ImageError, match="200 megapixels"):
        image_facts(huge, name="panorama.png")
    facts = image_facts(png(48, 40))
    assert (facts.format, facts.width, facts.height) == ("png", 48, 40)


def test_a_projector_of_another_model_is_refused(smollm2_path: Path, tmp_path: Path) -> None:
    other = write_mmproj(tmp_path / "mmproj-other.gguf", text_embd=2048)
    engine = Engine()
    with pytest.raises(ModelFileError, match="belongs to another model: it makes 2048-wide"):
        engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1, mmproj=str(other)))
    assert not engine.loaded  # nothing half-loaded stays behind
    not_projector = tmp_path / "model-copy.gguf"
    not_projector.write_bytes(smollm2_path.read_bytes()[:1_000_000])
    with pytest.raises(ModelFileError, match="not a vision projector"):
        engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1, mmproj=str(not_projector)))


def test_images_without_a_projector_get_a_clear_error(smollm2_path: Path, tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(png(8, 8))
    engine = Engine()
    engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1))
    try:
        with pytest.raises(GenerationError, match="cannot see images"):
            engine.chat([{"role": "user", "content": "x", "images": str(picture)}])
    finally:
        engine.unload()
