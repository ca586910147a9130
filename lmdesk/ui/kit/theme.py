"""Colours and spacing shared by every widget, so the app looks like one thing.

Memory-bar colours follow the wireframe: others grey, weights blue, KV purple,
compute orange, overhead slate, free light grey.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

ACCENT = QColor("#3b82f6")
SIDEBAR_BG = QColor("#1f2430")
SIDEBAR_TEXT = QColor("#c9d1d9")

MEMORY_COLORS: dict[str, QColor] = {
    "others": QColor("#9ca3af"),
    "weights": QColor("#3b82f6"),
    "kv_cache": QColor("#8b5cf6"),
    "compute": QColor("#f59e0b"),
    "overhead": QColor("#64748b"),
    "output": QColor("#14b8a6"),
    "free": QColor("#e5e7eb"),
}

VERDICT_COLORS: dict[str, QColor] = {
    "fits": QColor("#10b981"),
    "partial": QColor("#f59e0b"),
    "tight": QColor("#f59e0b"),
    "no_fit": QColor("#ef4444"),
    "cpu_only": QColor("#64748b"),
}

SPACING = 8
RADIUS = 6
