"""Sample data for the demo, the tests and the benchmark: the Companies House snapshot and
enrichment exports, deterministic from a seed (`write_companies_house`, `write_enrichment`),
and the demo workspace (`monitor.demo.workspace`)."""

from monitor.demo.companies_house import COMPANIES_HOUSE_HEADER, companies_house_rows, write_companies_house
from monitor.demo.enrichment import ENRICHMENT_HEADER, enrichment_rows, write_enrichment

__all__ = [
    "COMPANIES_HOUSE_HEADER",
    "ENRICHMENT_HEADER",
    "companies_house_rows",
    "enrichment_rows",
    "write_companies_house",
    "write_enrichment",
]
