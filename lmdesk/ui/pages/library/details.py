"""The selected model in a few lines: where it is, and what its verdict means in memory."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from lmdesk.core.estimate import FitWords
from lmdesk.core.library import LibraryEntry
from lmdesk.core.units import format_size
from lmdesk.ui.kit.download_text import display_path
from lmdesk.ui.kit.fit_target import verdict_color
from lmdesk.ui.kit.widgets import Card, muted
from lmdesk.ui.pages.library.library_model import parameters_text


class ModelDetails(Card):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, padding=14)
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title.setFont(font)
        self.path = muted("", wrap=True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        for widget in (self.title, self.path, self.verdict):
            self.box.addWidget(widget)
        self.show_entry(None, None)

    def show_entry(self, entry: LibraryEntry | None, words: FitWords | None) -> None:
        if entry is None:
            self.title.setText("No model selected")
            self.path.setText("Select a model to load it, show it in its folder or delete it.")
            self.verdict.setText("")
            return
        model = entry.model
        facts = [entry.name]
        if model is not None:
            facts += [
                f"{parameters_text(model.parameter_count, model.size_label)} parameters",
                model.quantization,
                f"{model.n_layer} layers",
            ]
        facts.append(format_size(entry.size))
        self.title.setText("  ·  ".join(facts))
        self.path.setText(f"{display_path(entry.path)}  ({entry.source.value})")
        if not entry.is_ok:
            self.verdict.setText(_rich("no_fit", "Cannot be used", entry.error or ""))
        elif words is not None:
            self.verdict.setText(_rich(words.kind, words.text, words.detail))
        else:
            self.verdict.setText("")


def _rich(kind: str, headline: str, detail: str) -> str:
    color = verdict_color(kind).name()
    return f'<b style="color: {color}">{escape(headline)}</b> — {escape(detail)}'
