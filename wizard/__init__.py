"""binderhub-wizard core: settings, rendering, install engine. Never imports the UI."""

__version__ = "0.1.0"
