"""The README's and docs/results.md's headline figures are the result JSON's."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def results_table() -> ModuleType:
    path = PROJECT_ROOT / "benchmarks" / "results_table.py"
    spec = importlib.util.spec_from_file_location("results_table", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["results_table"] = module
    spec.loader.exec_module(module)
    return module


def test_the_readme_and_results_md_hold_the_tables_of_the_current_json(results_table: ModuleType) -> None:
    files = [results_table.README, results_table.RESULTS_MD]
    blocks = {
        name
        for path in files
        for name in re.findall(r"<!-- results_table\.py: ([\w-]+) -->", path.read_text())
    }
    assert blocks == set(results_table.TABLES)  # every table is shown somewhere
    assert results_table.stale_files(files) == [], "run benchmarks/results_table.py --write"


def test_a_figure_edited_away_from_its_json_is_caught(results_table: ModuleType, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = results_table.README.read_text()
    table = results_table.babilong_table()
    qa3 = next(line for line in table.splitlines() if line.startswith("| qa3 "))
    assert qa3 in text
    cells = qa3.split("|")
    cells[2] = " 0.99 (0.55) " if cells[2].strip() != "0.99 (0.55)" else " 0.98 (0.55) "
    readme.write_text(text.replace(qa3, "|".join(cells), 1))
    assert results_table.stale_files([readme]) == [readme]
    readme.write_text(results_table.rewritten(readme.read_text()))
    assert results_table.stale_files([readme]) == []
    assert qa3 in readme.read_text()
