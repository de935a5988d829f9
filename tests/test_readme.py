"""The README's Python examples run as written, and every pointer into docs/design.md lands on
a heading (documentation that cannot rot)."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DESIGN = ROOT / "docs" / "design.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # the examples write msd.csv, arrhenius.png, drx.cif
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {i}", "exec"), namespace)
    # The blocks produced what they say they produce.
    assert (tmp_path / "msd.csv").stat().st_size > 0
    assert (tmp_path / "arrhenius.png").stat().st_size > 0
    assert namespace["same"] == namespace["config"]
    assert namespace["table"].height == 6


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_design_pointers_land_on_headings():
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", DESIGN.read_text(), re.M)}
    sources = [
        p
        for folder in ("drxkmc", "rust", "tests", "docs", "examples", "benchmarks")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".pyi", ".rs", ".md") and "target" not in p.parts
    ] + [README]
    pointers = [
        (p.name, m)
        for p in sources
        for m in re.findall(r"design\.md#([\w-]+)", p.read_text(encoding="utf-8"))
    ]
    assert len(pointers) >= 10
    assert [(f, a) for f, a in pointers if a not in anchors] == []
    # The design document users do not have is never cited (spelled so as not to match here).
    old = "DESIGN" + " §"
    assert [p.name for p in sources if old in p.read_text(encoding="utf-8")] == []


def test_ci_runs_the_readme_test_command_verbatim():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()
