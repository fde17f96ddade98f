"""Security advisories of the sites' code (issue 14, part B)."""
