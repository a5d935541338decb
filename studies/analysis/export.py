"""The researcher's download: a study's analysis zip, by its design (Study.test_type).

Ratings (the paper's design) are report.py's; MUSHRA and pairwise are design_report.py's, which
reuses report.py's tables and workbook, so the choice between them lives here, above both.
"""

from .design_report import design_export_zip
from .report import rating_export_zip


def export_zip(study, *, overrides: dict | None = None) -> bytes:
    """Analyse a study's answers and return the zip (bytes) that the researcher downloads."""
    if study.test_type != "rating":
        return design_export_zip(study, overrides=overrides)
    return rating_export_zip(study, overrides=overrides)
