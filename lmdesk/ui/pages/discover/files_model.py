"""A repository's downloadable models as a Qt table: name, quantization, size, verdict.

One row per `RemoteModel` (the parts of a split model share a row). The verdict starts
as an estimate from the file size ("≈ from file size") and becomes exact when the
model's header has been read from the hub. Files that are not models (projectors,
importance matrices, adapters) and split models with parts missing get no verdict. In a
repository with a vision projector (``mmproj``), every model row says it needs it for
pictures (`core.hub.repo_projector` picks it), and Download fetches it too; their verdicts
count it (`paired`): by its file size, "≈", until its header has been read from the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt

from lmdesk.core.estimate import FitInputs, FitWords
from lmdesk.core.estimate.projector import ProjectorInfo
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.hub import WHAT_IT_IS, FileKind, RemoteModel, repo_projector
from lmdesk.core.units import format_size
from lmdesk.ui.kit.fit_target import verdict_brush, verdict_icon
from lmdesk.ui.kit.row_table import Index, RowTableModel

NAME, QUANT, SIZE, FIT, ACTION = range(5)
HEADERS = ("File", "Quant", "Size", "Fits the GPU?", "")
MODEL_ROLE = Qt.ItemDataRole.UserRole + 1
WORDS_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass
class FileRow:
    model: RemoteModel
    info: ModelInfo | None = None
    header_error: str | None = None
    words: FitWords | None = None
    kind: FileKind = "model"  # from the name, then from the header once read

    def __post_init__(self) -> None:
        self.kind = self.model.kind

    @property
    def judged(self) -> bool:
        """True when the row gets a verdict: a model, with every part on the hub."""
        return self.kind == "model" and self.model.complete


def row_name(model: RemoteModel) -> str:
    name = model.name
    if model.is_split:
        found = len(model.parts)
        name += (
            f"  ({model.n_parts_expected} parts)"
            if model.complete
            else (f"  ({found} of {model.n_parts_expected} parts on the hub)")
        )
    return name


def pair_text(projector: RemoteModel) -> str:
    """What a model row of a repository with a projector adds to its name."""
    return f"· + vision projector ({format_size(projector.total_size)})"


class FilesModel(RowTableModel[FileRow]):
    headers = HEADERS
    projector: RemoteModel | None = None
    """The repository's vision projector, downloaded with any of its models (None: none)."""
    projector_header: ProjectorInfo | None = None
    """Its header, once read from the hub (None: not yet, or no projector)."""
    projector_error: str | None = None
    """Why its header could not be read: the load rule does not pair such a file, so the
    verdicts no longer count it."""

    def needs_projector(self, row: FileRow) -> RemoteModel | None:
        """The projector that must come with `row`'s model for it to read pictures."""
        return self.projector if row.kind == "model" else None

    def paired(self, row: FileRow) -> ProjectorInfo | None:
        """The projector `row`'s verdict counts: from its header, else by its file size
        (None: no projector, or one whose header could not be read)."""
        projector = self.needs_projector(row)
        if projector is None or self.projector_error:
            return None
        return self.projector_header or ProjectorInfo.from_size(
            projector.name, projector.total_size
        )

    def _judge(self, row: FileRow, inputs: FitInputs) -> FitWords:
        projector = self.paired(row)
        if row.info is not None:
            return inputs.words(row.info, projector)
        extra = projector.file_bytes if projector is not None else 0
        return inputs.words_from_size(row.model.total_size + extra)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index)
        if row is None:
            return None
        column = index.column()
        if role == MODEL_ROLE:
            return row.model
        if role == WORDS_ROLE:
            return row.words
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if column == FIT and row.words is not None and row.judged:
            if role == Qt.ItemDataRole.ForegroundRole:
                return verdict_brush(row.words.kind)
            if role == Qt.ItemDataRole.DecorationRole:
                return verdict_icon(row.words.kind, hollow=row.words.approximate)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _display(self, row: FileRow, column: int) -> str | None:
        model = row.model
        if column == NAME:
            return row_name(model)
        if column == QUANT:
            return model.quantization or (row.info.quantization if row.info else "—")
        if column == SIZE:
            return format_size(model.total_size) if model.complete else "? (parts missing)"
        if column == FIT:
            if row.kind != "model":
                return WHAT_IT_IS[row.kind]
            if not model.complete:
                return "Incomplete: parts missing on the hub"
            verdict = row.words.text if row.words else ""
            projector = self.needs_projector(row)
            return f"{verdict}  {pair_text(projector)}" if projector is not None else verdict
        return ""

    def _tooltip(self, row: FileRow, column: int) -> str | None:
        if column in (NAME, QUANT):  # the quant's too: a narrow table hides the name column
            files = "\n".join(p.filename for p in row.model.parts)
            projector = self.needs_projector(row)
            if projector is not None:
                files += (
                    f"\nReads pictures with its vision projector {projector.filename}: "
                    "the pair is needed, and Download fetches both."
                )
            return files
        if column == FIT and not row.model.complete:
            model = row.model
            return (
                f"The hub lists {len(model.parts)} of the {model.n_parts_expected} parts of this "
                "split model. It cannot be loaded until every part is there."
            )
        if column == FIT and row.words is not None and row.judged:
            detail = row.words.detail
            if (projector := self.needs_projector(row)) is not None:
                detail += f"\nReads pictures with {projector.filename}, downloaded with it."
            if row.header_error:
                detail += f"\nThe header could not be read: {row.header_error}"
            elif self.projector_error and self.needs_projector(row) is not None:
                detail += (
                    "\nThe vision projector is not counted: its header could not be read "
                    f"({self.projector_error})."
                )
            elif row.words.approximate and row.info is None:
                detail += "\nReading the model's header from the hub…"
            elif row.words.approximate:
                detail += "\nReading the vision projector's header from the hub…"
            return detail
        return None

    # -- updates -------------------------------------------------------------------------
    def set_models(self, models: list[RemoteModel], inputs: FitInputs) -> None:
        self.beginResetModel()
        self._rows = [FileRow(m) for m in models]
        self.projector = repo_projector(models)
        self.projector_header = self.projector_error = None
        for row in self._rows:
            row.words = self._judge(row, inputs)
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.projector = None
        self.projector_header = self.projector_error = None
        self.endResetModel()

    def rows(self) -> list[FileRow]:
        return list(self._rows)

    def row(self, index: int) -> FileRow:
        return self._rows[index]

    def set_header(self, name: str, info: ModelInfo, inputs: FitInputs) -> None:
        """The header of model `name` arrived: the verdict becomes exact."""
        for i, row in enumerate(self._rows):
            if row.model.name == name:
                row.info, row.header_error = info, None
                row.words = self._judge(row, inputs)
                self._changed(i)

    def set_projector(self, name: str, info: ProjectorInfo, inputs: FitInputs) -> None:
        """The header of the repository's projector `name` arrived: the verdicts count it."""
        if self.projector is None or self.projector.name != name:
            return  # another projector of the repository, not the one downloaded
        self.projector_header = info
        self.refresh_verdicts(inputs)

    def set_kind(self, name: str, kind: FileKind) -> None:
        """The header of `name` says it is not a model after all: it loses its verdict."""
        for i, row in enumerate(self._rows):
            if row.model.name == name:
                row.kind = kind
                self._changed(i)

    def set_header_error(self, name: str, message: str) -> None:
        if self.projector is not None and self.projector.name == name:
            self.projector_error = message  # the verdicts drop it (`refresh_verdicts`)
        for i, row in enumerate(self._rows):
            if row.model.name == name:
                row.header_error = message
                self._changed(i)

    def refresh_verdicts(self, inputs: FitInputs) -> None:
        """The GPU or the settings changed: judge every row again."""
        for row in self._rows:
            row.words = self._judge(row, inputs)
        if self._rows:
            self.dataChanged.emit(self.index(0, FIT), self.index(len(self._rows) - 1, FIT))

    def _changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))
