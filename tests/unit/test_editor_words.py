"""What the editor says, without a database: display names, refusals, and the undo/redo walk."""

from __future__ import annotations

from server.services.edit_text import display_names, refusal
from server.services.editing import undo_redo_stacks


def test_grids_are_named_as_the_map_shows_them_and_never_as_a_star():
    names = display_names({0: {"code": "320499001001005"}, 1: {"name": "和平路网格", "code": "320499001001006"},
                           2: {"code": None}, 3: {}, 4: {"code": "320499001001009", "label": "320499001001014"}})
    assert [names[i][0] for i in range(5)] == ["网格 005", "和平路网格", "新网格 1", "新网格 2", "网格 014"]


def test_an_engine_refusal_is_said_in_chinese_with_the_grids_as_shown():
    names = {5: ("网格 005", "grid 005"), 13: ("网格 012", "grid 012")}
    said = refusal("grids 5 and 13 are not neighbours (they share no boundary); only neighbouring grids can be "
                   "merged", names)
    zh, en = said.split(" / ")
    assert zh == "网格 005 与 网格 012 不相邻，只有相邻网格才能合并"
    assert "grids 005" not in en and "grid 13" not in en


def test_undo_and_redo_stacks_replay_the_stored_history():
    ops = [(1, "copy"), (2, "paint"), (3, "merge")]
    assert undo_redo_stacks(ops) == ([1, 2], [])
    ops += [(4, "undo")]
    assert undo_redo_stacks(ops) == ([1], [3])
    ops += [(5, "undo")]
    assert undo_redo_stacks(ops) == ([], [3, 4])
    ops += [(6, "redo")]
    assert undo_redo_stacks(ops) == ([5], [3])
    ops += [(7, "split")]
    assert undo_redo_stacks(ops) == ([5, 6], [])
