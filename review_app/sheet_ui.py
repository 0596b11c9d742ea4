"""The review component (``sheet_ui.js`` + ``sheet_ui.css``): draws a sheet or a grid batch, returns actions.

Python sends ``data`` = ``{"current": view, "ahead": [views], "ack": action id, "failed": bool,
"messages": [...], "settled": [field ids]}``; the page code answers each action (a dict with
``id``, ``kind``, ``key``, ``page``, ``edits`` {field id: {v, value}}, ``look`` {field id:
version}, ``records`` {record id: version}, ``note``) in its ``on_action`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

_HERE = Path(__file__).resolve().parent
_COMPONENT = st.components.v2.component(
    "susulan_sheet", css=(_HERE / "sheet_ui.css").read_text(encoding="utf-8"),
    js=(_HERE / "sheet_ui.js").read_text(encoding="utf-8"), isolate_styles=False)


def mount(key: str, data: dict[str, Any], on_action: Callable[[], None]) -> None:
    """Draw the component; ``on_action`` runs (before the page code) when the person acts."""
    _COMPONENT(key=key, data=data, on_action_change=on_action, height="content")


def action(key: str) -> dict[str, Any] | None:
    """The action that triggered this run, if any (read it in the ``on_action`` callback)."""
    state = st.session_state.get(key)
    value = state.get("action") if state is not None and hasattr(state, "get") else None
    return value if isinstance(value, dict) else None
