"""hub: change data capture and connector integration hub."""

__version__ = "0.1.0"
