"""The Qt-free core of lmdesk: model files, memory plans, GPUs, chats, downloads.

Nothing under this package may import Qt; import-linter (`lint-imports`) and
`tests/test_architecture.py` enforce it.
"""
