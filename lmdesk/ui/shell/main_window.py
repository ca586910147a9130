"""The main window: sidebar, error banner, the pages (built on first visit), status bar.

Start-up paints first and does the rest after: the GPU monitor, the
llama.cpp build lookup and the model loaded at start (`autoload`) start once
the window has been painted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core import paths
from lmdesk.core.logs import describe_exception
from lmdesk.core.settings import Settings
from lmdesk.ui.kit.folder_choice import CHOOSE_MODELS_FOLDER, choose_models_folder
from lmdesk.ui.kit.icons import app_icon
from lmdesk.ui.kit.palette import theme_controller
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore, any_model_present
from lmdesk.ui.services.errors import ErrorBanner, error_bridge, show_error
from lmdesk.ui.services.gpu_feed import GpuFeed
from lmdesk.ui.services.task_group import TaskGroup
from lmdesk.ui.shell import shortcuts, window_state
from lmdesk.ui.shell.autoload import AutoLoader
from lmdesk.ui.shell.page_registry import page_spec, page_specs, placeholder_page
from lmdesk.ui.shell.sidebar import Sidebar
from lmdesk.ui.shell.status_bar import StatusBar
from lmdesk.ui.shell.welcome import StarterFetch, WelcomePage

_log = logging.getLogger(__name__)

DEFAULT_SIZE = (1280, 800)
CHAT = "chat"


class MainWindow(QMainWindow):
    first_painted = Signal()
    """Emitted once, after the window's first paint (start-up timing, deferred work)."""

    def __init__(
        self,
        context: AppContext | None = None,
        *,
        starter_fetch: StarterFetch | None = None,
        gpu_feed: GpuFeed | None = None,
    ) -> None:
        super().__init__()
        self.context = context or AppContext(settings=SettingsStore(), signals=AppSignals())
        self.signals = self.context.signals
        self.new_chat_requested = self.signals.new_chat_requested
        self.load_model_requested = self.signals.load_model_requested
        self._starter_fetch = starter_fetch
        self.gpu_feed = gpu_feed or GpuFeed(parent=self)
        self._painted = False
        self._shut_down = False
        self._tasks = TaskGroup(self)  # the shell's own background work
        self.models = self.context.models  # the loaded model's owner, before any page exists
        self._autoload = AutoLoader(self.context, chat_page=self._ensure_chat_page)
        self._dialogs: dict[str, QWidget] = {}
        self.pages: dict[str, QWidget] = {}
        self.setWindowTitle("lmdesk")
        self.setWindowIcon(app_icon())

        self.sidebar = Sidebar()
        self.banner = ErrorBanner()
        self.stack = QStackedWidget()
        self.status = StatusBar()  # in the right column: the sidebar runs the full height
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(self.banner)
        right.addWidget(self.stack, 1)
        right.addWidget(self.status)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.sidebar)
        row.addLayout(right, 1)
        self.setCentralWidget(central)

        for index, spec in enumerate(page_specs()):
            keys = shortcuts.PAGE_KEYS[index] if index < len(shortcuts.PAGE_KEYS) else None
            self.sidebar.add_page(spec.key, spec.title, spec.icon, keys)
            if keys:
                shortcuts.add_shortcut(self, keys, partial(self.show_page, spec.key))
        shortcuts.add_shortcut(self, shortcuts.SETTINGS, self.open_settings)
        shortcuts.add_shortcut(self, shortcuts.NEW_CHAT, self.request_new_chat)
        shortcuts.add_shortcut(self, shortcuts.QUIT, self.close)
        shortcuts.add_shortcut(self, shortcuts.ABOUT, self.open_about)
        self._connect()
        if not window_state.restore_geometry(self):
            self.resize(*self._default_size())
        last = window_state.last_page()
        self.show_page(last if last in {s.key for s in page_specs()} else CHAT)

    def _default_size(self) -> tuple[int, int]:
        """1280×800, or 90% of a smaller screen."""
        screen = self.screen().availableGeometry()
        width, height = DEFAULT_SIZE
        return min(width, int(screen.width() * 0.9)), min(height, int(screen.height() * 0.9))

    def _connect(self) -> None:
        self.models.loading.connect(lambda path, _settings: window_state.save_last_model(path))
        self.models.plan_failed.connect(lambda message: show_error(self, message, None))
        self.sidebar.page_selected.connect(self.show_page)
        self.sidebar.settings_clicked.connect(self.open_settings)
        error_bridge().sig_error.connect(self.banner.show_message)
        s = self.signals
        s.navigate_requested.connect(self.show_page)
        s.model_changed.connect(self.status.set_model)
        s.token_rate.connect(self.status.set_token_rate)
        s.downloads_changed.connect(self.status.set_downloads)
        s.llama_build.connect(self.status.set_llama_build)
        s.models_changed.connect(self._leave_welcome_if_models)
        self.context.settings.changed.connect(self._apply_theme)
        self.gpu_feed.sig_probe.connect(self._on_probe)

    def _apply_theme(self, settings: Settings) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme_controller(app, settings.theme)

    # -- pages -----------------------------------------------------------------------------
    @property
    def current_page(self) -> str | None:
        return self.sidebar.current()

    def show_page(self, key: str) -> None:
        """Show page `key`, building it on its first visit."""
        if key not in self.pages:
            self._add_page(key, self._build_page(key))
        self.stack.setCurrentWidget(self.pages[key])
        self.sidebar.set_current(key)

    def _build_page(self, key: str) -> QWidget:
        if key == CHAT and not self._models_present():
            return self._welcome_page()
        spec = page_spec(key)
        try:
            return spec.factory(self.context)
        except Exception as exc:  # a broken page must not take the window with it
            message, details = describe_exception(type(exc), exc, exc.__traceback__)
            show_error(self, f"The {spec.title} page could not be opened", details)
            return placeholder_page(spec.title, f"This page could not be opened: {message}")

    def _add_page(self, key: str, widget: QWidget) -> None:
        self.pages[key] = widget
        self.stack.addWidget(widget)

    def _replace_page(self, key: str, widget: QWidget) -> None:
        old = self.pages.pop(key, None)
        shown = old is not None and self.stack.currentWidget() is old
        self._add_page(key, widget)
        if shown:
            self.stack.setCurrentWidget(widget)
        if old is not None:
            self.stack.removeWidget(old)
            old.deleteLater()

    def _welcome_page(self) -> WelcomePage:
        page = WelcomePage(self.context, fetch=self._starter_fetch)
        page.browse_requested.connect(lambda: self.show_page("discover"))
        page.starter_ready.connect(self._autoload.load)
        return page

    @property
    def welcome_page(self) -> WelcomePage | None:
        page = self.pages.get(CHAT)
        return page if isinstance(page, WelcomePage) else None

    def _leave_welcome_if_models(self) -> None:
        welcome = self.welcome_page
        if welcome is not None and not welcome.busy and self._models_present():
            self._ensure_chat_page()

    def _models_present(self) -> bool:
        return any_model_present(self.context.settings.model_dirs())

    def _ensure_chat_page(self) -> None:
        """Build the chat page if it is not built yet, or the welcome page stands in its place."""
        if self.welcome_page is not None or CHAT not in self.pages:
            self._replace_page(CHAT, self._build_page(CHAT))

    # -- dialogs and actions ---------------------------------------------------------------
    def request_new_chat(self) -> None:
        self.show_page(CHAT)
        self.signals.new_chat_requested.emit()

    def _dialog(self, name: str, build: Callable[[], QWidget]) -> QWidget:
        dialog = self._dialogs.get(name)
        if dialog is None:
            dialog = build()
            dialog.finished.connect(lambda _result: self._dialogs.pop(name, None))  # type: ignore[attr-defined]
            self._dialogs[name] = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def open_settings(self) -> QWidget:
        from lmdesk.ui.shell.settings_dialog import SettingsDialog

        return self._dialog("settings", lambda: SettingsDialog(self.context.settings, self))

    def open_about(self) -> QWidget:
        from lmdesk.ui.shell.about import AboutDialog

        return self._dialog("about", lambda: AboutDialog(self))

    # -- start-up and shutdown -------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._after_first_paint)

    def _after_first_paint(self) -> None:
        self.first_painted.emit()
        if self._shut_down:  # closed by a first_painted listener (the start-up benchmark)
            return
        for warning in self.context.settings.settings.warnings:
            show_error(self, "Some settings were reset", warning, level="warning")
        self._show_folder_problems()
        self.gpu_feed.start()
        if self.context.llama_build is None:
            from lmdesk.core.gpus import llama_build_info

            self._run(lambda _p: llama_build_info(), name="llama-build", done=self._on_build)
        if self.welcome_page is None:  # else the welcome page offers the starter model
            self._autoload.load_at_start()
        if self.context.settings.settings.server.run_at_start:  # it was on when lmdesk closed
            self.context.api.start()

    def _show_folder_problems(self) -> None:
        """Folders that cannot be created or read: say so, and offer another models folder."""
        places = paths.problems()
        if places:
            message = (
                places[0]
                if len(places) == 1
                else (
                    f"{len(places)} of lmdesk's folders cannot be used; "
                    "this session keeps its files in a temporary folder."
                )
            )
            show_error(self, message, "\n".join(places), level="warning")
        problem = paths.folder_problem(self.context.settings.models_dir())
        if problem:
            _log.info("models folder: %s", problem)
            self.banner.show_message(
                f"The models folder {problem}. Choose another folder for your models.",
                level="error",
                action=(CHOOSE_MODELS_FOLDER, self.choose_models_folder),
            )

    def choose_models_folder(self) -> QWidget:
        """The non-modal folder picker; the choice is saved as the models_dir setting."""
        return choose_models_folder(self, self.context.settings)

    def _run(
        self, work: Callable[[object], object], *, name: str, done: Callable[[object], None]
    ) -> None:
        """Run `work` on a worker thread; `done(result)` on the GUI thread; errors in the banner."""
        self._tasks.start(
            work,
            name=name,
            done=done,
            failed=lambda message, details: show_error(self, message, details),
        )

    def _on_build(self, build: object) -> None:
        self.context.llama_build = build  # type: ignore[assignment]
        self.signals.llama_build.emit(build)

    def _on_probe(self, probe: object) -> None:
        self.context.latest_probe = probe  # type: ignore[assignment]
        self.status.set_gpu_probe(probe)  # type: ignore[arg-type]
        self.signals.gpu_probe.emit(probe)

    def closeEvent(self, event: QCloseEvent) -> None:
        window_state.save_window_state(self, self.current_page)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop everything in order; safe to call twice (close, then aboutToQuit).

        The GPU monitor, then shared services with `close()` in
        `context.extras` (downloads stop, keeping partial files), then each
        page's `shutdown()` (the chat page saves what it has), then the context's
        model host (its inference thread, the loaded model), then the shell's own
        background work.
        """
        if self._shut_down:
            return
        self._shut_down = True
        self.gpu_feed.stop()
        for name, service in list(self.context.extras.items()):
            self._call_quietly(f"closing {name}", getattr(service, "close", None))
        for key, page in self.pages.items():
            self._call_quietly(f"shutting down the {key} page", getattr(page, "shutdown", None))
        if self.welcome_page is not None:
            self.welcome_page.cancel()
            self.welcome_page.wait(timeout_s)
        self._call_quietly("closing the model", self.context.close)
        self._tasks.cancel_all()
        self._tasks.wait_all(timeout_s)
        for dialog in list(self._dialogs.values()):
            dialog.close()

    @staticmethod
    def _call_quietly(what: str, action: Callable[[], object] | None) -> None:
        """Shutdown goes on when one part fails: log it and continue."""
        if action is None:
            return
        try:
            action()
        except Exception:
            _log.exception("failed %s", what)
