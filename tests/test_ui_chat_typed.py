"""The web chat shows the citizen's own messages as typed, kept in this tab only.

A static check of ui/chat.js (the Playwright tests drive the page itself): the
typed text is remembered in sessionStorage by message id, rendered in place of
the masked copy, and never sent anywhere but the message post itself.
"""

from __future__ import annotations

import re
from pathlib import Path

CHAT_JS = (Path(__file__).resolve().parent.parent / "ui" / "chat.js").read_text(encoding="utf-8")


def test_typed_text_is_kept_in_session_storage_and_rendered() -> None:
    assert "const typed = window.sessionStorage;" in CHAT_JS
    assert re.search(r'msg\.role === "user" && typed\.getItem\(typedKey\(msg\.id\)\)', CHAT_JS)
    assert "rememberTyped(r.user_message_id, text)" in CHAT_JS


def test_typed_text_is_never_posted_back() -> None:
    # the only request bodies are the message itself and the fixed fields of the other calls
    assert "typed.getItem" not in "".join(re.findall(r"api\([^)]*\)", CHAT_JS))
