//! Sampling and stopping options of `generate` and `chat`.

use metallic::generate::SamplingOptions;

/// Defaults are llama.cpp's.
#[derive(clap::Args, Debug)]
pub struct SamplingArgs {
    /// Most tokens to generate; -1: until the end of generation or of the
    /// context
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        default_value = "256",
        allow_negative_numbers = true,
        value_parser = parse_max_tokens
    )]
    pub max_tokens: usize,
    /// Stop before this text (repeatable)
    #[arg(long = "stop", value_name = "STRING")]
    pub stop: Vec<String>,
    /// Softmax temperature; 0 is greedy (argmax)
    #[arg(
        long,
        value_name = "T",
        default_value_t = 0.8,
        allow_negative_numbers = true
    )]
    pub temperature: f32,
    /// Keep the K most likely tokens (0 keeps all)
    #[arg(long, value_name = "K", default_value_t = 40)]
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches P
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.95,
        allow_negative_numbers = true
    )]
    pub top_p: f32,
    /// Drop tokens less likely than P times the most likely
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.05,
        allow_negative_numbers = true
    )]
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens (1 is off)
    #[arg(
        long,
        value_name = "X",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub repeat_penalty: f32,
    /// Subtract from the logit of every recent token (0 is off)
    #[arg(
        long,
        value_name = "X",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub presence_penalty: f32,
    /// Subtract per occurrence of a recent token (0 is off)
    #[arg(
        long,
        value_name = "X",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub frequency_penalty: f32,
    /// How many recent tokens the penalties look at
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub penalty_window: usize,
    /// Seed of the draws, for reproducible runs [default: from the clock]
    #[arg(short = 's', long, value_name = "N")]
    pub seed: Option<u64>,
}

/// A token count, or -1 for no limit (llama.cpp's `-n -1`).
fn parse_max_tokens(text: &str) -> Result<usize, String> {
    match text.trim().parse::<i64>() {
        Ok(-1) => Ok(usize::MAX),
        Ok(n) => usize::try_from(n)
            .map_err(|_| format!("{n} is not a token count (a number from 0, or -1 for no limit)")),
        Err(e) => Err(format!("{e} (a number from 0, or -1 for no limit)")),
    }
}

impl SamplingArgs {
    /// The options, checked (a bad value is an error naming it).
    pub fn options(&self) -> metallic::Result<SamplingOptions> {
        let options = SamplingOptions {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            penalty_window: self.penalty_window,
            seed: self.seed,
        };
        options.validate()?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_max_tokens;

    #[test]
    fn max_tokens_takes_counts_and_minus_one_for_no_limit() {
        assert_eq!(parse_max_tokens("0"), Ok(0));
        assert_eq!(parse_max_tokens("300"), Ok(300));
        assert_eq!(parse_max_tokens("-1"), Ok(usize::MAX));
        for bad in ["-2", "x", "1.5", ""] {
            assert!(parse_max_tokens(bad).is_err(), "{bad}");
        }
    }
}
