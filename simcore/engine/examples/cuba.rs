//! Times the CUBA network (Brian2's examples/CUBA.py) in simcore.
//!
//! `cargo run --release -p simcore --example cuba -- [N] [seconds] [threads] [f64|f32]`
//! N = 4000 uses Brian2's p = 0.02; larger N use a fixed in-degree of 80 (p = 80/N), as
//! `bench/cuba.py` does. Prints one JSON line.

#[path = "../tests/common/cuba.rs"]
mod cuba;

use simcore::{Precision, Source};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(4000);
    let seconds: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let threads: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let precision = match args.get(4).map(String::as_str) {
        None | Some("f64") => Precision::F64,
        Some("f32") => Precision::F32,
        Some(other) => return Err(format!("precision must be f64 or f32, got {other}").into()),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let started = Instant::now();
        let wiring = if n == 4000 { cuba::Wiring::Probability(0.02) } else { cuba::Wiring::InDegree(80) };
        let mut c = cuba::build(n, wiring, 1);
        c.net.add_spike_monitor(Source::Population(c.pop), None)?;
        c.net.set_precision(precision);
        c.net.prepare()?;
        let setup = started.elapsed().as_secs_f64();
        let steps = (seconds / cuba::DT).round() as u64;
        let started = Instant::now();
        let mut neurons = Vec::new();
        let mut spike_steps = Vec::new();
        let mut events = 0;
        // chunks of 100 ms, as a streaming run would use
        let chunk = 1000.min(steps.max(1));
        let mut done = 0;
        while done < steps {
            let out = c.net.run(chunk.min(steps - done))?;
            done += chunk.min(steps - done);
            events += out.synaptic_events;
            neurons.extend_from_slice(&out.spikes[0].neurons);
            spike_steps.extend_from_slice(&out.spikes[0].steps);
        }
        let run = started.elapsed().as_secs_f64();
        let (rate, cv) = cuba::rate_and_cv(n, seconds, &neurons, &spike_steps);
        let synapses: usize = (0..2).map(|p| c.net.projection(simcore::ProjectionId(p)).map(|x| x.n_synapses()).unwrap_or(0)).sum();
        println!(
            "{{\"n\": {n}, \"threads\": {threads}, \"precision\": \"{}\", \"synapses\": {synapses}, \"setup_s\": {setup:.3}, \"run_s\": {run:.3}, \"s_per_sim_s\": {:.3}, \"spikes\": {}, \"rate_hz\": {rate:.3}, \"cv\": {cv:.3}, \"syn_events_per_s\": {:.0}}}",
            precision.name(),
            run / seconds,
            neurons.len(),
            events as f64 / run
        );
        Ok(())
    })
    .map_err(|e| e as Box<dyn std::error::Error>)
}
