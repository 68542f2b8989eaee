//! Benchmark helper (not a test): runs a list of WQL queries on one [`WmiClient`] session
//! and prints one JSON line with the timings, for `benches/wmi_queries.sh`.
//!
//! Usage: `bench_queries HOST QUERIES_FILE [PORT]` with `BENCH_USER` (`DOMAIN\user`,
//! default `LAB\admin`) and the password in the environment variable named by
//! `BENCH_PASSWORD_ENV` (default `BENCH_PASSWORD`); never on the command line.
//! `QUERIES_FILE` holds one WQL query a line; every line is run once, in order.
//! `BENCH_ROWS=few` or `many` runs every query through `query_each_in` with that hint
//! (`Rows::Few`: plain `Next`; `Rows::Many`: the smart enumerator), the objects kept in a
//! vector, to compare the two ways on the same queries; unset, `query` as before.
//!
//! Output: `{"client":"winventory-lib","connect_s":..,"wall_s":..,"cpu_s":..,
//! "queries":N,"rows":R,"errors":E,"row_counts":[..]}` where `wall_s` and `cpu_s`
//! (CPU of this single-threaded process, see `cpu_seconds`) cover the query loop only.

use std::time::Instant;

use winv_client::{Credentials, Rows, WmiClient, WmiOptions};

/// CPU seconds of this process's main thread so far (the first field of
/// `/proc/self/schedstat`, nanoseconds; the runtime is single-threaded, so that is all
/// the work), falling back to user plus system time from `/proc/self/stat` (fields 14
/// and 15, clock ticks of 1/100 s); 0 when neither is readable.
fn cpu_seconds() -> f64 {
    if let Some(ns) = std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return ns as f64 / 1e9;
    }
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; the fields after it follow ") ".
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3, so field 14 is index 11 and field 15 index 12.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(11) + tick(12)) as f64 / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(host), Some(file)) = (args.get(1), args.get(2)) else {
        return Err("usage: bench_queries HOST QUERIES_FILE [PORT]".into());
    };
    let port: u16 = match args.get(3) {
        Some(p) => p.parse()?,
        None => 135,
    };
    let queries: Vec<String> = std::fs::read_to_string(file)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let user = std::env::var("BENCH_USER").unwrap_or_else(|_| r"LAB\admin".to_string());
    let var = std::env::var("BENCH_PASSWORD_ENV").unwrap_or_else(|_| "BENCH_PASSWORD".into());
    let password = std::env::var(&var).map_err(|_| format!("set {var} to the password"))?;
    let (u, d) = Credentials::parse_user(&user);
    let creds = Credentials::with_password(&u, &d, &password);
    let opts = WmiOptions {
        epm_port: port,
        ..WmiOptions::default()
    };

    let t0 = Instant::now();
    let mut client = WmiClient::connect(host, creds, opts).await?;
    let connect_s = t0.elapsed().as_secs_f64();

    let cpu0 = cpu_seconds();
    let t1 = Instant::now();
    let mut row_counts = Vec::with_capacity(queries.len());
    let mut errors = 0usize;
    let hint = match std::env::var("BENCH_ROWS").as_deref() {
        Ok("few") => Some(Rows::Few),
        Ok("many") => Some(Rows::Many),
        _ => None,
    };
    let ns = client.options().namespace.clone();
    for q in &queries {
        let got = match hint {
            None => client.query(q).await.map(|rows| rows.len()),
            Some(hint) => {
                let mut objects = Vec::new();
                let mut keep = |o: winv_client::Object| {
                    objects.push(o);
                    1
                };
                let r = client.query_each_in(&ns, q, hint, &mut keep).await;
                r.map(|()| objects.len())
            }
        };
        match got {
            Ok(n) => row_counts.push(n),
            Err(e) => {
                eprintln!("bench_queries: {q}: {e}");
                errors += 1;
                row_counts.push(0);
            }
        }
    }
    let wall_s = t1.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu0;
    client.close().await?;

    let rows: usize = row_counts.iter().sum();
    let counts: Vec<String> = row_counts.iter().map(|c| c.to_string()).collect();
    println!(
        "{{\"client\":\"winventory-lib\",\"connect_s\":{connect_s:.6},\"wall_s\":{wall_s:.6},\
         \"cpu_s\":{cpu_s:.6},\"queries\":{},\"rows\":{rows},\"errors\":{errors},\
         \"row_counts\":[{}]}}",
        queries.len(),
        counts.join(",")
    );
    Ok(())
}
