"""synthmon.yaml as pydantic-core schemas (values, checks, document), the translation of their errors, and the build into dataclasses."""
