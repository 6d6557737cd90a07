//! Turning logits into the next token: penalties, then top-k, top-p and
//! min-p filters, then temperature and a seeded draw — llama.cpp's order and
//! defaults. Temperature 0 is greedy (argmax, ties to the lower id).

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Sampling settings; `Default` gives llama.cpp's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingOptions {
    /// 0 means greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely; 0 keeps all.
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of recent tokens; 1 is off.
    pub repeat_penalty: f32,
    /// Subtracted once from the logit of every recent token; 0 is off.
    pub presence_penalty: f32,
    /// Subtracted per occurrence of a recent token; 0 is off.
    pub frequency_penalty: f32,
    /// How many of the most recent tokens the penalties look at.
    pub penalty_window: usize,
    /// Seed of the draw; `None` takes one from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_window: 64,
            seed: None,
        }
    }
}

impl SamplingOptions {
    pub fn greedy() -> Self {
        SamplingOptions {
            temperature: 0.0,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidArgument(what.to_string()));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be a finite number ≥ 0");
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return bad("top-p must lie in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min-p must lie in [0, 1]");
        }
        if !(self.repeat_penalty > 0.0 && self.repeat_penalty.is_finite()) {
            return bad("repeat penalty must be a finite number > 0");
        }
        if !self.presence_penalty.is_finite() || !self.frequency_penalty.is_finite() {
            return bad("presence and frequency penalties must be finite");
        }
        Ok(())
    }
}

pub struct Sampler {
    options: SamplingOptions,
    rng: rand::rngs::StdRng,
}

impl Sampler {
    pub fn new(options: SamplingOptions) -> Result<Sampler> {
        options.validate()?;
        let seed = options.seed.unwrap_or_else(|| rand::rng().random());
        Ok(Sampler {
            options,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        })
    }

    pub fn options(&self) -> &SamplingOptions {
        &self.options
    }

    /// Picks the next token from `logits` given the tokens so far.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32> {
        if logits.is_empty() {
            return Err(Error::InvalidArgument("no logits to sample from".into()));
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(id, &l)| (id as u32, l))
            .collect();
        self.apply_penalties(&mut candidates, history);
        if self.options.temperature == 0.0 {
            return Ok(argmax(&candidates));
        }
        let kept = filter(&mut candidates, &self.options);
        let t = self.options.temperature;
        let max = kept[0].1;
        let weights: Vec<f64> = kept
            .iter()
            .map(|&(_, l)| (((l - max) / t) as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut draw = self.rng.random::<f64>() * total;
        for (&(id, _), w) in kept.iter().zip(&weights) {
            if draw < *w {
                return Ok(id);
            }
            draw -= w;
        }
        Ok(kept[kept.len() - 1].0)
    }

    fn apply_penalties(&self, candidates: &mut [(u32, f32)], history: &[u32]) {
        let o = &self.options;
        if o.repeat_penalty == 1.0 && o.presence_penalty == 0.0 && o.frequency_penalty == 0.0 {
            return;
        }
        let window = &history[history.len().saturating_sub(o.penalty_window)..];
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &id in window {
            *counts.entry(id).or_default() += 1;
        }
        for (id, count) in counts {
            let Some((_, logit)) = candidates.get_mut(id as usize) else {
                continue;
            };
            *logit = if *logit > 0.0 {
                *logit / o.repeat_penalty
            } else {
                *logit * o.repeat_penalty
            };
            *logit -= count as f32 * o.frequency_penalty + o.presence_penalty;
        }
    }
}

/// The highest logit; ties go to the lower id.
pub fn argmax(candidates: &[(u32, f32)]) -> u32 {
    let mut best = candidates[0];
    for &c in &candidates[1..] {
        if c.1 > best.1 || (c.1 == best.1 && c.0 < best.0) {
            best = c;
        }
    }
    best.0
}

/// Applies top-k, top-p and min-p; returns the survivors sorted by logit,
/// most likely first (never empty).
fn filter<'a>(candidates: &'a mut Vec<(u32, f32)>, o: &SamplingOptions) -> &'a [(u32, f32)] {
    let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if o.top_k > 0 && o.top_k < candidates.len() {
        candidates.select_nth_unstable_by(o.top_k - 1, by_logit);
        candidates.truncate(o.top_k);
    }
    candidates.sort_unstable_by(by_logit);
    let max = candidates[0].1;
    let probs: Vec<f64> = candidates
        .iter()
        .map(|&(_, l)| ((l - max) as f64).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    let mut keep = candidates.len();
    if o.top_p < 1.0 {
        let mut cumulative = 0.0;
        for (i, p) in probs.iter().enumerate() {
            cumulative += p / total;
            if cumulative >= o.top_p as f64 {
                keep = i + 1;
                break;
            }
        }
    }
    if o.min_p > 0.0 {
        let floor = o.min_p as f64 * probs[0];
        keep = keep.min(probs.iter().take_while(|&&p| p >= floor).count().max(1));
    }
    &candidates[..keep]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_seed, random_vec, rng};

    fn logits(seed: u64, n: usize) -> Vec<f32> {
        random_vec(&mut rng(seed), n)
            .iter()
            .map(|v| v * 8.0)
            .collect()
    }

    #[test]
    fn greedy_takes_the_argmax_and_ties_go_low() {
        let l = logits(fresh_seed(), 1000);
        let best = (0..l.len())
            .max_by(|&a, &b| l[a].total_cmp(&l[b]).then(b.cmp(&a)))
            .unwrap();
        let mut s = Sampler::new(SamplingOptions::greedy()).unwrap();
        assert_eq!(s.sample(&l, &[]).unwrap() as usize, best);
        assert_eq!(argmax(&[(0, 1.0), (1, 3.0), (2, 3.0)]), 1);
    }

    #[test]
    fn same_seed_same_draws() {
        let l = logits(fresh_seed(), 500);
        let opts = SamplingOptions {
            seed: Some(fresh_seed()),
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            temperature: 1.5,
            ..Default::default()
        };
        let draw = |o: &SamplingOptions| {
            let mut s = Sampler::new(o.clone()).unwrap();
            (0..50)
                .map(|_| s.sample(&l, &[]).unwrap())
                .collect::<Vec<_>>()
        };
        let first = draw(&opts);
        assert_eq!(first, draw(&opts));
        assert!(first.iter().any(|&t| t != first[0]), "a hot draw varies");
    }

    #[test]
    fn top_k_keeps_only_the_k_best() {
        let l = logits(fresh_seed(), 300);
        let mut sorted: Vec<u32> = (0..300).collect();
        sorted.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]));
        let opts = SamplingOptions {
            top_k: 3,
            top_p: 1.0,
            min_p: 0.0,
            temperature: 5.0,
            seed: Some(fresh_seed()),
            ..Default::default()
        };
        let mut s = Sampler::new(opts).unwrap();
        for _ in 0..200 {
            assert!(sorted[..3].contains(&s.sample(&l, &[]).unwrap()));
        }
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        // One dominant token (p ≈ 0.88) and a long flat tail.
        let mut l = vec![0.0f32; 100];
        l[42] = 6.5;
        let mut cands: Vec<(u32, f32)> =
            l.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        let top_p = SamplingOptions {
            top_k: 0,
            top_p: 0.8,
            min_p: 0.0,
            ..Default::default()
        };
        assert_eq!(filter(&mut cands.clone(), &top_p), &[(42, 6.5)]);
        let min_p = SamplingOptions {
            top_k: 0,
            top_p: 1.0,
            min_p: 0.01,
            ..Default::default()
        };
        assert_eq!(filter(&mut cands, &min_p).len(), 1);
    }

    #[test]
    fn penalties_demote_recent_tokens() {
        let mut l = vec![1.0f32; 10];
        l[3] = 2.0;
        let opts = SamplingOptions {
            repeat_penalty: 1.5,
            frequency_penalty: 0.2,
            presence_penalty: 0.1,
            ..SamplingOptions::greedy()
        };
        let mut s = Sampler::new(opts).unwrap();
        // 2.0 / 1.5 - 2 * 0.2 - 0.1 = 0.833 < 1.0: token 3 loses to token 0.
        assert_eq!(s.sample(&l, &[3, 3]).unwrap(), 0);
        assert_eq!(s.sample(&l, &[]).unwrap(), 3);
    }

    #[test]
    fn bad_options_are_errors() {
        for o in [
            SamplingOptions {
                temperature: -1.0,
                ..Default::default()
            },
            SamplingOptions {
                top_p: 1.5,
                ..Default::default()
            },
            SamplingOptions {
                min_p: -0.1,
                ..Default::default()
            },
            SamplingOptions {
                repeat_penalty: 0.0,
                ..Default::default()
            },
        ] {
            assert!(Sampler::new(o).is_err());
        }
        let mut s = Sampler::new(SamplingOptions::greedy()).unwrap();
        assert!(s.sample(&[], &[]).is_err());
    }
}
