"""datagen: generated records at a configurable rate, for demos, tests and benchmarks."""

from connectors.source.datagen.connector import Datagen, DatagenTask

__all__ = ["Datagen", "DatagenTask"]
