//! Which backend runs a matrix product: the choice latched from
//! `FORCE_MATMUL_BACKEND` (or the Context builder), and for `auto` a rule
//! over the problem's shape.

use super::problem::GemmProblem;

/// The routing requested for a Context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendChoice {
    /// Always the project's own MLX-style kernels.
    Mlx,
    /// Always the vendor library.
    Vendor,
    /// Per problem, whichever the measured rule says is faster.
    Auto,
}

/// A backend that runs one dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Mlx,
    Vendor,
}

/// The values `FORCE_MATMUL_BACKEND` accepts, for the warning on others.
pub const ACCEPTED_BACKEND_VALUES: &str = "mlx, vendor (or mps, cublas, blas), auto";

impl BackendChoice {
    /// Parses a setting, case-insensitively, with the design note's aliases.
    pub fn parse(value: &str) -> Option<BackendChoice> {
        match value.trim().to_ascii_lowercase().as_str() {
            "mlx" => Some(BackendChoice::Mlx),
            "vendor" | "mps" | "cublas" | "blas" => Some(BackendChoice::Vendor),
            "auto" => Some(BackendChoice::Auto),
            _ => None,
        }
    }

    /// The choice for a `FORCE_MATMUL_BACKEND` value (`None` when unset):
    /// `auto` when unset or unknown, with the warning to print for an
    /// unknown value.
    pub fn from_setting(value: Option<&str>) -> (BackendChoice, Option<String>) {
        match value {
            None => (BackendChoice::Auto, None),
            Some(v) => match BackendChoice::parse(v) {
                Some(choice) => (choice, None),
                None => (
                    BackendChoice::Auto,
                    Some(format!(
                        "warning: FORCE_MATMUL_BACKEND={v:?} is not one of {ACCEPTED_BACKEND_VALUES}; using auto"
                    )),
                ),
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Mlx => "mlx",
            BackendChoice::Vendor => "vendor",
            BackendChoice::Auto => "auto",
        }
    }
}

impl Backend {
    /// Name recorded by the instrumentation (`mlx`, `vendor`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mlx => "mlx",
            Backend::Vendor => "vendor",
        }
    }
}

/// The backend that runs `problem` under `choice`.
pub fn choose(choice: BackendChoice, problem: &GemmProblem) -> Backend {
    match choice {
        BackendChoice::Mlx => Backend::Mlx,
        BackendChoice::Vendor => Backend::Vendor,
        BackendChoice::Auto => auto_rule(problem),
    }
}

/// The backend that runs `problem` on `device` under `choice`: on a GPU,
/// `auto` means the vendor library, the only GPU backend so far.
pub fn choose_on(
    device: &crate::device::Device,
    choice: BackendChoice,
    problem: &GemmProblem,
) -> Backend {
    if !device.is_host() && choice == BackendChoice::Auto {
        return Backend::Vendor;
    }
    choose(choice, problem)
}

/// The `auto` rule. Until the two backends are measured against each other
/// on this machine, every problem goes to the project's own kernels, the
/// only ones that read quantized weights without a dequantized copy.
pub fn auto_rule(_problem: &GemmProblem) -> Backend {
    Backend::Mlx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_aliases_and_case() {
        for (value, choice) in [
            ("mlx", BackendChoice::Mlx),
            ("MLX", BackendChoice::Mlx),
            ("vendor", BackendChoice::Vendor),
            ("Mps", BackendChoice::Vendor),
            ("cuBLAS", BackendChoice::Vendor),
            ("blas", BackendChoice::Vendor),
            ("auto", BackendChoice::Auto),
            (" AUTO ", BackendChoice::Auto),
        ] {
            assert_eq!(
                BackendChoice::from_setting(Some(value)),
                (choice, None),
                "{value}"
            );
        }
        assert_eq!(
            BackendChoice::from_setting(None),
            (BackendChoice::Auto, None)
        );
    }

    #[test]
    fn unknown_setting_warns_and_uses_auto() {
        let (choice, warning) = BackendChoice::from_setting(Some("metal"));
        assert_eq!(choice, BackendChoice::Auto);
        let warning = warning.expect("an unknown value must warn");
        for accepted in ["mlx", "vendor", "mps", "cublas", "blas", "auto", "metal"] {
            assert!(warning.contains(accepted), "{warning} lacks {accepted}");
        }
    }
}
