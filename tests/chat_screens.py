"""A screenshot of the main window on the chat page for the README, after real streamed replies.

    QT_QPA_PLATFORM=offscreen python tests/chat_screens.py [out_dir]

writes chat.png (1280x800: the page bar, conversations, messages with their
stats lines and a reply's Thinking block opened, the composer with its context gauge,
the Load panel, the status bar) to docs/screenshots/ by default. The thinking is real:
SmolLM2 under a DeepSeek-R1-style template (the prompt opens ``<think>``), shown two
earlier turns that think briefly, then answer. The model is the real
SmolLM2-135M-Instruct (the test cache's copy, fetched if missing); replies are
greedy, so the picture is repeatable on a given llama.cpp build. The profile is a throwaway folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = (1280, 800)
THINKING_TEMPLATE = (  # earlier turns show their thinking, as a reasoning model's would
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.reasoning_content is defined %}<think>\n{{ m.reasoning_content }}\n</think>\n\n"
    "{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
SHOTS = (  # (question, thinking, answer): stored turns that teach the format
    ("What is 1 + 1?", "One plus one is two.", "2"),
    ("What is 3 + 3?", "Three plus three is six.", "6"),
)
QUESTIONS = ("What is 2 + 2?",)
OLDER = (  # (days ago, title, question): earlier conversations for the list
    (1, "Poem about GPUs", "Write a short poem about GPUs."),
    (3, "Trip to Lisbon", "What should I see in Lisbon in two days?"),
    (9, "Sourdough starter", "How often should I feed a sourdough starter?"),
)


def add_older_conversations() -> None:
    from lmdesk.core.chats import ChatStore, default_database_path

    for days, title, question in OLDER:
        when = time.time() - days * 86_400
        with ChatStore(default_database_path(), now=lambda when=when: when) as store:
            conversation = store.create_conversation(title)
            store.add_message(conversation.id, "user", question)


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    os.environ["LMDESK_HOME"] = tempfile.mkdtemp(prefix="lmdesk-screens-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.settings import Settings
    from lmdesk.core.starter import ensure_starter_model
    from lmdesk.ui.kit.palette import theme_controller
    from lmdesk.ui.pages.chat.page import ChatPage
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
    from lmdesk.ui.shell.main_window import MainWindow

    cache = Path(os.environ.get("LMDESK_TEST_CACHE", Path.home() / ".cache" / "lmdesk-tests"))
    model = ensure_starter_model(cache / "models")
    add_older_conversations()
    app = QApplication.instance() or QApplication([])
    theme_controller(app, "light")  # type: ignore[arg-type]
    settings = SettingsStore(Settings(models_dir=str(model.parent)))
    window = MainWindow(AppContext(settings=settings, signals=AppSignals()))
    window.resize(*SIZE)
    window.show()
    window.show_page("chat")
    page = window.pages["chat"]
    assert isinstance(page, ChatPage), "the starter model is in the models folder"

    def wait_for(signal: object, timeout_s: float = 120) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()

    from lmdesk.core.engine.templates import CustomTemplate

    page.load_model(str(model), LoadSettings(n_ctx=4096, n_threads=2))
    wait_for(page.controller.loaded)
    page.controller.set_chat_template(CustomTemplate(THINKING_TEMPLATE))
    wait_for(page.controller.template_changed)
    conversation = page.store.create_conversation("Sums, thought through")
    for question, thought, answer in SHOTS:
        page.store.add_message(conversation.id, "user", question)
        page.store.add_message(conversation.id, "assistant", answer, reasoning=thought)
    page.conversations.refresh(select=conversation.id)
    page.session.open(conversation.id)
    values = page.session.sampling().with_changes(temperature=0.0, max_tokens=60, seed=1)
    page.session.set_sampling(values)
    page.sampling.set_values(values)
    for question in QUESTIONS:
        page.composer.edit.setPlainText(question)
        page.send(question)
        wait_for(page.session.reply_finished)
    page.messages.widgets()[-1].thinking.toggle.click()  # open the last reply's thinking
    page.composer.edit.setPlainText("And 5 + 5?")
    deadline = time.monotonic() + 10
    while not page.composer.gauge.exact and time.monotonic() < deadline:
        app.processEvents()  # the gauge's exact count arrives from the worker
        time.sleep(0.02)
    speed = page.models.panel.speed  # the Load panel's predicted speed, once measured
    while speed.prediction() is None and time.monotonic() < deadline + 60:
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "chat.png"
    window.grab().save(str(target))
    print(f"wrote {target}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
