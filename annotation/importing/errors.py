from __future__ import annotations


class DatasetImportError(Exception):
    """An import failed. The message names the file, the line/row/item and the field."""

    def __init__(self, message: str, *, file: str = "", location: str = "", field: str = ""):
        self.file, self.location, self.field, self.reason = file, location, field, message
        parts = [p for p in (file, location, f"field {field!r}" if field else "") if p]
        super().__init__(f"{': '.join([', '.join(parts)] if parts else [])}{': ' if parts else ''}{message}")
