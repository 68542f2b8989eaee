//! Raw performance counters (`Win32_PerfRawData_*`) as a pure function of time.
//!
//! Each host has a [`PerfModel`] drawn from its seed: a load level per resource that moves
//! as a slow sine wave (a period of 10 to 60 minutes, a phase per host and per instance).
//! A raw counter is the closed-form integral of its rate from the host's boot to the
//! sample time, floored to an integer and, for 32-bit counters, taken modulo 2^32 as
//! Windows' counters wrap. The same host and the same time give the same values on any
//! machine, so a test can compute the rates a client should derive from two samples.
//!
//! Counter types are the `CounterType` qualifier values of Microsoft's "Counter Types"
//! reference (`PERF_100NSEC_TIMER_INV` 558957824, `PERF_COUNTER_COUNTER` 272696320,
//! `PERF_COUNTER_BULK_COUNT` 272696576, `PERF_COUNTER_LARGE_RAWCOUNT` 65792, ...); every
//! counter property carries its `CounterType` qualifier, as on Windows.
//!
//! Time bases ([`Win32_Perf`] documentation): `Timestamp_Sys100NS` is the system time as
//! a FILETIME (100 ns since 1601, UTC here) with `Frequency_Sys100NS` 10,000,000;
//! `Timestamp_PerfTime` is the performance counter (QueryPerformanceCounter) since boot
//! with `Frequency_PerfTime` 10,000,000, what current Windows reports.
//!
//! [`Win32_Perf`]: https://learn.microsoft.com/windows/win32/cimwin32prov/win32-perf

use std::collections::HashMap;
use std::f64::consts::TAU;
use std::sync::LazyLock;

use winv_wmio::{ClassDef, Slot, Value};

use crate::data::classes::{build, q, Level, FLAVOR_PROPAGATE_TO_INSTANCE};
use crate::rng::SplitMix64;

/// `PERF_COUNTER_RAWCOUNT`.
pub const PERF_COUNTER_RAWCOUNT: i32 = 65536;
/// `PERF_COUNTER_LARGE_RAWCOUNT`.
pub const PERF_COUNTER_LARGE_RAWCOUNT: i32 = 65792;
/// `PERF_COUNTER_COUNTER`.
pub const PERF_COUNTER_COUNTER: i32 = 272_696_320;
/// `PERF_COUNTER_BULK_COUNT`.
pub const PERF_COUNTER_BULK_COUNT: i32 = 272_696_576;
/// `PERF_RAW_FRACTION`.
pub const PERF_RAW_FRACTION: i32 = 537_003_008;
/// `PERF_RAW_BASE`.
pub const PERF_RAW_BASE: i32 = 1_073_939_459;
/// `PERF_100NSEC_TIMER`.
pub const PERF_100NSEC_TIMER: i32 = 542_180_608;
/// `PERF_PRECISION_100NS_TIMER`.
pub const PERF_PRECISION_100NS_TIMER: i32 = 542_573_824;
/// `PERF_PRECISION_TIMESTAMP` (the base of a precision timer).
pub const PERF_PRECISION_TIMESTAMP: i32 = 1_073_939_712;
/// `PERF_100NSEC_TIMER_INV`.
pub const PERF_100NSEC_TIMER_INV: i32 = 558_957_824;

/// The 100 ns ticks between 1601-01-01 and 1970-01-01.
pub const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;
/// `Frequency_Sys100NS` and `Frequency_PerfTime`.
pub const FREQUENCY: u64 = 10_000_000;

/// The raw performance classes the simulator serves (root\cimv2).
pub const PERF_CLASSES: &[&str] = &[
    "Win32_PerfRawData_PerfOS_Processor",
    "Win32_PerfRawData_PerfOS_Memory",
    "Win32_PerfRawData_PerfDisk_PhysicalDisk",
    "Win32_PerfRawData_Tcpip_NetworkInterface",
];

/// A FILETIME from Unix time in 100 ns units (clamped at 1970).
pub fn filetime_from_unix_100ns(unix_100ns: i128) -> u64 {
    u64::try_from(unix_100ns.max(0))
        .unwrap_or(u64::MAX)
        .saturating_add(FILETIME_UNIX_EPOCH)
}

// ---------------------------------------------------------------------------------------
// Classes.

const STATISTICAL: Level = (
    "CIM_StatisticalInformation",
    &["Caption:string", "Description:string", "Name:string"],
);
const WIN32_PERF: Level = (
    "Win32_Perf",
    &[
        "Frequency_Object:uint64",
        "Frequency_PerfTime:uint64",
        "Frequency_Sys100NS:uint64",
        "Timestamp_Object:uint64",
        "Timestamp_PerfTime:uint64",
        "Timestamp_Sys100NS:uint64",
    ],
);
const RAW: Level = ("Win32_PerfRawData", &[]);

/// (property with its MOF type, counter type).
type Counter = (&'static str, i32);

const PROCESSOR: &[Counter] = &[
    ("C1TransitionsPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("C2TransitionsPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("C3TransitionsPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("DPCRate:uint32", PERF_COUNTER_RAWCOUNT),
    ("DPCsQueuedPersec:uint32", PERF_COUNTER_COUNTER),
    ("InterruptsPersec:uint32", PERF_COUNTER_COUNTER),
    ("PercentC1Time:uint64", PERF_100NSEC_TIMER),
    ("PercentC2Time:uint64", PERF_100NSEC_TIMER),
    ("PercentC3Time:uint64", PERF_100NSEC_TIMER),
    ("PercentDPCTime:uint64", PERF_100NSEC_TIMER),
    ("PercentIdleTime:uint64", PERF_100NSEC_TIMER),
    ("PercentInterruptTime:uint64", PERF_100NSEC_TIMER),
    ("PercentPrivilegedTime:uint64", PERF_100NSEC_TIMER),
    ("PercentProcessorTime:uint64", PERF_100NSEC_TIMER_INV),
    ("PercentUserTime:uint64", PERF_100NSEC_TIMER),
];

const MEMORY: &[Counter] = &[
    ("AvailableBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("AvailableKBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("AvailableMBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("CacheBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("CommitLimit:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("CommittedBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("PageFaultsPersec:uint32", PERF_COUNTER_COUNTER),
    ("PagesInputPersec:uint32", PERF_COUNTER_COUNTER),
    ("PagesOutputPersec:uint32", PERF_COUNTER_COUNTER),
    ("PagesPersec:uint32", PERF_COUNTER_COUNTER),
    ("PercentCommittedBytesInUse:uint32", PERF_RAW_FRACTION),
    ("PercentCommittedBytesInUse_Base:uint32", PERF_RAW_BASE),
    ("PoolNonpagedBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("PoolPagedBytes:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
];

const PHYSICAL_DISK: &[Counter] = &[
    ("CurrentDiskQueueLength:uint32", PERF_COUNTER_RAWCOUNT),
    ("DiskBytesPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("DiskReadBytesPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("DiskReadsPersec:uint32", PERF_COUNTER_COUNTER),
    ("DiskTransfersPersec:uint32", PERF_COUNTER_COUNTER),
    ("DiskWriteBytesPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("DiskWritesPersec:uint32", PERF_COUNTER_COUNTER),
    ("PercentDiskTime:uint64", PERF_PRECISION_100NS_TIMER),
    ("PercentDiskTime_Base:uint64", PERF_PRECISION_TIMESTAMP),
    ("PercentIdleTime:uint64", PERF_PRECISION_100NS_TIMER),
    ("PercentIdleTime_Base:uint64", PERF_PRECISION_TIMESTAMP),
];

const NETWORK_INTERFACE: &[Counter] = &[
    ("BytesReceivedPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("BytesSentPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("BytesTotalPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("CurrentBandwidth:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("OutputQueueLength:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("PacketsOutboundErrors:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("PacketsPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("PacketsReceivedErrors:uint64", PERF_COUNTER_LARGE_RAWCOUNT),
    ("PacketsReceivedPersec:uint64", PERF_COUNTER_BULK_COUNT),
    ("PacketsSentPersec:uint64", PERF_COUNTER_BULK_COUNT),
];

fn perf_class(name: &'static str, counters: &'static [Counter], singleton: bool) -> ClassDef {
    let names: &'static [&'static str] = Box::leak(
        counters
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let keys: &[&str] = if singleton { &[] } else { &["Name"] };
    let mut qs = vec![
        q(
            "dynamic",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Boolean(true),
        ),
        q("genericperfctr", 0, Value::Boolean(true)),
        q("HiPerf", 0, Value::Boolean(true)),
        q("Locale", FLAVOR_PROPAGATE_TO_INSTANCE, Value::Sint32(1033)),
        q(
            "provider",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::String("Nt5_GenericPerfProvider_V1".into()),
        ),
    ];
    if singleton {
        qs.push(q(
            "singleton",
            FLAVOR_PROPAGATE_TO_INSTANCE,
            Value::Boolean(true),
        ));
    }
    let mut c = build(&[STATISTICAL, WIN32_PERF, RAW, (name, names)], keys, qs);
    for (spec, ty) in counters {
        let pname = spec.split(':').next().unwrap_or_default();
        if let Some(p) = c.properties.iter_mut().find(|p| p.name == pname) {
            p.qualifiers.push(q("CounterType", 0, Value::Sint32(*ty)));
        }
    }
    c
}

static CLASSES: LazyLock<HashMap<String, ClassDef>> = LazyLock::new(|| {
    [
        perf_class(PERF_CLASSES[0], PROCESSOR, false),
        perf_class(PERF_CLASSES[1], MEMORY, true),
        perf_class(PERF_CLASSES[2], PHYSICAL_DISK, false),
        perf_class(PERF_CLASSES[3], NETWORK_INTERFACE, false),
    ]
    .into_iter()
    .map(|c| (c.name.to_ascii_lowercase(), c))
    .collect()
});

/// The raw performance class `name` (root\cimv2), case-insensitive.
pub fn class(name: &str) -> Option<&'static ClassDef> {
    CLASSES.get(&name.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// The model.

/// A load that moves as a sine wave: `base + amp * sin(2π (s + phase) / period)`, with
/// `0 <= amp <= base`, so it never goes negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wave {
    pub base: f64,
    pub amp: f64,
    pub period_s: f64,
    pub phase_s: f64,
}

impl Wave {
    /// The value at `s` seconds since boot.
    pub fn at(&self, s: f64) -> f64 {
        self.base + self.amp * (TAU * (s + self.phase_s) / self.period_s).sin()
    }

    /// The integral from 0 to `s` (closed form).
    pub fn integral(&self, s: f64) -> f64 {
        let w = TAU / self.period_s;
        self.base * s + self.amp / w * ((w * self.phase_s).cos() - (w * (s + self.phase_s)).cos())
    }

    fn shifted(self, by_s: f64) -> Wave {
        Wave {
            phase_s: self.phase_s + by_s,
            ..self
        }
    }
}

/// A host's performance: what it has (processors, disks, interfaces, memory) and how busy
/// each is over time.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfModel {
    /// Boot time as a FILETIME.
    pub boot_filetime: u64,
    /// Logical processors (instances `0`..`n-1` and `_Total`).
    pub cpus: u32,
    /// Fraction of time busy, per processor (shifted per instance).
    pub cpu: Wave,
    /// Total physical memory, bytes.
    pub total_memory: u64,
    /// Fraction of memory available.
    pub memory_available: Wave,
    /// Physical disk instance names (`0 C:`).
    pub disks: Vec<String>,
    /// Transfers per second of disk 0 (others at half).
    pub disk_transfers: Wave,
    /// Bytes per transfer.
    pub transfer_size: f64,
    /// Network interface instance names.
    pub interfaces: Vec<String>,
    /// Bytes per second received on the first interface (sent: 40 % of it).
    pub net_received: Wave,
    /// `CurrentBandwidth`, bits per second.
    pub bandwidth: u64,
}

/// The instance name Windows' perf library gives a network interface: `(` `)` `#` `/` `\`
/// become `[` `]` `_` `_` `_`.
pub fn interface_instance_name(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '(' => '[',
            ')' => ']',
            '#' | '/' | '\\' => '_',
            c => c,
        })
        .collect()
}

impl PerfModel {
    /// Draws a model from `rng`.
    pub fn draw(
        rng: &mut SplitMix64,
        boot_unix: i64,
        cpus: u32,
        total_memory: u64,
        disks: Vec<String>,
        interfaces: Vec<String>,
        server: bool,
    ) -> PerfModel {
        let pct = |rng: &mut SplitMix64, lo: u64, hi: u64| rng.range(lo, hi) as f64 / 100.0;
        let period = |rng: &mut SplitMix64| rng.range(600, 3600) as f64;
        let cpu_base = pct(rng, 5, 60);
        let cpu = Wave {
            base: cpu_base,
            amp: cpu_base.min(1.0 - cpu_base) * pct(rng, 20, 80),
            period_s: period(rng),
            phase_s: rng.below(3600) as f64,
        };
        let mem_base = pct(rng, 15, 70);
        let memory_available = Wave {
            base: mem_base,
            amp: mem_base * pct(rng, 5, 30),
            period_s: period(rng),
            phase_s: rng.below(3600) as f64,
        };
        let t_base = rng.range(if server { 40 } else { 5 }, if server { 900 } else { 120 }) as f64;
        let disk_transfers = Wave {
            base: t_base,
            amp: t_base * pct(rng, 10, 90),
            period_s: period(rng),
            phase_s: rng.below(3600) as f64,
        };
        let transfer_size = *rng
            .pick(&[8192.0, 16384.0, 32768.0, 65536.0])
            .unwrap_or(&16384.0);
        let n_base = rng.range(
            if server { 200_000 } else { 10_000 },
            if server { 40_000_000 } else { 2_000_000 },
        ) as f64;
        let net_received = Wave {
            base: n_base,
            amp: n_base * pct(rng, 10, 90),
            period_s: period(rng),
            phase_s: rng.below(3600) as f64,
        };
        PerfModel {
            boot_filetime: filetime_from_unix_100ns(i128::from(boot_unix) * 10_000_000),
            cpus: cpus.clamp(1, 256),
            cpu,
            total_memory,
            memory_available,
            disks,
            disk_transfers,
            transfer_size,
            interfaces,
            net_received,
            bandwidth: if server {
                10_000_000_000
            } else {
                1_000_000_000
            },
        }
    }

    /// Seconds since boot at `ft` (0 before boot).
    fn uptime_s(&self, ft: u64) -> f64 {
        ft.saturating_sub(self.boot_filetime) as f64 / FREQUENCY as f64
    }

    /// The rows of the perf class `class` at FILETIME `ft`, `None` for another class.
    pub fn rows(&self, class: &ClassDef, ft: u64) -> Option<Vec<Vec<Slot>>> {
        let which = PERF_CLASSES
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&class.name))?;
        let up_ticks = ft.saturating_sub(self.boot_filetime);
        let s = self.uptime_s(ft);
        let mut rows = Vec::new();
        let mut row = |values: Vec<(&str, Value)>| {
            let mut r = vec![Slot::Null; class.properties.len()];
            let common = [
                ("Frequency_Object", Value::Uint64(0)),
                ("Frequency_PerfTime", Value::Uint64(FREQUENCY)),
                ("Frequency_Sys100NS", Value::Uint64(FREQUENCY)),
                ("Timestamp_Object", Value::Uint64(0)),
                ("Timestamp_PerfTime", Value::Uint64(up_ticks)),
                ("Timestamp_Sys100NS", Value::Uint64(ft)),
            ];
            for (n, v) in common.into_iter().chain(values) {
                if let Some(i) = class.properties.iter().position(|p| p.name == n) {
                    r[i] = Slot::Set(v);
                }
            }
            rows.push(r);
        };
        let u32w = |x: f64| Value::Uint32((x.max(0.0).floor() as u64 % (1u64 << 32)) as u32);
        let u64f = |x: f64| Value::Uint64(x.max(0.0).floor() as u64);
        match which {
            0 => {
                let elapsed = up_ticks as f64;
                let mut totals = [0u64; 5];
                let mut per_cpu = Vec::new();
                for i in 0..self.cpus {
                    let w = self.cpu.shifted(f64::from(i) * 37.0);
                    let busy = (w.integral(s) * FREQUENCY as f64).clamp(0.0, elapsed);
                    let idle = (elapsed - busy).floor() as u64;
                    let user = (busy * 0.7).floor() as u64;
                    let privileged = (busy.floor() as u64).saturating_sub(user);
                    let interrupts = (s * 400.0 + busy / FREQUENCY as f64 * 1200.0).floor() as u64;
                    let dpc = (interrupts as f64 * 0.25).floor() as u64;
                    for (t, v) in totals
                        .iter_mut()
                        .zip([idle, user, privileged, interrupts, dpc])
                    {
                        *t += v;
                    }
                    per_cpu.push((i.to_string(), [idle, user, privileged, interrupts, dpc]));
                }
                // _Total: timers are the average of the processors (what a 100 % scale
                // needs), event counters the sum.
                let n = u64::from(self.cpus);
                per_cpu.push((
                    "_Total".to_string(),
                    [
                        totals[0] / n,
                        totals[1] / n,
                        totals[2] / n,
                        totals[3],
                        totals[4],
                    ],
                ));
                for (name, [idle, user, privileged, interrupts, dpc]) in per_cpu {
                    row(vec![
                        ("Name", Value::String(name)),
                        ("C1TransitionsPersec", Value::Uint64(interrupts * 3)),
                        ("C2TransitionsPersec", Value::Uint64(0)),
                        ("C3TransitionsPersec", Value::Uint64(0)),
                        ("DPCRate", Value::Uint32(4)),
                        ("DPCsQueuedPersec", Value::Uint32((dpc % (1 << 32)) as u32)),
                        (
                            "InterruptsPersec",
                            Value::Uint32((interrupts % (1 << 32)) as u32),
                        ),
                        ("PercentC1Time", Value::Uint64(idle)),
                        ("PercentC2Time", Value::Uint64(0)),
                        ("PercentC3Time", Value::Uint64(0)),
                        ("PercentDPCTime", Value::Uint64(privileged / 50)),
                        ("PercentIdleTime", Value::Uint64(idle)),
                        ("PercentInterruptTime", Value::Uint64(privileged / 40)),
                        ("PercentPrivilegedTime", Value::Uint64(privileged)),
                        ("PercentProcessorTime", Value::Uint64(idle)),
                        ("PercentUserTime", Value::Uint64(user)),
                    ]);
                }
            }
            1 => {
                let total = self.total_memory as f64;
                let avail = (total * self.memory_available.at(s).clamp(0.01, 0.99)).floor() as u64;
                let used = self.total_memory.saturating_sub(avail);
                let limit = self.total_memory + 2 * 1024 * 1024 * 1024;
                let committed = used + used / 4;
                let pages_i = self.memory_available.integral(s);
                let faults = s * 900.0 + (s - pages_i) * 600.0;
                let pages_total = s * 12.0 + (s - pages_i) * 30.0;
                row(vec![
                    ("AvailableBytes", Value::Uint64(avail)),
                    ("AvailableKBytes", Value::Uint64(avail / 1024)),
                    ("AvailableMBytes", Value::Uint64(avail / (1024 * 1024))),
                    ("CacheBytes", Value::Uint64(used / 10)),
                    ("CommitLimit", Value::Uint64(limit)),
                    ("CommittedBytes", Value::Uint64(committed)),
                    ("PageFaultsPersec", u32w(faults)),
                    ("PagesInputPersec", u32w(pages_total * 0.8)),
                    ("PagesOutputPersec", u32w(pages_total * 0.2)),
                    ("PagesPersec", u32w(pages_total)),
                    (
                        "PercentCommittedBytesInUse",
                        Value::Uint32((committed >> 12).min(u64::from(u32::MAX)) as u32),
                    ),
                    (
                        "PercentCommittedBytesInUse_Base",
                        Value::Uint32((limit >> 12).min(u64::from(u32::MAX)) as u32),
                    ),
                    ("PoolNonpagedBytes", Value::Uint64(used / 40)),
                    ("PoolPagedBytes", Value::Uint64(used / 20)),
                ]);
            }
            2 => {
                let mut sums = [0.0f64; 4];
                let mut instances = Vec::new();
                for (i, name) in self.disks.iter().enumerate() {
                    let scale = if i == 0 { 1.0 } else { 0.5 };
                    let w = self.disk_transfers.shifted(i as f64 * 113.0);
                    let transfers = (w.integral(s) * scale).floor();
                    let reads = (transfers * 0.6).floor();
                    let bytes = (transfers * self.transfer_size).floor();
                    let busy = (w.integral(s) * scale * 0.0004 * FREQUENCY as f64)
                        .min(up_ticks as f64)
                        .floor();
                    for (t, v) in sums.iter_mut().zip([transfers, reads, bytes, busy]) {
                        *t += v;
                    }
                    instances.push((
                        name.clone(),
                        [transfers, reads, bytes, busy],
                        w.at(s) * scale,
                    ));
                }
                let n = self.disks.len().max(1) as f64;
                let queue: f64 = instances.iter().map(|i| i.2).sum();
                instances.push((
                    "_Total".to_string(),
                    [sums[0], sums[1], sums[2], (sums[3] / n).floor()],
                    queue,
                ));
                for (name, [transfers, reads, bytes, busy], rate) in instances {
                    let read_bytes = (reads * self.transfer_size).floor();
                    row(vec![
                        ("Name", Value::String(name)),
                        (
                            "CurrentDiskQueueLength",
                            Value::Uint32((rate / 200.0).floor() as u32),
                        ),
                        ("DiskBytesPersec", u64f(bytes)),
                        ("DiskReadBytesPersec", u64f(read_bytes)),
                        ("DiskReadsPersec", u32w(reads)),
                        ("DiskTransfersPersec", u32w(transfers)),
                        ("DiskWriteBytesPersec", u64f(bytes - read_bytes)),
                        ("DiskWritesPersec", u32w(transfers - reads)),
                        ("PercentDiskTime", u64f(busy)),
                        ("PercentDiskTime_Base", Value::Uint64(ft)),
                        ("PercentIdleTime", u64f(up_ticks as f64 - busy)),
                        ("PercentIdleTime_Base", Value::Uint64(ft)),
                    ]);
                }
            }
            _ => {
                for (i, name) in self.interfaces.iter().enumerate() {
                    let scale = if i == 0 { 1.0 } else { 0.01 };
                    let w = self.net_received.shifted(i as f64 * 71.0);
                    let received = (w.integral(s) * scale).floor();
                    let sent = (received * 0.4).floor();
                    let packets_r = (received / 900.0).floor();
                    let packets_s = (sent / 600.0).floor();
                    row(vec![
                        ("Name", Value::String(name.clone())),
                        ("BytesReceivedPersec", u64f(received)),
                        ("BytesSentPersec", u64f(sent)),
                        ("BytesTotalPersec", u64f(received + sent)),
                        ("CurrentBandwidth", Value::Uint64(self.bandwidth)),
                        ("OutputQueueLength", Value::Uint64(0)),
                        ("PacketsOutboundErrors", Value::Uint64(0)),
                        ("PacketsPersec", u64f(packets_r + packets_s)),
                        ("PacketsReceivedErrors", Value::Uint64(0)),
                        ("PacketsReceivedPersec", u64f(packets_r)),
                        ("PacketsSentPersec", u64f(packets_s)),
                    ]);
                }
            }
        }
        Some(rows)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wave_integral_matches_numeric_integration() {
        let w = Wave {
            base: 0.4,
            amp: 0.3,
            period_s: 900.0,
            phase_s: 123.0,
        };
        let (a, b) = (1000.0, 1600.0);
        let steps = 60_000;
        let h = (b - a) / steps as f64;
        let numeric: f64 = (0..steps).map(|i| w.at(a + (i as f64 + 0.5) * h) * h).sum();
        let closed = w.integral(b) - w.integral(a);
        assert!((numeric - closed).abs() < 1e-6, "{numeric} {closed}");
    }

    #[test]
    fn counters_never_go_backwards_and_cpu_stays_in_range() {
        let mut rng = SplitMix64::new(7);
        let m = PerfModel::draw(
            &mut rng,
            1_700_000_000,
            4,
            16 << 30,
            vec!["0 C:".into()],
            vec!["nic".into()],
            true,
        );
        let c = class("Win32_PerfRawData_PerfOS_Processor").unwrap();
        let idx = |n: &str| c.properties.iter().position(|p| p.name == n).unwrap();
        let get = |rows: &[Vec<Slot>], r: usize, n: &str| match &rows[r][idx(n)] {
            Slot::Set(Value::Uint64(v)) => *v,
            other => panic!("{other:?}"),
        };
        let t0 = filetime_from_unix_100ns(1_700_100_000 * 10_000_000);
        let mut prev = m.rows(c, t0).unwrap();
        assert_eq!(prev.len(), 5);
        for k in 1..100u64 {
            let t = t0 + k * 15 * FREQUENCY;
            let rows = m.rows(c, t).unwrap();
            let d_idle =
                get(&rows, 4, "PercentProcessorTime") - get(&prev, 4, "PercentProcessorTime");
            let d_t = get(&rows, 4, "Timestamp_Sys100NS") - get(&prev, 4, "Timestamp_Sys100NS");
            let busy = 1.0 - d_idle as f64 / d_t as f64;
            assert!((0.0..=1.0).contains(&busy), "{busy}");
            prev = rows;
        }
    }
}
