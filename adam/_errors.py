"""Exceptions raised by the ADaM stage for input it cannot derive from."""

from __future__ import annotations


class AdamInputError(ValueError):
    """SDTM input the ADaM derivations cannot work with.

    The message names the dataset, the variable and (where one subject is at fault) the USUBJID, so the
    CLI can report it with exit code 2. Raised before any output is produced.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        variable: str | None = None,
        usubjid: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.variable = variable
        self.usubjid = usubjid
        where = ".".join(p for p in (dataset, variable) if p)
        prefix = f"{where}" + (f" USUBJID={usubjid}" if usubjid else "")
        super().__init__(f"{prefix}: {message}" if prefix else message)
