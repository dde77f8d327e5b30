"""Plumbing shared by cxrlabel and cxrclf: the one atomic file writer and worker-process guards.

Nothing here knows about reports, rules or films, so both sides import it freely.
"""
