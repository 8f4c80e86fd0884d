"""Validated settings of one run of the handbook's transaction simulator.

Defaults are the explicit call behind the published dataset (Le Borgne et al., 2022, Chapter 3,
"Transaction data simulator"): 5,000 customers, 10,000 terminals, 183 days from
2018-04-01, radius 5. (The handbook function's own default arguments differ; they are not used.)
"""

from __future__ import annotations

import datetime

import pydantic


class HandbookConfig(pydantic.BaseModel, frozen=True, extra="forbid"):
    """Sizes, calendar and geography of a handbook simulation run.

    Attributes
    ----------
    n_customers : int
        Number of customers (ids 0 .. n_customers-1), 1 .. 1,000,000.
    n_terminals : int
        Number of terminals (ids 0 .. n_terminals-1), 1 .. 10,000,000.
    nb_days : int
        Number of simulated days, 1 .. 3650.
    start_date : datetime.date
        Day 0 (midnight, no time zone). Accepts ``"YYYY-MM-DD"`` strings. The whole calendar
        (``start_date`` to ``start_date + nb_days``) must lie within pandas' nanosecond
        timestamps (1677-09-22 .. 2262-04-10), or times would silently wrap round.
    radius : float
        A customer may use a terminal strictly closer than this (square side 100), > 0.

    Raises
    ------
    pydantic.ValidationError
        On construction with a bad value; the message names the field and the allowed range.
        (Extensions of our own, added later, must each default to off so that the default
        config keeps reproducing the published data.)
    """

    n_customers: int = pydantic.Field(
        5000, ge=1, le=1_000_000, description="number of customers, 1 .. 1,000,000"
    )
    n_terminals: int = pydantic.Field(
        10000, ge=1, le=10_000_000, description="number of terminals, 1 .. 10,000,000"
    )
    nb_days: int = pydantic.Field(183, ge=1, le=3650, description="number of days, 1 .. 3650")
    start_date: datetime.date = pydantic.Field(
        datetime.date(2018, 4, 1), description="day 0, a date such as 2018-04-01"
    )
    radius: float = pydantic.Field(
        5.0, gt=0, allow_inf_nan=False, description="customer-terminal radius, finite and > 0"
    )

    @pydantic.field_validator("start_date", mode="before")
    @classmethod
    def _parse_start_date(cls, value: object) -> object:
        """Accept a date or an ISO ``YYYY-MM-DD`` string; say what is allowed otherwise."""
        if isinstance(value, datetime.datetime):
            if value.time() != datetime.time(0) or value.tzinfo is not None:
                raise ValueError(f"start_date must be a date such as 2018-04-01, got {value!r}")
            return value.date()
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                pass
        raise ValueError(
            f"start_date must be a date such as 2018-04-01 (YYYY-MM-DD), got {value!r}"
        )

    @pydantic.model_validator(mode="after")
    def _calendar_fits(self) -> HandbookConfig:
        """Reject calendars outside pandas' datetime64[ns] range (they would wrap round)."""
        first, last = datetime.date(1677, 9, 22), datetime.date(2262, 4, 10)
        if not first <= self.start_date <= last - datetime.timedelta(days=self.nb_days):
            raise ValueError(
                f"start_date: the {self.nb_days} days from {self.start_date} (nb_days) must lie "
                f"within {first} .. {last}, the range of pandas timestamps"
            )
        return self
