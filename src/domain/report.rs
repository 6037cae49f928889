//! The service report (R-RPT-1): which instants a reporting period covers,
//! and the rates built from the counts the database aggregates. Periods are
//! local calendar periods in the policy's time zone, turned into a half-open
//! UTC range [start, end).
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// What the caller asks the report to cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// The ISO week (Monday to Monday) containing the date.
    Week(NaiveDate),
    /// The calendar month containing the date.
    Month(NaiveDate),
    /// The season (policy `report.season_starts`) containing the date.
    Season(NaiveDate),
    /// An explicit UTC range [start, end).
    Range(DateTime<Utc>, DateTime<Utc>),
}

/// A resolved period: [start, end) in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The longest explicit range a report may cover: two years, one of them leap.
const MAX_RANGE: Duration = Duration::days(731);

/// Calendar periods are anchored in years a utility's records can hold;
/// this also keeps the date arithmetic far from chrono's limits.
const ANCHOR_YEARS: std::ops::RangeInclusive<i32> = 1970..=9998;
const ANCHOR_FIELD: &str = "period.calendar.anchor_date";

/// Parse "MM-DD" season starts into sorted (month, day) pairs.
pub fn season_starts(starts: &[String]) -> Result<Vec<(u32, u32)>, String> {
    if starts.is_empty() {
        return Err("at least one season start is needed".into());
    }
    let mut out = Vec::with_capacity(starts.len());
    for s in starts {
        let (m, d) = s
            .split_once('-')
            .and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("{s:?} is not MM-DD"))?;
        // Checked against a leap year so 02-29 is refused only where it must be.
        if m == 2 && d == 29 || NaiveDate::from_ymd_opt(2025, m, d).is_none() {
            return Err(format!("{s:?} is not a day every year has"));
        }
        out.push((m, d));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Local midnight at the start of `date`, in UTC. A midnight that a DST
/// change skips becomes the first instant of the day that exists.
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .expect("an hour after a skipped midnight exists")
            .with_timezone(&Utc),
    }
}

impl Period {
    /// The UTC span of this period. `season_starts` is the policy's list.
    pub fn span(self, tz: Tz, seasons: &[String]) -> AppResult<Span> {
        if let Period::Week(d) | Period::Month(d) | Period::Season(d) = self
            && !ANCHOR_YEARS.contains(&d.year())
        {
            return Err(out_of_range(
                ANCHOR_FIELD,
                "anchor_date must lie in the years 1970..=9998",
            ));
        }
        let (start, end) = match self {
            Period::Week(d) => {
                let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
                (monday, monday + Duration::days(7))
            }
            Period::Month(d) => {
                let first = d.with_day(1).expect("day 1 exists");
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .ok_or_else(|| out_of_range(ANCHOR_FIELD, "date out of range"))?;
                (first, next)
            }
            Period::Season(d) => season_of(d, seasons)?,
            Period::Range(start, end) => {
                if end <= start {
                    return Err(out_of_range(
                        "period.range.end_time",
                        "the range must end after it starts",
                    ));
                }
                if end - start > MAX_RANGE {
                    return Err(out_of_range(
                        "period.range",
                        "a report covers at most two years",
                    ));
                }
                return Ok(Span { start, end });
            }
        };
        Ok(Span {
            start: local_midnight(tz, start),
            end: local_midnight(tz, end),
        })
    }
}

/// The local dates [first, next) of the season containing `d`.
fn season_of(d: NaiveDate, seasons: &[String]) -> AppResult<(NaiveDate, NaiveDate)> {
    let starts = season_starts(seasons).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    let at = |year: i32, (m, day): (u32, u32)| NaiveDate::from_ymd_opt(year, m, day);
    // Candidate starts over three years, in order; the season is the last start <= d.
    let all: Vec<NaiveDate> = (d.year() - 1..=d.year() + 1)
        .flat_map(|y| starts.iter().filter_map(move |s| at(y, *s)))
        .collect();
    let i = all
        .iter()
        .rposition(|s| *s <= d)
        .ok_or_else(|| out_of_range(ANCHOR_FIELD, "date out of range"))?;
    let next = all
        .get(i + 1)
        .ok_or_else(|| out_of_range(ANCHOR_FIELD, "date out of range"))?;
    Ok((all[i], *next))
}

fn out_of_range(field: &str, msg: &str) -> AppError {
    AppError::invalid(field, reason::OUT_OF_RANGE, msg)
}

/// A share of a whole; None when the whole is empty (a rate of nothing is
/// not 0 % and not 100 %).
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn utc(y: i32, m: u32, day: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, h, 0, 0).unwrap()
    }

    fn quarters() -> Vec<String> {
        ["03-01", "06-01", "09-01", "12-01"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn r_rpt_1_week_is_monday_to_monday_local() {
        // 2026-11-22 is a Sunday; Shanghai is UTC+8.
        let s = Period::Week(d(2026, 11, 22))
            .span(Shanghai, &quarters())
            .unwrap();
        assert_eq!(s.start, utc(2026, 11, 15, 16));
        assert_eq!(s.end, utc(2026, 11, 22, 16));
    }

    #[test]
    fn r_rpt_1_month_and_year_end() {
        let s = Period::Month(d(2026, 12, 31))
            .span(Shanghai, &quarters())
            .unwrap();
        assert_eq!(s.start, utc(2026, 11, 30, 16));
        assert_eq!(s.end, utc(2026, 12, 31, 16));
    }

    #[test]
    fn r_rpt_1_season_wraps_the_year() {
        let heating = vec!["11-01".to_string(), "04-01".to_string()];
        let s = Period::Season(d(2027, 1, 15))
            .span(Shanghai, &heating)
            .unwrap();
        assert_eq!(s.start, utc(2026, 10, 31, 16));
        assert_eq!(s.end, utc(2027, 3, 31, 16));
        let s = Period::Season(d(2026, 11, 1))
            .span(Shanghai, &heating)
            .unwrap();
        assert_eq!(
            s.start,
            utc(2026, 10, 31, 16),
            "a start day belongs to its season"
        );
        let s = Period::Season(d(2026, 10, 31))
            .span(Shanghai, &heating)
            .unwrap();
        assert_eq!(s.end, utc(2026, 10, 31, 16));
    }

    #[test]
    fn range_must_be_forward_and_bounded() {
        let a = utc(2026, 1, 1, 0);
        assert!(Period::Range(a, a).span(Shanghai, &quarters()).is_err());
        assert!(
            Period::Range(a, a + Duration::days(800))
                .span(Shanghai, &quarters())
                .is_err()
        );
        let s = Period::Range(a, a + Duration::days(365))
            .span(Shanghai, &quarters())
            .unwrap();
        assert_eq!(s.start, a);
    }

    #[test]
    fn anchors_far_from_now_are_refused_not_panicking() {
        let far = [
            NaiveDate::MAX,
            NaiveDate::MIN,
            d(1969, 12, 31),
            d(9999, 1, 1),
        ];
        for date in far {
            for p in [
                Period::Week(date),
                Period::Month(date),
                Period::Season(date),
            ] {
                let e = p.span(Shanghai, &quarters()).unwrap_err();
                assert_eq!(e.reason(), reason::OUT_OF_RANGE, "{p:?}");
            }
        }
        assert!(
            Period::Month(d(9998, 12, 31))
                .span(Shanghai, &quarters())
                .is_ok()
        );
        assert!(
            Period::Season(d(9998, 12, 31))
                .span(Shanghai, &quarters())
                .is_ok()
        );
    }

    #[test]
    fn season_starts_are_checked() {
        assert!(season_starts(&[]).is_err());
        assert!(season_starts(&["13-01".into()]).is_err());
        assert!(season_starts(&["02-29".into()]).is_err());
        assert_eq!(
            season_starts(&["11-01".into(), "04-01".into()]).unwrap(),
            vec![(4, 1), (11, 1)]
        );
    }

    #[test]
    fn rate_of_nothing_is_none() {
        assert_eq!(rate(0, 0), None);
        assert_eq!(rate(1, 4), Some(0.25));
    }
}
