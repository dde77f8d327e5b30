"""Reading a sample of a hospital's own reports: a stratified sample with sampling weights, one
self-contained review page whose answers export as gold.csv, and the files `--resume` needs.

Everything here consumes the audit's report records (labeler.audit.record); nothing re-runs a
stage of the pipeline by itself.
"""

from labeler.review.sample import Draw, Sampled, allocate, draw_sample, review_sample, stratum_of
from labeler.review.write import ReviewError, import_gold, load_review, rewrite_page, write_review

__all__ = [
    "Draw",
    "ReviewError",
    "Sampled",
    "allocate",
    "draw_sample",
    "import_gold",
    "load_review",
    "review_sample",
    "rewrite_page",
    "stratum_of",
    "write_review",
]
