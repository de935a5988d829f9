"""The command line on spec files: every verb round-trips on the example spec and sweep, errors
are one line naming the file and key (a traceback only with --debug)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import drxkmc
from drxkmc.cli import main
from drxkmc.runs import load_result, run_spec
from drxkmc.spec import RunSpec
from drxkmc.sweep import SweepFile

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_run_status_plot_resume_on_the_example_spec(tmp_path, capsys):
    spec = RunSpec.read(EXAMPLES / "spec.toml")
    # The example is small and fast: what the test (and a new user) runs first.
    assert spec.size == 4 and spec.temperature_K == 600.0
    folder = tmp_path / "run"
    assert main(["run", str(EXAMPLES / "spec.toml"), "--workdir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "tracer diffusivity D*" in out and str(folder / "result.parquet") in out
    stored = load_result(folder)
    assert stored.diffusivity.equals(run_spec(spec, progress=False).diffusivity)
    assert main(["status", str(folder)]) == 0
    assert "done" in capsys.readouterr().out
    assert main(["plot", str(folder)]) == 0
    assert (folder / "msd.png").stat().st_size > 0
    assert main(["resume", str(folder)]) == 0  # done: prints the stored result
    assert f"{stored.diffusivity['hops'][0]:,}" in capsys.readouterr().out
    # The default folder is the spec's path without its extension.
    shutil.copy(EXAMPLES / "spec.toml", tmp_path / "mine.toml")
    assert main(["status", str(folder)]) == 0
    assert main(["run", str(tmp_path / "mine.toml")]) == 0
    assert load_result(tmp_path / "mine").diffusivity.equals(stored.diffusivity)


def test_sweep_file_runs_and_resumes(tmp_path, capsys):
    folder = tmp_path / "sweep"
    assert main(["sweep", str(EXAMPLES / "sweep.toml"), "--workdir", str(folder)]) == 0
    frame = pl.read_parquet(folder / "sweep.parquet")
    sweep_file = SweepFile.read(EXAMPLES / "sweep.toml")
    assert frame.equals(sweep_file.run())  # the file's sweep, run in memory
    assert frame.height == 4 and frame["error"].null_count() == 4
    capsys.readouterr()
    assert main(["status", str(folder)]) == 0
    assert "4 of 4 started points done" in capsys.readouterr().out
    assert main(["resume", str(folder)]) == 0
    assert pl.read_parquet(folder / "sweep.parquet").equals(frame)
    assert main(["plot", str(folder)]) == 0
    assert (folder / "sweep.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[run]\ntemperature_K = nan", "run.temperature_K"),
        ('[configuration]\nli_content = "0.6"', "configuration.li_content"),
        ("[run]\ntemprature_K = 600", "run.temprature_K"),
    ],
)
def test_bad_spec_is_one_line_naming_file_and_key(tmp_path, capsys, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(f'{body}\n[material]\nformula = "Li1.2Mn0.4Ti0.4O2"\n')
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"drxkmc: error: {path}: {key}: "), err
    assert not (tmp_path / "bad").exists()  # nothing started
    with pytest.raises(drxkmc.InvalidParameterError) as info:
        main(["--debug", "run", str(path)])
    assert info.value.field == key


def test_bad_sweep_point_is_named_before_anything_runs(tmp_path, capsys):
    text = (
        (EXAMPLES / "sweep.toml")
        .read_text()
        .replace("temperature_K = [600.0, 700.0]", 'temperature_K = [600.0, "700"]')
    )
    (tmp_path / "bad.toml").write_text(text)
    assert main(["sweep", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert "temperature_K" in err and "point 2" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_version_and_missing_folders(tmp_path, capsys):
    out = subprocess.run(
        [sys.executable, "-m", "drxkmc", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"drxkmc {drxkmc.__version__}"
    for verb in ("status", "resume", "plot"):
        assert main([verb, str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "drxkmc: error: workdir:" in err[0], err
