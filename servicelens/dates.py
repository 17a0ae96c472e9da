"""Survey dates: yesterday in the business timezone, date ranges, and the dates no run accepts.

Standard library only, so the command line can refuse a reversed or future date before it
starts Prefect or reads a file, and the flows (run from a deployment, where no command line
checked anything) refuse the same dates with the same words.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


class SurveyDateError(ValueError):
    """A date or range that no run processes (reversed, or not over yet); nothing was done."""


#: Text shaped as a date (``YYYY-MM-DD``) or a month (``YYYY-MM``), whatever its numbers.
_DATE_SHAPED = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


def _ordinal(number: int) -> str:
    """``number`` as an ordinal in English: 1st, 2nd, 3rd, 11th, 30th, 31st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"


def why_no_date(text: str) -> str | None:
    """Why ``text``, shaped as a date ``YYYY-MM-DD`` or a month ``YYYY-MM``, names none: its
    month is not 01 to 12 (with the date day-first, ``2026-13-01``, swapped as a guess), or
    its day is not one of that month's (``February 2026 has no 30th: its last day is
    2026-02-28``). None for text of another shape, and for text that is a date or a month.

    Found by an on-call engineer's trial: ``run --date 2026-02-30`` was told it "is not a
    date like 2026-11-01", which it is, in every way but the calendar."""
    shaped = _DATE_SHAPED.fullmatch(text)
    if shaped is None:
        return None
    year, month = int(shaped[1]), int(shaped[2])
    if year < 1:
        return "there is no year 0000"
    if not 1 <= month <= 12:
        said = f"there is no month {shaped[2]} (months are 01 to 12)"
        day = int(shaped[3]) if shaped[3] else 0
        if 1 <= day <= 12 and 1 <= month <= calendar.monthrange(year, day)[1]:
            meant = f"{month} {calendar.month_name[day]} {year:04d}"
            said += f"; if it means {meant}, write {year:04d}-{day:02d}-{month:02d}"
        return said
    if shaped[3] is None:
        return None
    day, last = int(shaped[3]), calendar.monthrange(year, month)[1]
    if 1 <= day <= last:
        return None
    name = f"{calendar.month_name[month]} {year:04d}"
    if day == 0:
        return f"there is no day 00 (the days of {name} are 01 to {last})"
    return f"{name} has no {_ordinal(day)}: its last day is {year:04d}-{month:02d}-{last}"


def today(timezone: str, now: datetime | None = None) -> date:
    """Today's date in the business timezone (``now`` defaults to the current time)."""
    return (now.astimezone(ZoneInfo(timezone)) if now else datetime.now(ZoneInfo(timezone))).date()


def yesterday(timezone: str, now: datetime | None = None) -> date:
    """Yesterday's date in the business timezone (the nightly run's default date)."""
    return today(timezone, now) - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_period(day: date, granularity: str) -> date:
    """The first day of the partition after ``day``'s: the next day, or for ``"month"``
    (a monthly source's partitions, named by their first day) the next month's first day."""
    return add_months(day, 1) if granularity == "month" else day + timedelta(days=1)


def periods_word(granularity: str) -> str:
    """What a count of partitions of ``granularity`` (``day`` or ``month``) is of, for
    messages: a monthly source's are months (a QA lead's trial read "130 date(s)" of a CFPB
    source's monthly partitions)."""
    return "month(s)" if granularity == "month" else "date(s)"


def refuse_reversed(
    start: date,
    end: date,
    names: tuple[str, str] = ("start", "end"),
    typed: tuple[str, str] | None = None,
) -> None:
    """Raise :class:`SurveyDateError` when ``end`` is before ``start``.

    ``names`` are what the user typed the two dates as (``--start``/``--end`` on the command
    line, ``start``/``end`` as deployment parameters), so the message names them; ``typed``,
    how their values were typed (a month ``2021-06`` for its first or last day), so the swap
    it proposes is the range the user meant.
    """
    if end < start:
        first, last = typed or (start.isoformat(), end.isoformat())
        raise SurveyDateError(
            f"{names[1]} {last} is before {names[0]} {first}; nothing was run. Swap them: "
            f"{names[0]} {last} {names[1]} {first}"
        )


def refuse_future(
    day: date, timezone: str, name: str = "date", now: datetime | None = None
) -> None:
    """Raise :class:`SurveyDateError` when ``day`` is after today in ``timezone``.

    A survey date after today has no exports yet: running it would only record a failure
    (or publish an empty day). Today itself is accepted (a partial day; the nightly run and
    its look-back process it again once it is over).
    """
    current = today(timezone, now)
    if day > current:
        raise SurveyDateError(
            f"{name} {day} is in the future (today is {current} in {timezone}); nothing was "
            f"run and nothing recorded. Use a date up to {current} (yesterday, "
            f"{current - timedelta(days=1)}, is the last complete day)"
        )


def last_day_of_period(day: date, granularity: str) -> date:
    """The last date of the partition holding ``day``: ``day`` itself, or for ``"month"``
    the last day of its month."""
    return add_months(day, 1) - timedelta(days=1) if granularity == "month" else day


def refuse_after_current_period(
    day: date,
    timezone: str,
    granularity: str,
    name: str = "end",
    now: datetime | None = None,
) -> None:
    """Raise :class:`SurveyDateError` when ``day`` (a configured source's range end) is after
    the partition period holding today in ``timezone``: today for a daily source, the current
    month's last day for a monthly one (``granularity``).

    A monthly source's ``--end 2026-12-31`` bounds partition 2026-12-01, which a delivery may
    have landed by 2026-12-02: that stays accepted. Anything later holds no partition yet; a
    trial's daily source took ``--end 2027-01-31`` and counted the days to come too.
    """
    if granularity != "month":
        refuse_future(day, timezone, name, now)
        return
    current = today(timezone, now)
    last = last_day_of_period(current, granularity)
    if day > last:
        raise SurveyDateError(
            f"{name} {day} is in the future (today is {current} in {timezone}, and this "
            f"source's partitions are months); nothing was run and nothing recorded. Use a "
            f"date up to {last} (the last day of {current:%Y-%m}, the newest partition that "
            "may hold deliveries)"
        )


def survey_date_range(
    start: date,
    end: date,
    timezone: str | None = None,
    names: tuple[str, str] = ("start", "end"),
    now: datetime | None = None,
) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive, oldest first.

    Raises :class:`SurveyDateError` if the range is reversed, or, given the business
    ``timezone``, if ``end`` is in the future.
    """
    refuse_reversed(start, end, names)
    if timezone is not None:
        refuse_future(end, timezone, names[1], now)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


#: The first survey time two zones' offsets are compared from (:func:`zones_differ`): no
#: survey export servicelens reads times responses before it. From 1970 instead, Vienna
#: would differ from Berlin for two hours on 6 April and 28 September 1980 (Austria changed
#: its clocks at 00:00 that year, West Germany at 02:00), and a trial's Vienna source
#: landed in a Berlin data directory would be warned of days that cannot shift.
ZONES_COMPARED_FROM = date(1990, 1, 1)
#: How many years after today :func:`zones_differ` compares two zones up to (the tz
#: database's announced rules; exports of surveys dated later are refused anyway).
ZONES_COMPARED_YEARS_AHEAD = 5


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants (UTC, to the second) in ``[start, end)`` at which ``zone``'s UTC offset
    changes, read from the tz database through zoneinfo: each day whose offset at its start
    and its end differ is bisected to the second the new offset begins. Two changes within
    one day (none in the tz database since 1970) would be missed."""
    one_day, found = timedelta(days=1), []
    day = start
    while day < end:
        low, high = day, min(day + one_day, end)
        if zone.utcoffset(low) != zone.utcoffset(high):
            before = zone.utcoffset(low)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if zone.utcoffset(middle) == before else (low, middle)
            found.append(high)
        day += one_day
    return found


def zones_differ(
    first: str,
    second: str,
    start: date = ZONES_COMPARED_FROM,
    end: date | None = None,
) -> bool:
    """Whether the IANA zones ``first`` and ``second`` have different UTC offsets at some
    instant from ``start`` (00:00 UTC) to ``end`` (exclusive; default: January 1st
    :data:`ZONES_COMPARED_YEARS_AHEAD` years after today), i.e. whether a time read in one
    can fall on another date in the other. Compared at each day's start and at every
    instant either zone's offset changes (:func:`_transitions`), from the tz database
    through zoneinfo: Europe/Vienna and Europe/Berlin do not differ from 1990, Europe/London
    and Europe/Berlin always do. Raises ``zoneinfo.ZoneInfoNotFoundError`` for a name the
    tz database does not have."""
    from datetime import UTC

    zones = ZoneInfo(first), ZoneInfo(second)
    until = end or date(date.today().year + ZONES_COMPARED_YEARS_AHEAD, 1, 1)
    low = datetime(start.year, start.month, start.day, tzinfo=UTC)
    high = datetime(until.year, until.month, until.day, tzinfo=UTC)
    days = (low + timedelta(days=n) for n in range((high - low).days))
    changes = (t for zone in zones for t in _transitions(zone, low, high))
    instants = [*days, *changes]
    return any(zones[0].utcoffset(t) != zones[1].utcoffset(t) for t in instants)
