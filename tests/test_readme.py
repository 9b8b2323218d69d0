"""The README's configuration table names every setting, so a new one cannot go undocumented."""

from pathlib import Path

from services.core.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme():
    text = README.read_text()
    missing = [f"SHARPR_{name.upper()}" for name in Settings.model_fields
               if f"`SHARPR_{name.upper()}`" not in text]
    assert missing == []
