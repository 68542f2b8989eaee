//! Output of discovery: a target file (one host per line under a `#` comment
//! header, readable back by [`crate::targets::TargetSet::add_lines`]) and JSON
//! lines (one object per computer or target).

use std::io::{self, Write};

use serde::Serialize;

use crate::ad::{Computer, Discovery};
use crate::targets::Target;

/// Writes the kept computers of a discovery as a target file.
pub fn write_ad_targets<W: Write + ?Sized>(w: &mut W, d: &Discovery) -> io::Result<()> {
    writeln!(
        w,
        "# winventory discover: computers from {} (base {})",
        d.server, d.base
    )?;
    writeln!(
        w,
        "# found {}, kept {}, skipped disabled {}, skipped stale {}, without dNSHostName {}",
        d.counts.found,
        d.counts.kept,
        d.counts.skipped_disabled,
        d.counts.skipped_stale,
        d.counts.without_dns_host_name
    )?;
    for c in d.computers.iter().filter(|c| !c.skipped) {
        if c.host_from_name {
            writeln!(w, "{} # no dNSHostName: name plus domain", c.host)?;
        } else {
            writeln!(w, "{}", c.host)?;
        }
    }
    Ok(())
}

/// One computer as a JSON object (fields of [`Computer`], plus `kind`).
#[derive(Serialize)]
struct ComputerJson<'a> {
    kind: &'static str,
    #[serde(flatten)]
    c: &'a Computer,
}

/// Writes every computer (skipped ones too) as JSON lines.
pub fn write_ad_json<W: Write + ?Sized>(w: &mut W, d: &Discovery) -> io::Result<()> {
    for c in &d.computers {
        serde_json::to_writer(
            &mut *w,
            &ComputerJson {
                kind: "computer",
                c,
            },
        )?;
        writeln!(w)?;
    }
    Ok(())
}

/// Writes targets as a target file.
pub fn write_targets<W: Write + ?Sized>(w: &mut W, ts: &[Target], header: &str) -> io::Result<()> {
    writeln!(w, "# winventory discover: {header}")?;
    for t in ts {
        writeln!(w, "{}", t.host())?;
    }
    Ok(())
}

/// Writes targets as JSON lines (`spec`, `host`, `kind`).
pub fn write_targets_json<W: Write + ?Sized>(w: &mut W, ts: &[Target]) -> io::Result<()> {
    #[derive(Serialize)]
    struct T<'a> {
        spec: &'a str,
        host: String,
        kind: &'static str,
    }
    for t in ts {
        let kind = match t.kind {
            crate::targets::TargetKind::Name(_) => "name",
            crate::targets::TargetKind::Addr(_) => "address",
        };
        serde_json::to_writer(
            &mut *w,
            &T {
                spec: &t.spec,
                host: t.host(),
                kind,
            },
        )?;
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::ad::{Counts, SkipReason};
    use crate::targets::{ParseOptions, TargetSet};

    fn comp(name: &str, dns: Option<&str>, skip: Option<SkipReason>) -> Computer {
        Computer {
            name: name.into(),
            dns_host_name: dns.map(String::from),
            host: dns
                .map(String::from)
                .unwrap_or_else(|| format!("{}.winv.test", name.to_lowercase())),
            host_from_name: dns.is_none(),
            distinguished_name: format!("CN={name},DC=winv,DC=test"),
            operating_system: Some("Windows 11 Pro".into()),
            operating_system_version: None,
            user_account_control: Some(4096),
            last_logon_unix: None,
            skipped: skip.is_some(),
            skip_reason: skip,
        }
    }

    #[test]
    fn target_file_round_trips_and_json_has_fields() {
        let d = Discovery {
            server: "dc1:389".into(),
            base: "DC=winv,DC=test".into(),
            pages: 1,
            computers: vec![
                comp("PC1", Some("pc1.winv.test"), None),
                comp("PC2", None, None),
                comp("PC3", Some("pc3.winv.test"), Some(SkipReason::Disabled)),
            ],
            counts: Counts::default(),
        };
        let mut out = Vec::new();
        write_ad_targets(&mut out, &d).unwrap();
        let mut set = TargetSet::new();
        set.add_lines(&out[..], &ParseOptions::default()).unwrap();
        assert!(set.bad.is_empty(), "{:?}", set.bad);
        let hosts: Vec<String> = set.targets().iter().map(|t| t.host()).collect();
        assert_eq!(hosts, ["pc1.winv.test", "pc2.winv.test"]);

        let mut js = Vec::new();
        write_ad_json(&mut js, &d).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(js)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        for k in [
            "name",
            "dns_host_name",
            "distinguished_name",
            "operating_system",
            "skipped",
            "skip_reason",
        ] {
            assert!(lines[0].get(k).is_some(), "missing {k}");
        }
        assert_eq!(lines[1]["dns_host_name"], serde_json::Value::Null);
        assert_eq!(lines[2]["skip_reason"], "disabled");
        assert_eq!(lines[2]["skipped"], true);
    }
}
