"""A store's opening hours, the dates they differ (holidays, special hours), and its photos in order.

Opening hours are intervals per weekday (0 = Monday ... 6 = Sunday, as Python's `date.weekday()`), in the
program's time zone (settings.TIME_ZONE), several a day when the store closes at lunch. An interval whose
closing time is not after its opening time runs past midnight: Friday 18:00-02:00 is open from Friday 18:00 to
Saturday 02:00, and "closes at 00:00" means at midnight. An interval is never empty (opening == closing is
refused) and never longer than a day.
Invariants (checked by `opening_hours_check` in the console's forms; the single-row ones by constraints):
- a store's intervals never overlap, across midnight and from Sunday into Monday too;
- a date has at most one exception: closed all day, or open during one interval instead of its weekday's hours
  (a special interval may run past midnight as well);
- photos are shown by position, then by id.
"""

from dataclasses import dataclass
from datetime import time

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class StoreOpeningHours(models.Model):
    """One interval a store is open on a weekday; past midnight when it closes at or before it opens."""

    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.CASCADE, related_name="opening_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens_at = models.TimeField(_("opens at"))
    closes_at = models.TimeField(
        _("closes at"), help_text=_("Earlier than the opening time (or 00:00): the store closes the next day.")
    )

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="store_hours_weekday_valid"),
            models.CheckConstraint(condition=~Q(opens_at=F("closes_at")), name="store_hours_not_empty"),
        ]
        indexes = [models.Index(fields=["store", "weekday"], name="store_hours_store_weekday_idx")]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"

    def clean(self):
        interval_check(opens_at=self.opens_at, closes_at=self.closes_at)


class StoreHoursException(models.Model):
    """A date a store keeps other hours than its weekday's: closed (a public holiday), or one special interval."""

    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.CASCADE, related_name="hours_exceptions"
    )
    date = models.DateField(_("date"))
    is_closed = models.BooleanField(_("closed all day"), default=True)
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=120, blank=True, help_text=_("Shown to members, e.g. the holiday."))

    class Meta:
        verbose_name = _("opening hours exception")
        verbose_name_plural = _("opening hours exceptions")
        constraints = [
            models.UniqueConstraint(fields=["store", "date"], name="store_hours_exception_once_a_date"),
            models.CheckConstraint(
                condition=Q(is_closed=True, opens_at__isnull=True, closes_at__isnull=True)
                | (Q(is_closed=False, opens_at__isnull=False, closes_at__isnull=False) & ~Q(opens_at=F("closes_at"))),
                name="store_hours_exception_closed_or_hours",
            ),
        ]

    def __str__(self):
        if self.is_closed:
            return _("%(date)s closed") % {"date": f"{self.date:%Y-%m-%d}"}
        return f"{self.date:%Y-%m-%d} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"

    def clean(self):
        if self.is_closed:
            if self.opens_at is not None or self.closes_at is not None:
                message = _("A date closed all day has no hours.")
                raise ValidationError({"opens_at": message})
            return
        missing = {
            name: _("Give the hours of this date, or tick “closed all day”.")
            for name in ("opens_at", "closes_at")
            if getattr(self, name) is None
        }
        if missing:
            raise ValidationError(missing)
        interval_check(opens_at=self.opens_at, closes_at=self.closes_at)


class StorePhoto(models.Model):
    """A photo of a store; members see them by position."""

    store = models.ForeignKey("members.Store", verbose_name=_("store"), on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("image"), upload_to="stores/")
    position = models.PositiveSmallIntegerField(_("position"), default=0, help_text=_("Lower comes first."))
    caption = models.CharField(_("caption"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("store photo")
        verbose_name_plural = _("store photos")
        indexes = [models.Index(fields=["store", "position"], name="store_photo_store_position_idx")]

    def __str__(self):
        return self.caption or self.image.name


def interval_check(*, opens_at: time, closes_at: time) -> None:
    """Refuse an empty interval (opening == closing), naming the closing time."""
    if opens_at == closes_at:
        raise ValidationError({"closes_at": _("The closing time must differ from the opening time.")})


@dataclass(frozen=True)
class WeeklyInterval:
    weekday: int
    opens_at: time
    closes_at: time


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def week_span(interval: WeeklyInterval) -> tuple[int, int]:
    """The interval as [start, end) minutes from Monday 00:00; end may pass the week's end (Sunday night)."""
    start = interval.weekday * MINUTES_PER_DAY + _minutes(interval.opens_at)
    length = (_minutes(interval.closes_at) - _minutes(interval.opens_at)) % MINUTES_PER_DAY
    return start, start + (length or MINUTES_PER_DAY)


def opening_hours_check(intervals: list[WeeklyInterval]) -> None:
    """Refuse weekly intervals that overlap (one past midnight overlapping the next day's, Sunday's into Monday's).

    Raises ValidationError naming the two intervals.
    """
    spans = []
    for interval in intervals:
        start, end = week_span(interval)
        spans.append((start, end, interval))
        if end > MINUTES_PER_WEEK:  # Sunday night into Monday morning
            spans.append((start - MINUTES_PER_WEEK, end - MINUTES_PER_WEEK, interval))
    spans.sort(key=lambda span: (span[0], span[1]))
    for (_start, end, first), (next_start, _end, second) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            raise ValidationError(
                _("%(first)s overlaps %(second)s.") % {"first": _label(first), "second": _label(second)},
                code="overlap",
            )


def _label(interval: WeeklyInterval) -> str:
    return f"{Weekday(interval.weekday).label} {interval.opens_at:%H:%M}–{interval.closes_at:%H:%M}"
