"""Code, configs and tests cite the project's own docs (``docs/methods.md §n``) and papers by title, venue and
year, never the developer-only spec or paper files outside the project (issue 21 item 9)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = "METHODS" + ".md"  # spelled in two parts so that this file does not cite it
PAPER_FILES = "shared/" + "papers"


def tracked_files(*folders: str) -> list[Path]:
    names = subprocess.run(["git", "-C", str(REPO), "ls-files", "--", *folders], capture_output=True, text=True,
                           check=True).stdout.split()
    return [REPO / n for n in names if (REPO / n).is_file()]


def test_no_citation_of_files_outside_the_project():
    offenders = []
    for path in tracked_files("src", "tests", "conf", "experiments", "benchmarks", "notebooks", "docs"):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if SPEC in line or PAPER_FILES in line:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    assert not offenders, "cite docs/methods.md §n or the paper by title instead:\n" + "\n".join(offenders)


def test_cited_methods_sections_exist():
    """Every ``docs/methods.md §n`` cited in src/ tests/ conf/ is a numbered heading of docs/methods.md."""
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?a?)\. ", (REPO / "docs" / "methods.md").read_text(), re.M)) | set(
        re.findall(r"^#{2,3} (\d+\.\d+a?) ", (REPO / "docs" / "methods.md").read_text(), re.M))
    cited = set()
    for path in tracked_files("src", "tests", "conf", "experiments", "docs"):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        cited |= set(re.findall(r"methods\.md §(\d+(?:\.\d+)?a?)", text))
    assert cited, "no citation found"
    assert not sorted(cited - headings), f"cited sections missing in docs/methods.md: {sorted(cited - headings)}"
