"""Hugging Face, the network side: search, file lists, model cards, remote GGUF headers.

Every function takes ``endpoint=`` explicitly (huggingface_hub reads ``HF_ENDPOINT`` only
at import) and raises only `HubError` subclasses, whose ``str()`` is meant for a person.
"""

from ..gguf.file_kind import WHAT_IT_IS, FileKind, kind_from_header, kind_from_name
from .account import whoami
from .errors import (
    FileNotOnHub,
    GatedRepoNoAccess,
    HubError,
    HubServerError,
    HubUnreachable,
    InvalidToken,
    RateLimited,
    RepoNotFound,
    hub_errors,
    translate_error,
)
from .files import (
    IncompleteSplit,
    RemoteModel,
    RemoteModelFile,
    group_models,
    list_gguf_files,
    list_gguf_models,
    model_card,
    repo_projector,
)
from .header_cache import read_remote_header
from .names import quantization_label, split_name
from .range_source import HttpRangeSource
from .rate_limit import OnWait, retry_after_s, waiting_words
from .search import RepoSummary, SearchPage, SortKey, iter_models, search_models, search_page

__all__ = [
    "WHAT_IT_IS",
    "FileKind",
    "FileNotOnHub",
    "GatedRepoNoAccess",
    "HttpRangeSource",
    "HubError",
    "HubServerError",
    "HubUnreachable",
    "IncompleteSplit",
    "InvalidToken",
    "OnWait",
    "RateLimited",
    "RemoteModel",
    "RemoteModelFile",
    "RepoNotFound",
    "RepoSummary",
    "SearchPage",
    "SortKey",
    "group_models",
    "hub_errors",
    "iter_models",
    "kind_from_header",
    "kind_from_name",
    "list_gguf_files",
    "list_gguf_models",
    "model_card",
    "quantization_label",
    "read_remote_header",
    "repo_projector",
    "retry_after_s",
    "search_models",
    "search_page",
    "split_name",
    "translate_error",
    "waiting_words",
    "whoami",
]
