"""Cron expressions in a time zone: what they allow, their next run across both daylight-saving changes."""

from datetime import UTC, datetime, timedelta

import pytest

from nodeconductor.core import cron

TALLINN = cron.zone("Europe/Tallinn")


def runs(expression, tz, start, count):
    """The next `count` runs from `start`, one after the other, in UTC."""
    parsed, at, out = cron.parse(expression), start, []
    for _ in range(count):
        at = cron.next_run(parsed, tz, at)
        out.append(at)
    return out


def test_a_daily_0200_in_tallinn_fires_once_per_local_day_across_the_spring_change():
    # 2027-03-28 03:00 EET -> 04:00 EEST: 02:00 is 00:00 UTC before the change, 23:00 UTC the day before after it.
    found = runs("0 2 * * *", TALLINN, datetime(2027, 3, 26, 12, tzinfo=UTC), 4)
    assert found == [datetime(2027, 3, 27, 0, tzinfo=UTC), datetime(2027, 3, 28, 0, tzinfo=UTC),
                     datetime(2027, 3, 28, 23, tzinfo=UTC), datetime(2027, 3, 29, 23, tzinfo=UTC)]  # fmt: skip
    local = [f.astimezone(TALLINN) for f in found]
    assert [(d.day, d.hour, d.minute) for d in local] == [(27, 2, 0), (28, 2, 0), (29, 2, 0), (30, 2, 0)]


def test_a_daily_0200_in_tallinn_fires_once_per_local_day_across_the_autumn_change():
    # 2027-10-31 04:00 EEST -> 03:00 EET.
    found = runs("0 2 * * *", TALLINN, datetime(2027, 10, 29, 12, tzinfo=UTC), 4)
    local = [f.astimezone(TALLINN) for f in found]
    assert [(d.month, d.day, d.hour) for d in local] == [(10, 30, 2), (10, 31, 2), (11, 1, 2), (11, 2, 2)]
    assert [b - a for a, b in zip(found, found[1:], strict=False)] == [timedelta(hours=24), timedelta(hours=25),
                                                                       timedelta(hours=24)]  # fmt: skip


def test_a_time_the_change_skips_fires_once_just_after_the_jump_and_a_repeated_one_once():
    (spring,) = runs("30 3 28 3 *", TALLINN, datetime(2027, 3, 27, tzinfo=UTC), 1)
    assert spring == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 04:30 EEST, the first instant after the gap
    autumn = runs("30 3 31 10 *", TALLINN, datetime(2027, 10, 30, tzinfo=UTC), 2)
    assert autumn[0] == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 03:30 EEST, the first of the two
    assert autumn[1].year == 2028  # not again at 03:30 EET an hour later


def test_fields_steps_ranges_names_and_the_day_rule():
    parsed = cron.parse("15 */6 1-7 jan,JUL mon")
    assert parsed.minutes == (15,) and parsed.hours == (0, 6, 12, 18)
    assert parsed.months == {1, 7} and parsed.weekdays == {1}
    # Both day fields restricted: either matches (cron's rule); the 1st-7th or any Monday.
    assert parsed.day_matches(datetime(2027, 1, 2).date()) and parsed.day_matches(datetime(2027, 1, 11).date())
    assert not parsed.day_matches(datetime(2027, 1, 12).date())
    assert cron.parse("0 0 * * 7").weekdays == {0}
    assert cron.runs_per_hour(cron.parse("0,30 * * * *")) == 2


@pytest.mark.parametrize("expression,message", [
    ("0 2 * *", "A schedule has 5 fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *' for 02:00 "
                "every day; this one has 4."),
    ("61 2 * * *", "The minute field has 61, outside 0-59."),
    ("0 2 * * funday", "The day of week field has 'funday', which is not a number from 0 to 7."),
    ("0 5-2 * * *", "The hour field has the range 5-2, which runs backwards."),
    ("*/0 * * * *", "The minute field has the step '0'; a step is a whole number of at least 1."),
])  # fmt: skip
def test_bad_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(cron.CronError) as err:
        cron.parse(expression)
    assert str(err.value) == message


def test_an_expression_that_never_fires_and_an_unknown_zone_are_refused():
    with pytest.raises(cron.CronError, match="never fires"):
        cron.next_run(cron.parse("0 0 30 2 *"), TALLINN, datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(cron.CronError) as err:
        cron.zone("Mars/Olympus")
    assert str(err.value) == "Unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Tallinn or UTC."


def test_a_starred_day_field_with_a_step_still_leaves_the_choice_to_the_other_one():
    # Vixie cron: "*/2" starts with "*", so both day fields must match (every other day that is a Monday).
    parsed = cron.parse("0 2 */2 * 1")
    assert parsed.day_matches(datetime(2027, 1, 11).date())  # the 11th, a Monday
    assert not parsed.day_matches(datetime(2027, 1, 4).date())  # a Monday on an even day
    assert not parsed.day_matches(datetime(2027, 1, 13).date())  # an odd day that is no Monday
