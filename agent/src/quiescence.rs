//! Template `wait { min, max }`: consul-template's quiescence timer, as a pure value.
//!
//! Once every template has rendered, each template with a `wait` gets a fresh timer. A runner
//! pass that brings new data ticks it instead of rendering: the first tick sets the deadline
//! `now + min` and the cap `now + max`; every later tick pushes the deadline to `now + min`,
//! never past the cap. When the deadline passes, that template alone renders, and a fresh timer
//! replaces the spent one.
//!
//! Measured difference: `bao agent` 2.7.2 also ticks when a re-read brings unchanged data (a KV
//! secret every `static_secret_render_interval`), so when re-reads come faster than `min` it
//! renders only every `max`. kagi's watchers report changes only, so a tick here is a change,
//! which is what the Vault docs describe ("each data change pushes the render out by min").

use std::time::Instant;

use crate::config::Wait;

/// One template's quiescence timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiescence {
    wait: Wait,
    /// `(fires at, never later than)`, set by the first tick.
    window: Option<(Instant, Instant)>,
}

impl Quiescence {
    pub fn new(wait: Wait) -> Self {
        Quiescence { wait, window: None }
    }

    /// New data arrived at `now`: snooze (or start) the timer.
    pub fn tick(&mut self, now: Instant) {
        let (_, cap) = *self
            .window
            .get_or_insert((now + self.wait.min, now + self.wait.max));
        let fires = (now + self.wait.min).min(cap);
        // A tick after the cap passed leaves the (already due) deadline alone.
        if fires > now {
            self.window = Some((fires, cap));
        }
    }

    /// When the template should render, if the timer is running.
    pub fn deadline(&self) -> Option<Instant> {
        self.window.map(|(fires, _)| fires)
    }

    /// Whether the timer is running and due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn q(min: u64, max: u64) -> Quiescence {
        Quiescence::new(Wait {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
        })
    }

    #[test]
    fn idle_until_the_first_tick() {
        let timer = q(5, 20);
        assert_eq!(timer.deadline(), None);
        assert!(!timer.is_due(Instant::now() + Duration::from_secs(3600)));
    }

    #[test]
    fn each_tick_pushes_the_render_out_by_min() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = q(5, 20);
        timer.tick(t0);
        assert_eq!(timer.deadline(), Some(t0 + s(5)));
        timer.tick(t0 + s(3));
        assert_eq!(timer.deadline(), Some(t0 + s(8)));
        assert!(!timer.is_due(t0 + s(7)));
        assert!(timer.is_due(t0 + s(8)));
    }

    #[test]
    fn never_past_first_tick_plus_max() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut timer = q(5, 12);
        for at in [0, 4, 8] {
            timer.tick(t0 + s(at));
        }
        assert_eq!(timer.deadline(), Some(t0 + s(12)), "capped at first + max");
        timer.tick(t0 + s(11));
        assert_eq!(timer.deadline(), Some(t0 + s(12)));
        // A tick after the cap keeps the due deadline.
        timer.tick(t0 + s(13));
        assert!(timer.is_due(t0 + s(13)));
    }
}
