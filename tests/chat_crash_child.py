"""A chat that gets killed: run by tests/test_chat_page.py, which SIGKILLs it mid-reply.

    python tests/chat_crash_child.py DATABASE MODEL [regenerate]

Opens the real chat page (offscreen) on DATABASE, loads MODEL, sends PROMPT
and streams a long reply, saving it every 0.1 s. It prints one line per
event, flushed at once, so the parent knows what is on disk:
``ADDED <id> <role>`` when a message is committed, ``SAVED <id> <chars>``
after each save of the streaming reply. With ``regenerate`` the first reply is short;
then ``REGENERATING`` is printed and the long reply is a regenerated one (the first
stays as its other version).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "Write a long story about a dragon who learns to sing."
FLUSH_INTERVAL_S = 0.1


def main() -> int:
    database, model = Path(sys.argv[1]), sys.argv[2]
    regenerate = sys.argv[3:] == ["regenerate"]
    from PySide6.QtWidgets import QApplication

    from lmdesk.core.chats import ChatStore
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.settings import Settings
    from lmdesk.ui.pages.chat.page import ChatPage
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

    app = QApplication([])
    store = ChatStore.open(database, flush_interval_s=FLUSH_INTERVAL_S)
    context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
    page = ChatPage(context, store=store, flush_interval_s=FLUSH_INTERVAL_S)
    values = page.session.sampling().with_changes(
        temperature=0.0, max_tokens=2000, seed=1, repeat_penalty=1.0
    )
    page.session.set_sampling(values.with_changes(max_tokens=4) if regenerate else values)

    def say(line: str) -> None:
        print(line, flush=True)

    page.session.message_added.connect(lambda m: say(f"ADDED {m.id} {m.role}"))
    page.session.reply_saved.connect(lambda mid, chars: say(f"SAVED {mid} {chars}"))
    page.session.notice.connect(lambda level, text: say(f"NOTICE {level} {text}"))
    replies = [0]

    def finished(_stats: object) -> None:
        replies[0] += 1
        if regenerate and replies[0] == 1:
            say("REGENERATING")
            page.session.set_sampling(values)
            page.session.regenerate()
            return
        say("FINISHED")
        app.quit()

    page.session.reply_finished.connect(finished)
    page.controller.loaded.connect(lambda _m: page.send(PROMPT))
    page.controller.load_failed.connect(lambda text: (say(f"LOAD FAILED {text}"), app.quit()))
    page.load_model(model, LoadSettings(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1))
    app.exec()
    page.shutdown()
    context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
