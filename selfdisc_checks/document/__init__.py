"""The results document: typed models and schema, reading (migrate + validate), and data identity."""

from selfdisc_checks.document.identity import data_digest, data_identity
from selfdisc_checks.document.models import ResultsDocument, results_schema
from selfdisc_checks.document.read import MalformedResults, load_results, parse_results

__all__ = [
    "MalformedResults",
    "ResultsDocument",
    "data_digest",
    "data_identity",
    "load_results",
    "parse_results",
    "results_schema",
]
