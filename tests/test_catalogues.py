"""Every user-facing string of the project is translated into Traditional and Simplified Chinese.

The catalogues are regenerated from the sources into a scratch directory (the committed ones stay untouched), the
way `make messages` does; a string missing from a catalogue, or one that gettext could only guess (fuzzy), fails.
"""

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

LANGUAGES = ("zh_Hant", "zh_Hans")


def _sources(root: Path) -> list[str]:
    """Where the project's strings live, as `make messages` reads them: our apps, config and the templates."""
    apps = [name for name in django_settings.INSTALLED_APPS if "." not in name and (root / name).is_dir()]
    return [*apps, "config", "templates"]


def _entries(po_file: Path) -> list[dict]:
    """The catalogue's entries: msgid, the msgstr values and whether gettext marked the entry fuzzy."""
    entries, entry, field = [], None, None
    for line in [*po_file.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip() or line.startswith("#~"):
            if entry is not None:
                entries.append(entry)
            entry = field = None
            continue
        entry = entry or {"msgid": "", "msgstr": {}, "fuzzy": False}
        if line.startswith("#,"):
            entry["fuzzy"] |= "fuzzy" in line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            text = line[1:-1]
            if field == "msgid":
                entry["msgid"] += text
            elif field is not None:
                entry["msgstr"][field] = entry["msgstr"].get(field, "") + text
        else:
            keyword, _space, value = line.partition(" ")
            field = "msgid" if keyword == "msgid" else (None if keyword == "msgid_plural" else keyword)
            if field == "msgid":
                entry["msgid"] = value[1:-1]
            elif field is not None:
                entry["msgstr"][field] = value[1:-1]
    return [entry for entry in entries if entry["msgid"]]  # the header has an empty msgid


def _untranslated(po_file: Path) -> list[str]:
    return [
        entry["msgid"]
        for entry in _entries(po_file)
        if entry["fuzzy"] or not entry["msgstr"] or not all(entry["msgstr"].values())
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_catalogue_translates_every_entry(language):
    po_file = Path(django_settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.po"

    assert _untranslated(po_file) == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs gettext (Debian package gettext)")
def test_every_string_in_the_sources_is_in_both_catalogues(tmp_path, settings, monkeypatch):
    # makemessages writes into the catalogues of the directory it runs in: it runs in a scratch directory that
    # links to the sources, with copies of the committed catalogues.
    root, catalogues = Path(settings.BASE_DIR), tmp_path / "locale"
    (tmp_path / "sources").mkdir()
    for name in _sources(root):
        (tmp_path / "sources" / name).symlink_to(root / name, target_is_directory=True)
    for language in LANGUAGES:
        (catalogues / language / "LC_MESSAGES").mkdir(parents=True)
        shutil.copy(root / "locale" / language / "LC_MESSAGES" / "django.po", catalogues / language / "LC_MESSAGES")
    settings.LOCALE_PATHS = [catalogues]
    monkeypatch.chdir(tmp_path / "sources")

    call_command("makemessages", locale=list(LANGUAGES), symlinks=True, verbosity=0)

    missing = {language: _untranslated(catalogues / language / "LC_MESSAGES" / "django.po") for language in LANGUAGES}
    assert missing == dict.fromkeys(LANGUAGES, []), "run `make messages` and translate these strings"
