//! Performance counter arithmetic, pure: rates from two raw samples of a
//! `Win32_PerfRawData_*` class as each counter type's formula requires (never the
//! formatted classes), the four metrics of MAP's Performance Metrics Wizard, and their
//! average and 95th percentile over a run.
//!
//! Formulas (Microsoft, "Counter Types" in the Windows performance counters reference;
//! `N` a counter value, `D` the time base, 0 the earlier and 1 the later sample):
//!
//! | counter type | formula | time base |
//! |---|---|---|
//! | `PERF_100NSEC_TIMER_INV` (558957824) | `100 * (1 - (N1 - N0) / (D1 - D0))` | `Timestamp_Sys100NS` |
//! | `PERF_100NSEC_TIMER` (542180608) | `100 * (N1 - N0) / (D1 - D0)` | `Timestamp_Sys100NS` |
//! | `PERF_COUNTER_COUNTER` (272696320), 32-bit | `(N1 - N0) mod 2^32 / ((D1 - D0) / F)` | `Timestamp_PerfTime`, `F` = `Frequency_PerfTime` |
//! | `PERF_COUNTER_BULK_COUNT` (272696576), 64-bit | `(N1 - N0) / ((D1 - D0) / F)` | same |
//! | `PERF_COUNTER_RAWCOUNT` (65536), `PERF_COUNTER_LARGE_RAWCOUNT` (65792) | `N1` (no second sample needed) | — |
//!
//! A 32-bit counter that went down wrapped (modulo 2^32); a 64-bit one that went down,
//! or a time base that did not advance, means the machine restarted or the counter was
//! reset between the samples: no rate for that pair, never a negative or infinite one.
//! Timer percentages are clamped to 0..=100 (Windows' own formatted classes clamp too).

use serde::Serialize;

/// A counter type this module computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum CounterType {
    /// `PERF_100NSEC_TIMER_INV`: % processor time from idle time.
    Timer100nsInv,
    /// `PERF_100NSEC_TIMER`: % of time busy.
    Timer100ns,
    /// `PERF_COUNTER_COUNTER`: events per second, 32-bit counter.
    Counter,
    /// `PERF_COUNTER_BULK_COUNT`: events (bytes) per second, 64-bit counter.
    BulkCount,
    /// `PERF_COUNTER_RAWCOUNT` / `PERF_COUNTER_LARGE_RAWCOUNT`: the value itself.
    RawCount,
}

impl CounterType {
    /// From the `CounterType` qualifier value; `None` for the types not computed here.
    pub fn from_code(code: u32) -> Option<CounterType> {
        Some(match code {
            558_957_824 => CounterType::Timer100nsInv,
            542_180_608 => CounterType::Timer100ns,
            272_696_320 => CounterType::Counter,
            272_696_576 => CounterType::BulkCount,
            65_536 | 65_792 => CounterType::RawCount,
            _ => return None,
        })
    }
}

/// One raw sample of one counter of one instance, with the instance's time bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RawSample {
    /// The counter's raw value.
    pub value: u64,
    /// `Timestamp_PerfTime`.
    pub perf_time: u64,
    /// `Frequency_PerfTime`.
    pub perf_freq: u64,
    /// `Timestamp_Sys100NS`.
    pub sys_100ns: u64,
}

/// Why two samples give no rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The time base did not advance (same sample twice, or a restart).
    #[error("the time base did not advance between the samples")]
    NoTimeElapsed,
    /// A 64-bit counter went down: reset or restart.
    #[error("the counter went down between the samples")]
    CounterReset,
    /// `Frequency_PerfTime` is zero.
    #[error("the counter frequency is zero")]
    NoFrequency,
}

/// The value of a counter of type `ty` between `a` (earlier) and `b` (later).
pub fn rate(ty: CounterType, a: &RawSample, b: &RawSample) -> Result<f64, RateError> {
    match ty {
        CounterType::RawCount => Ok(b.value as f64),
        CounterType::Timer100nsInv | CounterType::Timer100ns => {
            let dt = b
                .sys_100ns
                .checked_sub(a.sys_100ns)
                .filter(|d| *d > 0)
                .ok_or(RateError::NoTimeElapsed)?;
            let dn = b
                .value
                .checked_sub(a.value)
                .ok_or(RateError::CounterReset)?;
            let busy = dn as f64 / dt as f64;
            let pct = if ty == CounterType::Timer100nsInv {
                100.0 * (1.0 - busy)
            } else {
                100.0 * busy
            };
            Ok(pct.clamp(0.0, 100.0))
        }
        CounterType::Counter | CounterType::BulkCount => {
            if b.perf_freq == 0 {
                return Err(RateError::NoFrequency);
            }
            let dt = b
                .perf_time
                .checked_sub(a.perf_time)
                .filter(|d| *d > 0)
                .ok_or(RateError::NoTimeElapsed)?;
            let dn = if ty == CounterType::Counter {
                // INVARIANT: a PERF_COUNTER_COUNTER is 32 bits wide; it wraps.
                u64::from((b.value as u32).wrapping_sub(a.value as u32))
            } else {
                b.value
                    .checked_sub(a.value)
                    .ok_or(RateError::CounterReset)?
            };
            Ok(dn as f64 / (dt as f64 / b.perf_freq as f64))
        }
    }
}

/// Memory in use, percent of the physical memory, from `AvailableBytes` and
/// `Win32_ComputerSystem.TotalPhysicalMemory`; `None` without a total.
pub fn memory_in_use_percent(available: u64, total: u64) -> Option<f64> {
    (total > 0)
        .then(|| (100.0 * (1.0 - available.min(total) as f64 / total as f64)).clamp(0.0, 100.0))
}

/// The four metrics of one machine between two samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// % processor time of `_Total`.
    pub cpu_percent: Option<f64>,
    /// % of physical memory in use at the later sample.
    pub memory_percent: Option<f64>,
    /// Disk transfers per second of the physical disks' `_Total`.
    pub disk_transfers_per_sec: Option<f64>,
    /// Bytes per second over every network interface.
    pub network_bytes_per_sec: Option<f64>,
}

/// The raw values a sample of a machine holds for the four metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MachineSample {
    /// `Win32_PerfRawData_PerfOS_Processor` `_Total` `PercentProcessorTime`.
    pub cpu: Option<RawSample>,
    /// `Win32_PerfRawData_PerfOS_Memory.AvailableBytes`.
    pub available_bytes: Option<u64>,
    /// `Win32_ComputerSystem.TotalPhysicalMemory`.
    pub total_memory: Option<u64>,
    /// `Win32_PerfRawData_PerfDisk_PhysicalDisk` `_Total` `DiskTransfersPersec`.
    pub disk_transfers: Option<RawSample>,
    /// `Win32_PerfRawData_Tcpip_NetworkInterface.BytesTotalPersec`, per interface name.
    pub network_bytes: Vec<(String, RawSample)>,
}

/// The metrics between two samples of a machine; a metric whose raw values are missing
/// from either sample, or give no rate, is `None`. Network bytes are summed over the
/// interfaces present in both samples.
pub fn metrics(a: &MachineSample, b: &MachineSample) -> Metrics {
    let pair = |x: &Option<RawSample>, y: &Option<RawSample>, ty| match (x, y) {
        (Some(x), Some(y)) => rate(ty, x, y).ok(),
        _ => None,
    };
    let mut net: Option<f64> = None;
    for (name, y) in &b.network_bytes {
        if let Some((_, x)) = a.network_bytes.iter().find(|(n, _)| n == name) {
            if let Ok(r) = rate(CounterType::BulkCount, x, y) {
                *net.get_or_insert(0.0) += r;
            }
        }
    }
    Metrics {
        cpu_percent: pair(&a.cpu, &b.cpu, CounterType::Timer100nsInv),
        memory_percent: match (b.available_bytes, b.total_memory) {
            (Some(av), Some(t)) => memory_in_use_percent(av, t),
            _ => None,
        },
        disk_transfers_per_sec: pair(&a.disk_transfers, &b.disk_transfers, CounterType::Counter),
        network_bytes_per_sec: net,
    }
}

/// Average and 95th percentile of a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub average: f64,
    /// The nearest-rank 95th percentile: the smallest value with at least 95 % of the
    /// values at or below it (`sorted[ceil(0.95 n) - 1]`).
    pub p95: f64,
    pub min: f64,
    pub max: f64,
}

/// The summary of `values` (non-finite values are ignored); `None` when none is left.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let rank = (n * 95).div_ceil(100).max(1);
    Some(Summary {
        count: n,
        average: v.iter().sum::<f64>() / n as f64,
        p95: v[rank - 1],
        min: v[0],
        max: v[n - 1],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(value: u64, perf_time: u64, sys: u64) -> RawSample {
        RawSample {
            value,
            perf_time,
            perf_freq: 10_000_000,
            sys_100ns: sys,
        }
    }

    #[test]
    fn processor_time_from_idle_time() {
        // 60 s apart; idle grew by 45 s: 25 % busy.
        let a = s(1_000_000_000, 0, 130_000_000_000_000_000);
        let b = s(1_450_000_000, 600_000_000, 130_000_000_600_000_000);
        assert_eq!(rate(CounterType::Timer100nsInv, &a, &b), Ok(25.0));
        assert_eq!(rate(CounterType::Timer100ns, &a, &b), Ok(75.0));
        // Idle growing faster than the clock (rounding on a real host): clamped.
        let c = s(
            1_000_000_000 + 600_000_100,
            600_000_000,
            130_000_000_600_000_000,
        );
        assert_eq!(rate(CounterType::Timer100nsInv, &a, &c), Ok(0.0));
        assert_eq!(
            rate(CounterType::Timer100nsInv, &a, &a),
            Err(RateError::NoTimeElapsed)
        );
        // A restart: idle went down.
        let d = s(5, 600_000_000, 130_000_000_600_000_000);
        assert_eq!(
            rate(CounterType::Timer100nsInv, &a, &d),
            Err(RateError::CounterReset)
        );
    }

    #[test]
    fn per_second_counters_and_wrap() {
        // 1,500 transfers in 15 s at a 10 MHz perf clock: 100/s.
        let a = s(10_000, 1_000_000_000, 0);
        let b = s(11_500, 1_150_000_000, 0);
        assert_eq!(rate(CounterType::Counter, &a, &b), Ok(100.0));
        // A 32-bit counter that wrapped: 0xFFFF_FF00 -> 0x100 is 512 events.
        let w0 = s(0xFFFF_FF00, 0, 0);
        let w1 = s(0x100, 10_000_000, 0);
        assert_eq!(rate(CounterType::Counter, &w0, &w1), Ok(512.0));
        // The same values as a 64-bit bulk count: a reset, no rate.
        assert_eq!(
            rate(CounterType::BulkCount, &w0, &w1),
            Err(RateError::CounterReset)
        );
        // Bytes: 30 MB in 3 s at a 3,579,545 Hz clock (an older ACPI PM timer).
        let f = 3_579_545;
        let x = RawSample {
            value: 0,
            perf_time: 0,
            perf_freq: f,
            sys_100ns: 0,
        };
        let y = RawSample {
            value: 30_000_000,
            perf_time: 3 * f,
            perf_freq: f,
            sys_100ns: 0,
        };
        assert_eq!(rate(CounterType::BulkCount, &x, &y), Ok(10_000_000.0));
        let z = RawSample { perf_freq: 0, ..y };
        assert_eq!(
            rate(CounterType::BulkCount, &x, &z),
            Err(RateError::NoFrequency)
        );
        assert_eq!(rate(CounterType::RawCount, &a, &b), Ok(11_500.0));
        assert_eq!(
            CounterType::from_code(558_957_824),
            Some(CounterType::Timer100nsInv)
        );
        assert_eq!(
            CounterType::from_code(272_696_576),
            Some(CounterType::BulkCount)
        );
        assert_eq!(CounterType::from_code(537_003_008), None);
    }

    #[test]
    fn machine_metrics() {
        let t = |v, k: u64| {
            s(
                v,
                k * 150_000_000,
                130_000_000_000_000_000 + k * 150_000_000,
            )
        };
        let a = MachineSample {
            cpu: Some(t(0, 0)),
            available_bytes: Some(6 << 30),
            total_memory: Some(8 << 30),
            disk_transfers: Some(t(100, 0)),
            network_bytes: vec![("eth".into(), t(0, 0)), ("gone".into(), t(0, 0))],
        };
        let b = MachineSample {
            cpu: Some(t(120_000_000, 1)),   // 12 s idle of 15: 20 % busy
            available_bytes: Some(2 << 30), // 75 % in use
            total_memory: Some(8 << 30),
            disk_transfers: Some(t(100 + 750, 1)), // 50/s
            network_bytes: vec![("eth".into(), t(15_000_000, 1)), ("new".into(), t(9, 1))],
        };
        let m = metrics(&a, &b);
        assert!((m.cpu_percent.unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(m.memory_percent, Some(75.0));
        assert_eq!(m.disk_transfers_per_sec, Some(50.0));
        assert_eq!(m.network_bytes_per_sec, Some(1_000_000.0));
        let none = metrics(&MachineSample::default(), &b);
        assert_eq!(none.cpu_percent, None);
        assert_eq!(none.network_bytes_per_sec, None);
        assert_eq!(memory_in_use_percent(1, 0), None);
    }

    #[test]
    fn average_and_p95() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = summarize(&v).unwrap();
        assert_eq!(s.average, 10.5);
        assert_eq!(s.p95, 19.0); // ceil(0.95 * 20) = 19th value
        assert_eq!((s.min, s.max, s.count), (1.0, 20.0, 20));
        let one = summarize(&[42.0]).unwrap();
        assert_eq!((one.average, one.p95), (42.0, 42.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(summarize(&v).unwrap().p95, 95.0);
        let v: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(summarize(&v).unwrap().p95, 96.0); // ceil(95.95) = 96
        assert_eq!(summarize(&[f64::NAN]), None);
        assert_eq!(summarize(&[]), None);
    }
}
