"""synthmon: a synthetic monitor that probes a staging environment the way a user would."""

__version__ = "0.1.0"
