"""A property-based sweep: hypothesis draws run specs and checks what must hold for any.

Compositions, Li contents, disorder and temperatures are drawn at random (hypothesis
shrinks a failure to its simplest spec); every spec must either be refused up front with an
error naming its field, or run and report physically valid numbers.

    python examples/property_sweep.py
"""

import warnings

from hypothesis import given, settings
from hypothesis import strategies as st

import drxkmc
from drxkmc.runs import run_spec


@st.composite
def specs(draw):
    x = draw(st.sampled_from([0.1, 0.2, 0.3]))  # Li excess of Li(1+x)Mn(2x)Ti(1-3x)O2
    formula = f"Li{1 + x:g}Mn{2 * x:g}Ti{1 - 3 * x:g}O2"
    return {
        "formula": formula,
        "size": 4,
        "li_content": draw(st.floats(0.3, 1.0)),
        "temperature_K": draw(st.floats(500.0, 900.0)),
        "site_disorder_eV": draw(st.floats(0.0, 0.1)),
        "hops": 100_000,
        "seed": draw(st.integers(0, 2**32)),
    }


@settings(max_examples=10, deadline=None)
@given(specs())
def test_any_spec_runs_or_is_refused_by_name(point):
    try:
        spec = drxkmc.RunSpec.from_flat(point)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", drxkmc.ConvergenceWarning)
            row = run_spec(spec, progress=False).diffusivity.row(0, named=True)
    except drxkmc.DrxkmcError as err:  # e.g. a Li content the electrode cannot reach
        assert err.field in str(err)
        return
    assert row["D_tracer_cm2_s"] >= 0 and row["time_s"] > 0
    assert 0 <= row["mobile_fraction"] <= 1
    assert row["hops"] == point["hops"]


if __name__ == "__main__":
    test_any_spec_runs_or_is_refused_by_name()
    print("every drawn spec ran with valid numbers or was refused naming its field")
