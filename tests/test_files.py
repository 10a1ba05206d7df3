"""Atomic writes (landmark_core/files.py): the old file or the new one, never a half-written one."""

from __future__ import annotations

import stat

import pytest

from landmark_core.files import atomic_path, read_json, write_json


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def test_a_finished_block_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # nothing is visible before the block ends
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_a_failed_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path):
    target = tmp_path / "card.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target):
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_missing_folders_are_made_and_the_file_is_readable_by_everyone(tmp_path):
    target = tmp_path / "assets" / "models" / "scratch.json"
    with atomic_path(target) as temporary:
        temporary.write_text("{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # a server running as another user must read it


def test_json_round_trips_as_readable_utf8_with_a_final_newline(tmp_path):
    target = tmp_path / "card.json"
    card = {"classes": ["Taj Mahal", "Château de Chambord"], "test_accuracy": 0.9728, "nested": {"n": [1, 2]}}
    write_json(target, card)
    text = target.read_text(encoding="utf-8")
    assert read_json(target) == card
    assert "Château" in text and text.endswith("}\n")
    assert text.splitlines()[1].startswith('  "classes"')  # indented for people reading the card
