"""Loading a model nobody picked: the one used last when the app starts, the starter once fetched.

The chat page takes the welcome page's place, and `load_model_requested` goes out
without settings: the context's `ModelHost` plans the load by the one rule
(`core.load_plan`) on a worker thread. The main window owns the pages and hands in
how to build the chat page.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from lmdesk.ui.services.context import AppContext
from lmdesk.ui.shell import window_state

NO_AUTOLOAD_ENV = "LMDESK_NO_AUTOLOAD"  # tests that only look at the window set it


class AutoLoader:
    """Asks for the model used last (or the starter) to be loaded, with the chat page shown."""

    def __init__(self, context: AppContext, *, chat_page: Callable[[], None]) -> None:
        """`chat_page` builds the chat page, in place of the welcome page if that is shown."""
        self.context = context
        self._chat_page = chat_page

    def load_at_start(self) -> None:
        """Ready to chat at once: load the model used last, else the starter model if present."""
        if os.environ.get(NO_AUTOLOAD_ENV):
            return
        from lmdesk.core.load_plan import model_to_load_at_start
        from lmdesk.core.remote_engines import servers_from_setting

        settings = self.context.settings
        servers = servers_from_setting(settings.settings.remote_servers)
        path = model_to_load_at_start(window_state.last_model(), settings.models_dir(), servers)
        if path is not None:
            self.load(path)

    def load(self, path: str) -> None:
        """Show the chat page (in place of the welcome page) and load `path` as nobody chose:
        the model host plans it with `core.load_plan`'s rule, off the GUI thread (a remote
        server's "server / model id" goes to that server)."""
        self._chat_page()
        self.context.signals.models_changed.emit()
        self.context.signals.load_model_requested.emit(path, None)
