"""The GGUF files of a repository, grouped into models, and its model card."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from huggingface_hub import HfApi, ModelInfo, hf_hub_url

from ..gguf.file_kind import FileKind, kind_from_name
from .errors import FileNotOnHub, HubError, hub_errors
from .names import quantization_label, split_name
from .rate_limit import OnWait, retrying
from .session import get_session, hf_raise_for_status, hub_headers


@dataclass(frozen=True)
class RemoteModelFile:
    """One ``.gguf`` file on the hub. ``sha256`` is the LFS object id (None if not in LFS)."""

    repo_id: str
    filename: str
    size: int
    sha256: str | None
    quantization: str | None
    part: int | None = None  # 1-based part number of a split model
    n_parts: int | None = None
    kind: FileKind = "model"  # from the name; projectors, imatrices and adapters are not models


class IncompleteSplit(HubError):
    """A split model with parts missing from the repository's listing: it cannot load."""


@dataclass(frozen=True)
class RemoteModel:
    """What a person downloads: one file, or every part of a split model."""

    repo_id: str
    name: str
    quantization: str | None
    parts: tuple[RemoteModelFile, ...]
    n_parts_expected: int = 1

    @property
    def filename(self) -> str:
        """The first (or only) file: llama.cpp opens a split model through its first part."""
        return self.parts[0].filename

    @property
    def total_size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def is_split(self) -> bool:
        return self.n_parts_expected > 1

    @property
    def kind(self) -> FileKind:
        return self.parts[0].kind

    @property
    def complete(self) -> bool:
        """False when the listing lacks some parts of a split model (``-0000k-of-0000n``)."""
        numbers = {p.part or 1 for p in self.parts}
        return numbers == set(range(1, self.n_parts_expected + 1))

    def files_to_download(self) -> tuple[RemoteModelFile, ...]:
        """Every part; raises `IncompleteSplit` when some are missing (part 1 alone is useless)."""
        if not self.complete:
            raise IncompleteSplit(
                f"'{self.name}' is split into {self.n_parts_expected} parts but the repository "
                f"lists only {len(self.parts)} of them; it cannot be loaded, so it is not "
                "downloaded. The upload may be unfinished: try again later."
            )
        return self.parts


def list_gguf_files(
    repo_id: str,
    *,
    endpoint: str,
    token: str | None = None,
    revision: str = "main",
    on_rate_limit: OnWait | None = None,
) -> list[RemoteModelFile]:
    """Every ``.gguf`` file in the repository with its size, sha256 and quantization."""
    api = HfApi(endpoint=endpoint, token=token)

    def read_info() -> ModelInfo:
        with hub_errors(repo_id=repo_id):
            return api.model_info(repo_id, revision=revision, files_metadata=True)

    info = retrying(read_info, on_wait=on_rate_limit)
    files: list[RemoteModelFile] = []
    for sibling in info.siblings or ():
        name = sibling.rfilename
        if not name.lower().endswith(".gguf"):
            continue
        split = split_name(name)
        files.append(
            RemoteModelFile(
                repo_id=repo_id,
                filename=name,
                size=sibling.lfs.size if sibling.lfs else sibling.size or 0,
                sha256=sibling.lfs.sha256 if sibling.lfs else None,
                quantization=quantization_label(name),
                part=split.part if split else None,
                n_parts=split.count if split else None,
                kind=kind_from_name(name),
            )
        )
    return sorted(files, key=lambda f: f.filename)


def group_models(files: list[RemoteModelFile]) -> list[RemoteModel]:
    """Group split parts (``x-00001-of-00003.gguf`` ...) into one model; others stand alone."""
    singles: list[RemoteModel] = []
    splits: dict[tuple[str, str, int], list[RemoteModelFile]] = defaultdict(list)
    for f in files:
        split = split_name(f.filename)
        if split is None:
            name = f.filename.rsplit("/", 1)[-1].removesuffix(".gguf")
            singles.append(RemoteModel(f.repo_id, name, f.quantization, (f,)))
        else:
            splits[(f.repo_id, split.base, split.count)].append(f)
    for (repo_id, base, count), parts in splits.items():
        ordered = tuple(sorted(parts, key=lambda p: p.part or 0))
        name = base.rsplit("/", 1)[-1]
        singles.append(RemoteModel(repo_id, name, ordered[0].quantization, ordered, count))
    return sorted(singles, key=_listing_order)


def repo_projector(models: Sequence[RemoteModel]) -> RemoteModel | None:
    """The vision projector to download with a repository's models (its ``mmproj``): the
    f16 one when there are several precisions (llama.cpp's usual pick), else the smallest.
    None when the repository has no projector. A repository holds one model's files, so
    its projector is that model's; the engine still checks the widths when it loads."""
    projectors = [m for m in models if m.kind == "projector" and m.complete]
    if not projectors:
        return None
    f16 = [m for m in projectors if "f16" in m.name.lower() and "bf16" not in m.name.lower()]
    return min(f16 or projectors, key=lambda m: (m.total_size, m.name))


def _listing_order(model: RemoteModel) -> tuple[bool, bool, int, str]:
    """Models first, smallest first; an incomplete split's size is unknown, so it goes last."""
    complete = model.complete
    return (model.kind != "model", not complete, model.total_size if complete else 0, model.name)


def list_gguf_models(
    repo_id: str,
    *,
    endpoint: str,
    token: str | None = None,
    revision: str = "main",
    on_rate_limit: OnWait | None = None,
) -> list[RemoteModel]:
    """The repository's models, smallest first; incomplete splits, then non-models last."""
    files = list_gguf_files(
        repo_id, endpoint=endpoint, token=token, revision=revision, on_rate_limit=on_rate_limit
    )
    return group_models(files)


def model_card(
    repo_id: str,
    *,
    endpoint: str,
    token: str | None = None,
    revision: str = "main",
    on_rate_limit: OnWait | None = None,
) -> str:
    """The repository's README.md (its model card) as text; empty if it has none."""
    url = hf_hub_url(repo_id, "README.md", revision=revision, endpoint=endpoint)

    def read() -> bytes:
        with hub_errors(repo_id=repo_id, filename="README.md"):
            response = get_session().get(url, headers=hub_headers(token), timeout=30)
            hf_raise_for_status(response)
            return response.content

    try:
        content = retrying(read, on_wait=on_rate_limit)
    except FileNotOnHub:
        return ""
    return content.decode("utf-8", errors="replace")
