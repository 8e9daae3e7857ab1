//! Vault's API client retry rule, shared by the agent's own requests ([`crate::vault`]) and
//! the API proxy's forwarder, and the `Retry-After` a 429 or 503 carries.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Vault's API client retry rule (go-retryablehttp under api/client.go), for the agent's own
/// requests and the ones its API proxy forwards: a request that met a connection error, 412,
/// 429 or a 5xx other than 501 is sent again up to `max_retries` times, retry `n` (1-based)
/// after `n ×` a random wait in 1–1.5 s; `timeout` bounds all attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRetry {
    pub max_retries: u32,
    pub timeout: Duration,
}

impl HttpRetry {
    const MIN_WAIT: Duration = Duration::from_millis(1000);
    const MAX_WAIT: Duration = Duration::from_millis(1500);

    /// The wait before retry `attempt` (1-based): the server's `retry_after` when it sent one,
    /// else `attempt ×` a wait in 1–1.5 s picked by `u` in [0, 1].
    pub fn wait(attempt: u32, retry_after: Option<Duration>, u: f64) -> Duration {
        retry_after.unwrap_or_else(|| {
            let jitter = (Self::MAX_WAIT - Self::MIN_WAIT).mul_f64(u.clamp(0.0, 1.0));
            (Self::MIN_WAIT + jitter) * attempt
        })
    }

    /// go-retryablehttp's `parseRetryAfterHeader`, read on 429 and 503 only: whole seconds
    /// (not negative) or an RFC 1123 date, a date in the past meaning "now". Anything else, or
    /// another status, is no `Retry-After` (the usual backoff applies).
    pub fn retry_after(status: u16, header: Option<&str>, now: SystemTime) -> Option<Duration> {
        if !matches!(status, 429 | 503) {
            return None;
        }
        let header = header?;
        if header.is_empty() {
            return None;
        }
        if let Ok(seconds) = header.parse::<i64>() {
            return u64::try_from(seconds).ok().map(Duration::from_secs);
        }
        let at = parse_rfc1123(header)?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// Statuses the Vault client sends again.
    pub fn retryable_status(code: u16) -> bool {
        matches!(code, 412 | 429) || (code >= 500 && code != 501)
    }
}

/// rustify's reqwest client, remembering the `Retry-After` of the answer: rustify turns a
/// non-2xx answer into an error that keeps the body only, and the retry loop needs the header.
pub(crate) struct Observed<'a> {
    pub(crate) inner: &'a rustify::clients::reqwest::Client,
    pub(crate) retry_after: Mutex<Option<Duration>>,
}

type Sent<'f> = Pin<
    Box<
        dyn Future<Output = Result<hyper::Response<Vec<u8>>, rustify::errors::ClientError>>
            + Send
            + 'f,
    >,
>;

impl rustify::client::Client for Observed<'_> {
    // The signature `#[async_trait]` gives `async fn send` in rustify's trait.
    fn send<'s, 'f>(&'s self, req: hyper::Request<Vec<u8>>) -> Sent<'f>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let response = rustify::client::Client::send(self.inner, req).await?;
            let header = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            *self.retry_after.lock().expect("not poisoned") =
                HttpRetry::retry_after(response.status().as_u16(), header, SystemTime::now());
            Ok(response)
        })
    }

    fn base(&self) -> &str {
        self.inner.base.as_str()
    }
}

/// Go's `time.Parse(time.RFC1123, s)` ("Mon, 02 Jan 2006 15:04:05 MST"). Go gives a zone
/// abbreviation it does not know a zero offset, and so does this (HTTP dates say GMT).
fn parse_rfc1123(s: &str) -> Option<SystemTime> {
    let (weekday, rest) = s.split_once(", ")?;
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !DAYS.contains(&weekday) {
        return None;
    }
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, clock, zone] = parts.as_slice() else {
        return None;
    };
    let digits = |t: &str, n: usize| {
        (t.len() == n && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u64>().ok())?
    };
    let day = digits(day, 2)?;
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year = digits(year, 4)?;
    let hms: Vec<&str> = clock.split(':').collect();
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let (h, m, sec) = (digits(h, 2)?, digits(m, 2)?, digits(sec, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 59 || zone.is_empty() {
        return None;
    }
    if !zone.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil), for years from 1970 on.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_on_429_and_503_only() {
        let now = at(1_000);
        assert_eq!(
            HttpRetry::retry_after(503, Some("3"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            HttpRetry::retry_after(429, Some("0"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(HttpRetry::retry_after(500, Some("3"), now), None);
        assert_eq!(HttpRetry::retry_after(502, Some("3"), now), None);
        assert_eq!(HttpRetry::retry_after(503, Some("-1"), now), None);
        assert_eq!(HttpRetry::retry_after(503, Some(""), now), None);
        assert_eq!(HttpRetry::retry_after(503, Some("soon"), now), None);
        assert_eq!(HttpRetry::retry_after(503, None, now), None);
        // 2026-12-02 13:47:15 UTC is Unix 1796219235.
        let date = "Wed, 02 Dec 2026 13:47:15 GMT";
        assert_eq!(parse_rfc1123(date), Some(at(1_796_219_235)));
        assert_eq!(
            HttpRetry::retry_after(503, Some(date), at(1_796_219_230)),
            Some(Duration::from_secs(5))
        );
        // A date in the past: retry at once.
        assert_eq!(
            HttpRetry::retry_after(429, Some(date), at(1_796_219_300)),
            Some(Duration::ZERO)
        );
        // And the wait used is exactly it.
        assert_eq!(
            HttpRetry::wait(3, Some(Duration::from_secs(5)), 0.7),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn rfc1123_dates_parse_as_go_parses_them() {
        assert_eq!(
            parse_rfc1123("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(
            parse_rfc1123("Tue, 29 Feb 2028 23:59:59 UTC"),
            Some(at(1_835_481_599))
        );
        for bad in [
            "02 Dec 2026 13:47:15 GMT",
            "Wed, 2 Dec 2026 13:47:15 GMT",
            "Wed, 02 Dez 2026 13:47:15 GMT",
            "Wed, 02 Dec 2026 13:47 GMT",
            "Wed, 02 Dec 2026 24:00:00 GMT",
            "Wed, 02 Dec 2026 13:47:15 +0000",
            "Wed, 02 Dec 2026 13:47:15",
        ] {
            assert_eq!(parse_rfc1123(bad), None, "{bad}");
        }
    }
}
