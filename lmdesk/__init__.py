"""lmdesk: run large language models locally, sized to your GPU before you download."""

__version__ = "0.1.0"
