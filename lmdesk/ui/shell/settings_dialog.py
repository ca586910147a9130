"""Settings: folders, Hugging Face, model defaults, remote servers, downloads, GPU margin, theme.

Non-modal (`show()`); Save checks every value through the settings schema
and keeps the dialog open with an inline message when one is not allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.cpu_threads import default_threads
from lmdesk.core.hub.endpoint import DEFAULT_ENDPOINT, hub_endpoint
from lmdesk.core.settings import LoadDefaults, SamplingDefaults, Settings
from lmdesk.core.units import format_size, parse_size
from lmdesk.ui.kit.folder_choice import folder_picker
from lmdesk.ui.services.background import BackgroundTask
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.shell.remote_servers_tab import RemoteServersTab
from lmdesk.ui.shell.settings_fields import (
    FolderField,
    choice_combo,
    float_spin,
    int_spin,
)

_FLASH = {"Auto": "auto", "On": True, "Off": False}


class SettingsDialog(QDialog):
    saved = Signal(object)
    """Settings: what was written."""

    def __init__(self, store: SettingsStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(560)
        self._store = store
        self._task: BackgroundTask | None = None
        s = store.settings
        self.message = QLabel()
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #dc2626;")
        self.message.hide()

        tabs = QTabWidget()
        tabs.addTab(self._general_tab(s), "General")
        tabs.addTab(self._hub_tab(s), "Hugging Face")
        tabs.addTab(self._defaults_tab(s), "Model defaults")
        self.remote = RemoteServersTab(s.remote_servers)
        tabs.addTab(self.remote, "Remote servers")
        self.tabs = tabs
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.refresh_account()

    # -- tabs ------------------------------------------------------------------------------
    def _general_tab(self, s: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.models_dir = FolderField(s.models_dir or "", str(self._store.models_dir()))
        self.extra_dirs = QListWidget()
        self.extra_dirs.addItems(list(s.extra_model_dirs))
        self.extra_dirs.setMaximumHeight(90)
        add, remove = QPushButton("Add folder…"), QPushButton("Remove")
        add.clicked.connect(self._add_extra_dir)
        remove.clicked.connect(self._remove_extra_dir)
        extra_buttons = QHBoxLayout()
        extra_buttons.addWidget(add)
        extra_buttons.addWidget(remove)
        extra_buttons.addStretch(1)
        extra = QVBoxLayout()
        extra.addWidget(self.extra_dirs)
        extra.addLayout(extra_buttons)
        self.theme = choice_combo(Settings, "theme", s.theme)
        self.concurrency = int_spin(Settings, "download_concurrency", s.download_concurrency)
        self.margin = QLineEdit(format_size(s.gpu_safety_margin_bytes))
        self.margin.setObjectName("gpu_safety_margin")
        self.margin.setToolTip(
            "GPU memory kept free when deciding what fits, e.g. 1 GiB or 512 MiB."
        )
        form.addRow("Models folder", self.models_dir)
        form.addRow("Also look in", extra)
        form.addRow("Theme", self.theme)
        form.addRow("Downloads at once", self.concurrency)
        form.addRow("GPU safety margin", self.margin)
        return page

    def _hub_tab(self, s: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.endpoint = QLineEdit(s.hf_endpoint)
        self.endpoint.setPlaceholderText(f"$HF_ENDPOINT if set, else {DEFAULT_ENDPOINT}")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (for gated or private models)")
        self.login_button = QPushButton("Log in")
        self.login_button.clicked.connect(self.log_in)
        self.logout_button = QPushButton("Log out")
        self.logout_button.clicked.connect(self.log_out)
        self.account = QLabel("Not logged in")
        self.account.setObjectName("hfAccount")
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(self.login_button)
        account_row = QHBoxLayout()
        account_row.addWidget(self.account, 1)
        account_row.addWidget(self.logout_button)
        form.addRow("Server", self.endpoint)
        form.addRow("Access token", token_row)
        form.addRow("", account_row)
        return page

    def _defaults_tab(self, s: Settings) -> QWidget:
        page = QWidget()
        load, sampling = s.load, s.sampling
        self.n_ctx = int_spin(LoadDefaults, "n_ctx", load.n_ctx)
        self.n_batch = int_spin(LoadDefaults, "n_batch", load.n_batch)
        self.kv_type = choice_combo(LoadDefaults, "kv_type", load.kv_type)
        self.flash = QComboBox()
        self.flash.addItems(list(_FLASH))
        self.flash.setCurrentText(next(k for k, v in _FLASH.items() if v == load.flash_attn))
        self.mmap = QCheckBox("Map the model file (mmap)")
        self.mmap.setChecked(load.use_mmap)
        self.mmap.setToolTip("Faster loading and less RAM; the OS reads the file as needed.")
        auto = f"Auto ({default_threads().generation})"  # the Load panel's words and count
        self.threads = int_spin(LoadDefaults, "n_threads", load.n_threads or 0, special=auto)
        self.temperature = float_spin(SamplingDefaults, "temperature", sampling.temperature)
        self.top_p = float_spin(SamplingDefaults, "top_p", sampling.top_p)
        self.top_k = int_spin(SamplingDefaults, "top_k", sampling.top_k)
        self.min_p = float_spin(SamplingDefaults, "min_p", sampling.min_p, step=0.01)
        self.repeat = float_spin(SamplingDefaults, "repeat_penalty", sampling.repeat_penalty)
        self.max_tokens = int_spin(SamplingDefaults, "max_tokens", sampling.max_tokens)
        self.seed = int_spin(SamplingDefaults, "seed", min(sampling.seed, 2**31 - 1))
        self.seed.setSpecialValueText("random")
        left, right = QFormLayout(), QFormLayout()
        rows: tuple[tuple[str, QWidget], ...] = (
            ("Context length", self.n_ctx),
            ("Batch size", self.n_batch),
            ("KV cache", self.kv_type),
            ("Flash attention", self.flash),
            ("CPU threads", self.threads),
            ("", self.mmap),
        )
        for label, widget in rows:
            left.addRow(label, widget)
        rows = (
            ("Temperature", self.temperature),
            ("Top P", self.top_p),
            ("Top K", self.top_k),
            ("Min P", self.min_p),
            ("Repeat penalty", self.repeat),
            ("Max reply tokens", self.max_tokens),
            ("Seed", self.seed),
        )
        for label, widget in rows:
            right.addRow(label, widget)
        row = QHBoxLayout(page)
        row.addLayout(left)
        row.addSpacing(16)
        row.addLayout(right)
        return page

    # -- folders ---------------------------------------------------------------------------
    def _add_extra_dir(self) -> None:
        self.extra_picker = folder_picker(self, "", self._extra_dir_chosen)

    def _extra_dir_chosen(self, path: str) -> None:
        existing = [self.extra_dirs.item(i).text() for i in range(self.extra_dirs.count())]
        if path and path not in existing:
            self.extra_dirs.addItem(path)

    def _remove_extra_dir(self) -> None:
        for item in self.extra_dirs.selectedItems():
            self.extra_dirs.takeItem(self.extra_dirs.row(item))

    # -- saving ----------------------------------------------------------------------------
    def collect(self) -> Settings:
        """The settings as the controls show them; raises ValueError naming a bad value."""
        s = self._store.settings
        try:
            margin = parse_size(self.margin.text())
        except ValueError as exc:
            raise ValueError(f"GPU safety margin: {exc}") from None
        load = replace(
            s.load,
            n_ctx=self.n_ctx.value(),
            n_batch=self.n_batch.value(),
            n_ubatch=min(s.load.n_ubatch, self.n_batch.value()),
            kv_type=cast(Any, self.kv_type.currentText()),  # checked by LoadDefaults
            flash_attn=cast(Any, _FLASH[self.flash.currentText()]),
            use_mmap=self.mmap.isChecked(),
            n_threads=self.threads.value() or None,
        )
        sampling = replace(
            s.sampling,
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat.value(),
            max_tokens=self.max_tokens.value(),
            seed=self.seed.value(),
        )
        extra = tuple(self.extra_dirs.item(i).text() for i in range(self.extra_dirs.count()))
        return replace(
            s,
            models_dir=self.models_dir.text or None,
            extra_model_dirs=extra,
            hf_endpoint=self.endpoint.text().strip(),
            download_concurrency=self.concurrency.value(),
            gpu_safety_margin_bytes=margin,
            theme=cast(Any, self.theme.currentText()),  # checked by Settings
            load=load,
            sampling=sampling,
            remote_servers=self.remote.servers(),
        )

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def save(self) -> None:
        """Write the settings and close, or say what is wrong and stay open."""
        try:
            settings = self.collect()
        except ValueError as exc:
            self.show_message(str(exc))
            return
        try:
            self._store.save(settings)
        except OSError as exc:
            self.show_message(f"Could not write the settings: {exc}")
            return
        self.show_message("")
        self.saved.emit(settings)
        self.accept()

    # -- Hugging Face account --------------------------------------------------------------
    def _run(self, work: Callable[[], object], done: Callable[[object], None], name: str) -> None:
        task = BackgroundTask(lambda _progress: work(), name=name, parent=self)
        task.sig_done.connect(done)
        task.sig_failed.connect(self._account_failed)
        self._task = task
        self.login_button.setEnabled(False)
        self.logout_button.setEnabled(False)
        task.start()

    def refresh_account(self) -> None:
        """Show who the stored token belongs to (asks the server only when a token exists)."""
        from lmdesk.core.hub import account as hf_account

        if hf_account.stored_token() is None:
            self._show_account(None)
            return
        endpoint = hub_endpoint(self.endpoint.text())
        self.account.setText("Checking the stored token…")
        self._run(lambda: hf_account.current_user(endpoint=endpoint), self._show_account, "whoami")

    def log_in(self) -> None:
        from lmdesk.core.hub import account as hf_account

        token, endpoint = self.token.text(), hub_endpoint(self.endpoint.text())
        self.account.setText("Checking the token…")
        self._run(lambda: hf_account.log_in(token, endpoint=endpoint), self._logged_in, "login")

    def log_out(self) -> None:
        from lmdesk.core.hub import account as hf_account

        self._run(lambda: hf_account.log_out(), lambda _none: self._show_account(None), "logout")

    def _logged_in(self, user: object) -> None:
        self.token.clear()
        self._show_account(user)

    def _show_account(self, user: object) -> None:
        self.login_button.setEnabled(True)
        self.logout_button.setEnabled(bool(user))
        self.account.setText(f"Logged in as {user}" if user else "Not logged in")

    def _account_failed(self, message: str, _details: str) -> None:
        self.login_button.setEnabled(True)
        self.logout_button.setEnabled(False)
        self.account.setText("Not logged in")
        self.show_message(f"Hugging Face: {message}")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Join a running account check (tests, shutdown)."""
        return self._task.wait(timeout_s) if self._task is not None else True
