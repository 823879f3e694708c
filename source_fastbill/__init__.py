"""Airbyte source connector for FastBill and FastBill Automatic (Monsum)."""

from source_fastbill.source import SourceFastbill

__all__ = ["SourceFastbill"]
