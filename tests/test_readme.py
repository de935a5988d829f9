"""The README's Python examples run as written (documentation that cannot rot)."""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


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
