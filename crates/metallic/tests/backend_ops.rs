//! One cross-backend test matrix, in the spirit of llama.cpp's
//! test-backend-ops: every case of one table (`cases`: each op the model
//! uses × shapes including Qwen2.5-0.5B's × dtypes × layouts) runs on every
//! target (`targets`: each backend of each device present) against one
//! float64 reference (`reference`), and must leave a profiling record on the
//! target's device. Adding a device or a backend adds a target; adding an op
//! or a shape adds a case.

mod reference;

mod backend_ops {
    pub mod cases;
    pub mod run;
    pub mod targets;
}

use backend_ops::{cases, run, targets};
use metallic::testing::{fresh_seed, rng};

#[test]
fn every_case_matches_the_float64_reference_on_every_target() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let cases = cases::all();
    let mut failures = Vec::new();
    let mut runs = 0;
    for target in targets::all() {
        for (index, case) in cases.iter().enumerate() {
            if let (Some(_), false) = (case.cpu_only, target.device().is_host()) {
                continue;
            }
            // Each case draws its own inputs, the same on every target.
            let mut r = rng(seed.wrapping_add(index as u64));
            let instrumentation = target.ctx.instrumentation();
            instrumentation.clear();
            let outcome = run::check(&target.ctx, &mut r, &case.op);
            let recorded = instrumentation.records().iter().any(|record| {
                let op = record.op;
                case.op.recorded().iter().any(|name| op.starts_with(name))
            });
            let outcome = outcome.and_then(|()| match recorded {
                true => Ok(()),
                false => Err(format!("no profiling record of {:?}", case.op.recorded())),
            });
            runs += 1;
            if let Err(msg) = outcome {
                failures.push(format!("{} on {}: {msg}", case.name, target.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
