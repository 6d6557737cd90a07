//! The loop, chat sessions, perplexity and the benchmark on a fake model
//! whose logits say exactly which token comes next.

use std::ops::ControlFlow;

use super::perplexity::perplexity;
use super::*;
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::testing::tiny_model::byte_tokenizer_parts;
use crate::testing::{fresh_seed, rng};
use crate::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};
use rand::Rng;

const IM_END: u32 = 258;
/// The fake's favourite's logit; every other token's is 0.
const PEAK: f32 = 10.0;

/// After a letter comes the next letter (z wraps to a), after anything
/// else comes `a`.
fn alphabet(t: u32) -> u32 {
    match t {
        97..=121 => t + 1,
        _ => u32::from(b'a'),
    }
}

struct Fake {
    cache: Vec<u32>,
    context: usize,
    vocab: usize,
    next: fn(u32) -> u32,
    /// Tokens passed to `forward`, over the fake's life.
    evaluated: usize,
}

impl Fake {
    fn new(context: usize, next: fn(u32) -> u32) -> Fake {
        Fake {
            cache: Vec::new(),
            context,
            vocab: 259,
            next,
            evaluated: 0,
        }
    }

    fn row(&self, t: u32) -> Vec<f32> {
        let mut row = vec![0.0; self.vocab];
        row[(self.next)(t) as usize] = PEAK;
        row
    }
}

impl LanguageModel for Fake {
    fn forward(&mut self, _: &Context, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>> {
        if tokens.is_empty() || self.cache.len() + tokens.len() > self.context {
            return Err(Error::InvalidArgument("fake: batch does not fit".into()));
        }
        self.cache.extend_from_slice(tokens);
        self.evaluated += tokens.len();
        let out = if all_logits {
            tokens
        } else {
            &tokens[tokens.len() - 1..]
        };
        Ok(out.iter().flat_map(|&t| self.row(t)).collect())
    }
    fn position(&self) -> usize {
        self.cache.len()
    }
    fn truncate(&mut self, len: usize) {
        self.cache.truncate(len);
    }
    fn context_size(&self) -> usize {
        self.context
    }
    fn vocab_size(&self) -> usize {
        self.vocab
    }
}

fn ctx() -> Context {
    Context::builder(Device::Cpu)
        .threads(Some(1))
        .build()
        .unwrap()
}

fn tokenizer() -> Tokenizer {
    Tokenizer::from_parts(byte_tokenizer_parts()).unwrap()
}

fn request(prompt: &str, max_tokens: usize, stops: &[&str]) -> GenerateRequest {
    GenerateRequest {
        prompt_ids: prompt.bytes().map(u32::from).collect(),
        max_tokens,
        stop_strings: stops.iter().map(|s| s.to_string()).collect(),
        sampling: SamplingOptions::greedy(),
    }
}

/// Runs `generate`, collecting what the callback was shown.
fn run(model: &mut Fake, req: &GenerateRequest) -> (GenerateOutput, String) {
    let mut shown = String::new();
    let out = generate(model, &ctx(), &tokenizer(), req, |t| {
        shown.push_str(t);
        ControlFlow::Continue(())
    })
    .unwrap();
    (out, shown)
}

#[test]
fn greedy_generation_follows_the_logits_and_streams_the_text() {
    let mut model = Fake::new(64, alphabet);
    let (out, shown) = run(&mut model, &request("xy", 5, &[]));
    assert_eq!(out.text, "zabcd");
    assert_eq!(shown, out.text);
    assert_eq!(
        out.generated_ids,
        "zabcd".bytes().map(u32::from).collect::<Vec<_>>()
    );
    assert_eq!(out.stop_reason, StopReason::MaxTokens);
    // The prompt and every generated token but the last were evaluated.
    assert_eq!(
        model.cache,
        "xyzabc".bytes().map(u32::from).collect::<Vec<_>>()
    );
    assert_eq!(out.timings.prompt_tokens, 2);
    assert_eq!(out.timings.prefill_tokens, 2);
    assert_eq!(out.timings.decode_tokens, 4);
    assert!(out.timings.decode_tokens_per_s.is_some_and(|r| r > 0.0));
}

#[test]
fn an_end_of_generation_token_ends_it_unshown() {
    let mut model = Fake::new(64, |t| {
        if t == u32::from(b'c') {
            IM_END
        } else {
            alphabet(t)
        }
    });
    let (out, shown) = run(&mut model, &request("a", 50, &[]));
    assert_eq!(out.stop_reason, StopReason::EndOfGeneration);
    assert_eq!(out.text, "bc");
    assert_eq!(shown, "bc");
    assert!(!out.generated_ids.contains(&IM_END));
}

#[test]
fn a_stop_string_across_tokens_cuts_the_text_before_it() {
    let mut model = Fake::new(64, alphabet);
    let (out, shown) = run(&mut model, &request("a", 50, &["xyz", "efg"]));
    assert_eq!(out.stop_reason, StopReason::StopString);
    assert_eq!(out.text, "bcd");
    assert_eq!(shown, "bcd");
    assert_eq!(out.generated_ids.len(), "bcdefg".len());
}

#[test]
fn a_full_context_stops_generation_without_an_error() {
    let context = 8;
    let mut model = Fake::new(context, alphabet);
    let (out, _) = run(&mut model, &request("abc", 100, &[]));
    assert_eq!(out.stop_reason, StopReason::ContextFull);
    // The last token is sampled from the last position's logits.
    assert_eq!(out.generated_ids.len(), context - 3 + 1);
    assert_eq!(model.position(), context);
}

#[test]
fn a_prompt_that_does_not_fit_or_is_empty_is_an_error() {
    let mut model = Fake::new(4, alphabet);
    let t = tokenizer();
    for req in [request("abcde", 1, &[]), request("", 1, &[])] {
        let result = generate(&mut model, &ctx(), &t, &req, |_| ControlFlow::Continue(()));
        assert!(matches!(result, Err(Error::InvalidArgument(_))));
    }
    assert_eq!(model.evaluated, 0);
}

#[test]
fn the_callback_can_interrupt() {
    let mut model = Fake::new(64, alphabet);
    let mut calls = 0;
    let out = generate(
        &mut model,
        &ctx(),
        &tokenizer(),
        &request("a", 50, &[]),
        |_| {
            // The first call comes before the prompt's one batch.
            calls += 1;
            if calls == 4 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!(out.stop_reason, StopReason::Interrupted);
    assert_eq!(out.text, "bcd");
}

#[test]
fn a_long_prefill_is_evaluated_in_batches_and_can_be_stopped_between_them() {
    let prompt_len = 2 * run::PREFILL_BATCH + 3;
    let mut r = rng(fresh_seed());
    let prompt: String = (0..prompt_len)
        .map(|_| char::from(r.random_range(b'a'..=b'z')))
        .collect();
    // Asked before each batch; stopped at the second question: one batch
    // evaluated, nothing generated.
    let mut model = Fake::new(1024, alphabet);
    let mut asked = 0;
    let out = generate(
        &mut model,
        &ctx(),
        &tokenizer(),
        &request(&prompt, 5, &[]),
        |text| {
            asked += 1;
            assert_eq!(text, "", "no text before the prompt is evaluated");
            if asked == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert_eq!(asked, 2);
    assert_eq!(out.stop_reason, StopReason::Interrupted);
    assert!(out.generated_ids.is_empty() && out.text.is_empty());
    assert_eq!(
        model.cache,
        prompt.as_bytes()[..run::PREFILL_BATCH]
            .iter()
            .map(|&b| u32::from(b))
            .collect::<Vec<_>>()
    );
    // Not stopped: every batch evaluated, then generation as usual.
    let mut model = Fake::new(1024, alphabet);
    let (out, _) = run(&mut model, &request(&prompt, 1, &[]));
    assert_eq!(out.stop_reason, StopReason::MaxTokens);
    assert_eq!(model.evaluated, prompt_len);
    assert_eq!(
        out.generated_ids,
        [alphabet(u32::from(*prompt.as_bytes().last().unwrap()))]
    );
}

#[test]
fn a_chat_reuses_the_cached_conversation_and_caches_what_it_says() {
    let t = tokenizer();
    let ctx = ctx();
    let mut model = Fake::new(512, alphabet);
    let mut chat = ChatSession::new(ChatTemplate::chatml(), Some("be brief".into()));
    let settings = ReplySettings {
        max_tokens: 4,
        stop_strings: Vec::new(),
        sampling: SamplingOptions::greedy(),
    };
    let go = |_: &str| ControlFlow::Continue(());
    let first = chat
        .reply(&mut model, &ctx, &t, "hi", &settings, go)
        .unwrap();
    assert_eq!(first.timings.prefill_tokens, first.prompt_ids.len());
    let before = model.evaluated;
    let second = chat
        .reply(&mut model, &ctx, &t, "more", &settings, go)
        .unwrap();
    // Everything up to the first answer's last (unevaluated) token is reused.
    let reused = first.prompt_ids.len() + first.generated_ids.len() - 1;
    assert_eq!(second.prompt_ids[..reused], model.cache[..reused]);
    assert_eq!(
        second.timings.prefill_tokens,
        second.prompt_ids.len() - reused
    );
    assert_eq!(
        model.evaluated - before,
        second.prompt_ids.len() - reused + 3
    );
    // The cache holds exactly what a fresh run would.
    let expected: Vec<u32> = second
        .prompt_ids
        .iter()
        .chain(&second.generated_ids)
        .copied()
        .collect();
    assert_eq!(model.cache, expected[..model.cache.len()]);
    assert_eq!(chat.messages().len(), 5);
    assert_eq!(chat.messages()[4].content, second.text);
    chat.reset();
    assert_eq!(chat.messages().len(), 1);
}

#[test]
fn a_chat_past_the_context_drops_its_oldest_turns_and_keeps_going() {
    let t = tokenizer();
    let mut model = Fake::new(96, alphabet);
    let mut session = ChatSession::new(ChatTemplate::chatml(), Some("sys".into()));
    let settings = ReplySettings {
        max_tokens: 5,
        stop_strings: Vec::new(),
        sampling: SamplingOptions::greedy(),
    };
    // Each exchange renders to about 37 tokens: the third cannot fit 96
    // with the first two, and the sixth would need 240.
    for turn in 0..6 {
        let out = session
            .reply(
                &mut model,
                &ctx(),
                &t,
                &format!("hello {turn}"),
                &settings,
                |_| ControlFlow::Continue(()),
            )
            .unwrap_or_else(|e| panic!("turn {turn}: {e}"));
        assert!(out.timings.prompt_tokens + 5 <= 96, "turn {turn}");
        if turn >= 2 {
            // The system message's tokens were still cached.
            assert!(out.timings.prefill_tokens < out.timings.prompt_tokens);
        }
    }
    assert!(
        session.dropped_messages() >= 6,
        "{}",
        session.dropped_messages()
    );
    let messages = session.messages();
    assert_eq!(messages[0], ChatMessage::system("sys"));
    assert_eq!(messages[messages.len() - 2], ChatMessage::user("hello 5"));
    assert_eq!(messages[messages.len() - 1].role, "assistant");
    // Turns go in pairs: after the system message, user and assistant alternate.
    for (i, m) in messages[1..].iter().enumerate() {
        assert_eq!(m.role, if i % 2 == 0 { "user" } else { "assistant" });
    }
}

#[test]
fn perplexity_scores_the_second_half_of_each_chunk() {
    let mut r = rng(fresh_seed());
    let mut model = Fake::new(64, alphabet);
    let chunk = 16;
    // Letters, so about half the pairs follow the fake's prediction.
    let tokens: Vec<u32> = (0..3 * chunk + 5)
        .map(|i| {
            if r.random() {
                alphabet(i as u32 % 26 + 97)
            } else {
                r.random_range(97..123)
            }
        })
        .collect();
    let mut seen = Vec::new();
    let report = perplexity(&mut model, &ctx(), &tokens, chunk, None, |i, n, p| {
        seen.push((i, n, p))
    })
    .unwrap();
    // Reference in float64: log p = PEAK·[hit] − ln(e^PEAK + vocab − 1).
    let log_z = (f64::from(PEAK).exp() + 258.0).ln();
    let mut nll = 0.0;
    let mut n = 0;
    let mut expected = Vec::new();
    for c in tokens.chunks_exact(chunk) {
        for pos in chunk / 2..chunk - 1 {
            let hit = alphabet(c[pos]) == c[pos + 1];
            nll += log_z - if hit { f64::from(PEAK) } else { 0.0 };
            n += 1;
        }
        expected.push((nll / n as f64).exp());
    }
    assert_eq!(report.scored_tokens, 3 * (chunk - 1 - chunk / 2));
    for (got, want) in report.running.iter().zip(&expected) {
        assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
    }
    assert_eq!(report.running.len(), 3);
    assert_eq!(report.perplexity, report.running[2]);
    assert_eq!(seen.iter().map(|s| s.2).collect::<Vec<_>>(), report.running);
    assert!(perplexity(
        &mut model,
        &ctx(),
        &tokens[..chunk - 1],
        chunk,
        None,
        |_, _, _| ()
    )
    .is_err());
    assert!(perplexity(&mut model, &ctx(), &tokens, 65, None, |_, _, _| ()).is_err());
}

#[test]
fn bench_runs_each_test_and_reports_every_repetition() {
    let mut model = Fake::new(64, alphabet);
    let results = bench::bench(&mut model, &ctx(), &[8, 32], &[4], 3, |_| ()).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.test.as_str()).collect();
    assert_eq!(names, ["pp8", "pp32", "tg4"]);
    for r in &results {
        assert_eq!(r.tokens_per_s.len(), 3);
        assert!(r.mean.is_finite() && r.mean > 0.0 && r.sd >= 0.0);
    }
    // Warm-up and repetitions: 4 runs of each test.
    assert_eq!(model.evaluated, 4 * (8 + 32 + 4));
    assert!(bench::bench(&mut model, &ctx(), &[65], &[], 1, |_| ()).is_err());
}
