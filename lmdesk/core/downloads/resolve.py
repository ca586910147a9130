"""Ask the hub what to download: the file's URL pinned to a commit, its size and sha256."""

from __future__ import annotations

from huggingface_hub import HfApi, hf_hub_url

from lmdesk.core.hub import FileNotOnHub, hub_errors

from .sidecar import PartialState


def resolve_into(state: PartialState, *, endpoint: str, token: str | None) -> None:
    """Fill ``state.url``, ``size``, ``sha256`` and ``commit`` from the repository's metadata.

    The URL names the commit, not the branch, so the bytes cannot change under a paused
    download; ``sha256`` is the LFS object id the finished file is checked against.
    """
    api = HfApi(endpoint=endpoint, token=token)
    with hub_errors(repo_id=state.repo_id, filename=state.filename):
        info = api.model_info(state.repo_id, revision=state.revision, files_metadata=True)
    sibling = next((s for s in info.siblings or () if s.rfilename == state.filename), None)
    if sibling is None:
        raise FileNotOnHub(f"The repository '{state.repo_id}' has no file '{state.filename}'.")
    size = sibling.lfs.size if sibling.lfs else sibling.size
    if size is None:
        raise FileNotOnHub(f"The hub did not say how large '{state.filename}' is.")
    state.commit = info.sha
    state.url = hf_hub_url(
        state.repo_id, state.filename, revision=info.sha or state.revision, endpoint=endpoint
    )
    state.size = size
    state.sha256 = sibling.lfs.sha256 if sibling.lfs else None
