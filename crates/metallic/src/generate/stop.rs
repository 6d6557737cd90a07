//! Stop strings in streamed text. Text that could still grow into a stop
//! string is held back, so a stop string spanning several tokens is never
//! shown even in part, and the output ends just before it.

pub struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not released: a possible start of a stop string.
    held: String,
}

/// What one push releases.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// Text safe to show; more may follow.
    Text(String),
    /// A stop string appeared: the text before it, and nothing after.
    Stopped(String),
}

impl StopMatcher {
    /// Empty stop strings are ignored (they would match everywhere).
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> Released {
        self.held.push_str(text);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            self.held.truncate(at);
            return Released::Stopped(std::mem::take(&mut self.held));
        }
        let keep = self.longest_partial_stop();
        let rest = self.held.split_off(self.held.len() - keep);
        Released::Text(std::mem::replace(&mut self.held, rest))
    }

    /// The end of the stream: whatever is held is plain text after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Bytes at the end of `held` that begin some stop string.
    fn longest_partial_stop(&self) -> usize {
        let held = &self.held;
        (0..held.len())
            .filter(|&start| held.is_char_boundary(start))
            .map(|start| &held[start..])
            .find(|tail| self.stops.iter().any(|s| s.starts_with(tail)))
            .map_or(0, str::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for piece in pieces {
            match m.push(piece) {
                Released::Text(t) => out.push_str(&t),
                Released::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn a_stop_string_across_pieces_is_cut_with_nothing_of_it_shown() {
        assert_eq!(
            run(&["END"], &["abc E", "N", "D tail"]),
            ("abc ".into(), true)
        );
        assert_eq!(run(&["\n\n"], &["x\n", "\ny"]), ("x".into(), true));
    }

    #[test]
    fn a_false_start_is_released_and_the_earliest_stop_wins() {
        assert_eq!(run(&["END"], &["EN", "x", "E"]), ("ENxE".into(), false));
        assert_eq!(run(&["cd", "b"], &["abcd"]), ("a".into(), true));
    }

    #[test]
    fn held_text_is_released_once_it_cannot_be_a_stop() {
        let mut m = StopMatcher::new(&["étoile".to_string()]);
        assert_eq!(m.push("café é"), Released::Text("café ".into()));
        assert_eq!(m.push("t"), Released::Text(String::new()));
        assert_eq!(m.push("é"), Released::Text("ét".into()));
        assert_eq!(m.finish(), "é");
    }

    #[test]
    fn without_stops_everything_passes() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&[""], &["a", "b"]), ("ab".into(), false));
    }
}
