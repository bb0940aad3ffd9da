"""Dataset import: streaming readers (``readers``), field mapping (``mapping``), the database writer
(``writer``). Readers and mapping are pure Python; only the writer touches Django."""

from annotation.importing.errors import DatasetImportError

__all__ = ["DatasetImportError"]
