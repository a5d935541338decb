"""Small synthetic panels shared by the analysis tests (kept small so the suite runs in seconds)."""

from studies.analysis import AnalysisConfig
from studies.analysis.synthetic import Panel, synthetic_ratings

# No mixed/ordinal models and few resamples unless a test asks: they cost seconds, not meaning.
FAST = AnalysisConfig(fit_models=False, bootstrap_resamples=400)

CLEAR_WINNER = {
    "proposed": ("system", 4.4),
    "vded": ("system", 3.2),
    "bilstm": ("system", 3.1),
    "real": ("reference", 4.6),
    "anchor": ("low_anchor", 1.5),
}
NO_DIFFERENCE = {
    "proposed": ("system", 3.4),
    "vded": ("system", 3.4),
    "bilstm": ("system", 3.4),
    "real": ("reference", 3.4),
}


def panel(conditions=CLEAR_WINNER, **kwargs):
    kwargs.setdefault("listeners", 16)
    return synthetic_ratings(Panel(conditions=dict(conditions), **kwargs))
