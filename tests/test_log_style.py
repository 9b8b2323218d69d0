"""One log style in every service: `event=<snake_case> key=value ...`, a clip's number as
`seq=`, so one grep (`event=clip_encoded stream=... seq=...`) follows a clip through them."""

import ast
import re
from pathlib import Path

SERVICES = Path(__file__).resolve().parent.parent / "services"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
EVENT = re.compile(r"event=[a-z][a-z0-9_]*( [a-z][a-z0-9_.]*=\S+)*")


def log_messages() -> list[tuple[str, str]]:
    """(place, message) of every `log.<level>("...")` call under services/."""
    found = []
    for path in sorted(SERVICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LEVELS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "log"
                and node.args
            ):
                first = node.args[0]
                place = f"{path.relative_to(SERVICES.parent)}:{node.lineno}"
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((place, first.value))
                elif isinstance(first, ast.JoinedStr):
                    found.append((place, "<f-string>"))
    return found


def test_services_log_with_some_messages() -> None:
    assert len(log_messages()) > 50


def test_every_log_line_is_an_event_with_key_value_fields() -> None:
    wrong = [f"{place}: {message!r}" for place, message in log_messages() if not EVENT.fullmatch(message)]
    assert not wrong, "\n".join(wrong)


def test_a_clip_is_named_seq_everywhere() -> None:
    wrong = [f"{place}: {message!r}" for place, message in log_messages() if re.search(r"\bclip=%d", message)]
    assert not wrong, "\n".join(wrong)
