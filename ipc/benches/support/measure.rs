//! Measuring helpers shared by the benchmarks of both packages (the root package includes this
//! file by path): one-by-one timings with median and p99, rates of pipelined batches, and CPU
//! pinning to show where the scheduler's placement matters.
//!
//! Criterion reports means of batches; the targets are about medians and tails, so each bench
//! also prints `steward-bench NAME median=.. p99=..` lines, which `scripts/bench` reads.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and then every figure is
/// only a smoke test, so the one-by-one timing passes stay short.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The value below which `pct` percent of the sorted `values` lie (nearest rank).
pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints one line that `scripts/bench` and people can read: `steward-bench NAME median=.. p99=..`.
pub fn report_distribution(name: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    println!(
        "steward-bench {name} median={:.2} p99={:.2} max={:.2} n={}",
        percentile(&values, 50.0),
        percentile(&values, 99.0),
        values[values.len() - 1],
        values.len()
    );
}

/// Times `call` one by one (after a tenth as many unmeasured), in microseconds.
pub fn time_each(count: usize, mut call: impl FnMut()) -> Vec<f64> {
    for _ in 0..count / 10 {
        call();
    }
    (0..count)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// Measures `batch` (which completes `per_batch` requests) as a rate: prints the median and the
/// slow tail of the rate (the 1st percentile, reported as "p99"), and registers a criterion bench
/// with element throughput.
pub fn bench_rate(c: &mut Criterion, group: &str, name: &str, per_batch: usize, mut batch: impl FnMut()) {
    batch();
    let batches = if measuring() { 200 } else { 3 };
    let mut rates = (0..batches)
        .map(|_| {
            let start = Instant::now();
            batch();
            per_batch as f64 / start.elapsed().as_secs_f64()
        })
        .collect::<Vec<_>>();
    rates.sort_by(|a, b| b.total_cmp(a));
    println!(
        "steward-bench {group}_{name}_per_s median={:.0} p99={:.0} n={} batch={per_batch}",
        percentile(&rates, 50.0),
        percentile(&rates, 99.0),
        rates.len()
    );
    let mut criterion_group = c.benchmark_group(group);
    criterion_group.throughput(Throughput::Elements(per_batch as u64));
    criterion_group.bench_function(BenchmarkId::new(name, per_batch), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                batch();
            }
            start.elapsed()
        })
    });
    criterion_group.finish();
}

/// Times `iters` runs of `call` for criterion's `iter_custom`.
pub fn elapsed(iters: u64, mut call: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        call();
    }
    start.elapsed()
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, filled by the kernel; CPU_ISSET reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| libc::CPU_ISSET(cpu, &set)).collect()
    }
}

/// Restricts thread `tid` (0: the calling thread) to `cpus`.
pub fn pin_thread(tid: libc::pid_t, cpus: &[usize]) {
    // SAFETY: as above; CPU_SET writes within the set for CPUs below CPU_SETSIZE; a thread that
    // just exited only makes the call fail.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Restricts every thread of process `pid` to `cpus`.
pub fn pin_process(pid: u32, cpus: &[usize]) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process's threads are listed");
    for tid in tasks.filter_map(|task| task.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok()) {
        pin_thread(tid, cpus);
    }
}
