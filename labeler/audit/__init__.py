"""Auditing rule hits on a corpus: which rules fired, which clauses no cue understood, which
regions got evidence of two states, and one self-contained HTML page to browse it all.

Everything here consumes `Labeler.analyse`; nothing re-implements a stage of the pipeline.
"""

from labeler.audit.run import Audit, audit_records, run_audit, sample_reports, summarise
from labeler.audit.write import write_audit

__all__ = ["Audit", "audit_records", "run_audit", "sample_reports", "summarise", "write_audit"]
