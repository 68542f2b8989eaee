//! `query`, `scan` and `diagnose` with Kerberos against a simulated host in a real Samba
//! realm: a computer account `SIMWEB1$` with the host's SPNs, its keytab exported with
//! `samba-tool domain exportkeytab`, the name `simweb1.winv.test` in Samba's DNS; the
//! simulator serves that host with the keytab (and a second host without one, and a third
//! that refuses NTLM). Samba is provisioned per test in a private network namespace; all
//! traffic stays inside it. impacket, with Kerberos from the same KDC, judges the simulated
//! acceptor (the simulator listens on port 135 in the namespace: what impacket dials). A
//! scan of 1,000 names (`*.sim.winv.test`, one account with all their SPNs) counts the
//! tickets the client asks for: one TGT, one service ticket per computer. Skips
//! with a message when Samba or namespaces are missing
//! (fails under `CI=true`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use winv_sim::fleet::Fleet;
use winv_sim::server::{ListenOptions, SimServer};
use winv_testsuite::samba::AccountChange::{self, Replace};
use winv_testsuite::samba::SambaDc;

const PW_ENV: &str = "WINV_KRB_E2E_PASSWORD";
/// Kerberos and NTLM (keytab, NTLM allowed).
const BOTH: &str = "127.0.0.72";
/// NTLM only (no computer account, no keytab).
const NTLM_ONLY: &str = "127.0.0.73";
/// Kerberos only (`ntlm = false`).
const KRB_ONLY: &str = "127.0.0.74";
/// A computer account with RC4 only (`msDS-SupportedEncryptionTypes = 4`).
const RC4_ONLY: &str = "127.0.0.75";
/// Kerberos with the host's clock ten minutes ahead (`clock_skew`).
const SKEWED: &str = "127.0.0.76";
/// Kerberos with a tampered AP-REP (`tampered_ap_rep`).
const TAMPERED: &str = "127.0.0.77";
/// One simulated host behind FLEET names (`*.sim.winv.test` in DNS), the account `SIMFLEET$`
/// holding every name's SPN: a scan of FLEET computers that each need their own ticket.
const FLEET_ADDR: &str = "127.0.0.80";
const FLEET: usize = 1000;

fn krb5_conf(dc: &SambaDc) -> PathBuf {
    let p = dc.data_dir().join("winv-e2e-krb5.conf");
    let text = format!(
        "[libdefaults]\n\tdefault_realm = {r}\n\tdns_lookup_kdc = false\n[realms]\n\t{r} = {{\n\t\tkdc = {a}:88\n\t}}\n",
        r = dc.realm(),
        a = dc.addr()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// A computer account with the host's SPNs, its keytab, and its name in DNS.
fn computer(dc: &SambaDc, name: &str, addr: &str) -> PathBuf {
    let fqdn = format!("{}.{}", name.to_lowercase(), dc.realm().to_lowercase());
    // --prepare-oldjoin: the account gets a password (so AES keys), as an old-style join
    // leaves it; the keytab carries those keys to the simulated host.
    dc.samba_tool(&["computer", "create", name, "--prepare-oldjoin"]).unwrap();
    let account = format!("{}$", name.to_uppercase());
    for spn in [format!("host/{fqdn}"), format!("HOST/{}", name.to_uppercase())] {
        // `computer create` may have added them already.
        let _ = dc.samba_tool(&["spn", "add", &spn, &account]);
    }
    // AES for the account (a new computer account has no msDS-SupportedEncryptionTypes,
    // which the KDC reads as RC4 only).
    dc.modify_account(&account, "msDS-SupportedEncryptionTypes", Replace, &["24"]).unwrap();
    let kt = dc.data_dir().join(format!("{name}.keytab"));
    dc.samba_tool(&[
        "domain",
        "exportkeytab",
        &kt.display().to_string(),
        &format!("--principal={account}"),
    ])
    .unwrap();
    let dns = dc.addr().to_string();
    dc.samba_tool(&[
        "dns",
        "add",
        &dns,
        &dc.realm().to_lowercase(),
        &name.to_lowercase(),
        "A",
        addr,
    ])
    .unwrap();
    kt
}


/// The names of the fleet's computers (`f0001.sim.winv.test`...).
fn fleet_names(dc: &SambaDc) -> Vec<String> {
    (1..=FLEET)
        .map(|i| format!("f{i:04}.sim.{}", dc.realm().to_lowercase()))
        .collect()
}

/// `SIMFLEET$` with the SPN of every fleet name, its keytab, and `*.sim` in DNS.
fn fleet_account(dc: &SambaDc) -> PathBuf {
    dc.samba_tool(&["computer", "create", "SIMFLEET", "--prepare-oldjoin"]).unwrap();
    dc.modify_account("SIMFLEET$", "msDS-SupportedEncryptionTypes", Replace, &["24"]).unwrap();
    let spns: Vec<String> = fleet_names(dc).iter().map(|n| format!("host/{n}")).collect();
    let spns: Vec<&str> = spns.iter().map(String::as_str).collect();
    dc.modify_account("SIMFLEET$", "servicePrincipalName", AccountChange::Add, &spns).unwrap();
    let kt = dc.data_dir().join("simfleet.keytab");
    dc.samba_tool(&[
        "domain",
        "exportkeytab",
        &kt.display().to_string(),
        "--principal=SIMFLEET$",
    ])
    .unwrap();
    let dns = dc.addr().to_string();
    dc.samba_tool(&["dns", "add", &dns, &dc.realm().to_lowercase(), "*.sim", "A", FLEET_ADDR])
        .unwrap();
    kt
}

/// The simulated hosts: each with its name, and its keytab where it has a computer account.
struct Keytabs<'a> {
    both: &'a Path,
    krb: &'a Path,
    rc4: &'a Path,
    skew: &'a Path,
    tampered: &'a Path,
    fleet: &'a Path,
}

fn fleet_text(dc: &SambaDc, kt: &Keytabs<'_>) -> String {
    let domain = dc.realm().to_lowercase();
    format!(
        "[defaults]\nuser = \"{u}@{r}\"\npassword_env = \"{PW_ENV}\"\nseed = 7\n\n\
         [[host]]\naddress = \"{BOTH}\"\nname = \"simweb1\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\n\n\
         [[host]]\naddress = \"{NTLM_ONLY}\"\nname = \"simntlm\"\ndomain = \"{domain}\"\n\n\
         [[host]]\naddress = \"{KRB_ONLY}\"\nname = \"simkrb\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\nntlm = false\n\n\
         [[host]]\naddress = \"{RC4_ONLY}\"\nname = \"simrc4\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\n\n\
         [[host]]\naddress = \"{SKEWED}\"\nname = \"simskew\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\nntlm = false\n\
         faults = [{{ kind = \"clock_skew\", seconds = 600 }}]\n\n\
         [[host]]\naddress = \"{TAMPERED}\"\nname = \"simtamp\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\nntlm = false\n\
         faults = [{{ kind = \"tampered_ap_rep\" }}]\n\n\
         [[host]]\naddress = \"{FLEET_ADDR}\"\nname = \"simfleet\"\ndomain = \"{domain}\"\nkeytab = \"{}\"\nrealm = \"{r}\"\nntlm = false\n",
        kt.both.display(),
        kt.krb.display(),
        kt.rc4.display(),
        kt.skew.display(),
        kt.tampered.display(),
        kt.fleet.display(),
        u = dc.admin_user(),
        r = dc.realm(),
    )
}

/// The sorted service names the simulated host at `addr` serves.
fn service_names(fleet: &Fleet, addr: &str) -> Vec<String> {
    let mut v: Vec<String> = fleet
        .host(addr.parse().unwrap())
        .unwrap()
        .data()
        .instances(r"root\cimv2", "Win32_Service")
        .unwrap()
        .iter()
        .filter_map(|i| i.get("Name").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    v.sort();
    v
}

async fn run(args: Vec<String>, conf: &Path) -> Output {
    let conf = conf.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_winventory"))
            .args(&args)
            .env("KRB5_CONFIG", &conf)
            .env_remove("KRB5CCNAME")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn kerberos_query_scan_and_diagnose_against_a_simulated_host_in_a_samba_realm() {
    let Some(dc) = SambaDc::start_with_dns().expect("samba starts") else {
        return;
    };
    let conf = krb5_conf(&dc);
    let kt_both = computer(&dc, "SIMWEB1", BOTH);
    let kt_krb = computer(&dc, "SIMKRB", KRB_ONLY);
    let kt_rc4 = computer(&dc, "SIMRC4", RC4_ONLY);
    let kt_skew = computer(&dc, "SIMSKEW", SKEWED);
    let kt_tamp = computer(&dc, "SIMTAMP", TAMPERED);
    let kt_fleet = fleet_account(&dc);
    dc.modify_account("SIMRC4$", "msDS-SupportedEncryptionTypes", Replace, &["4"]).unwrap();
    // The NTLM-only host has a name in DNS but no computer account (no SPN).
    dc.samba_tool(&[
        "dns",
        "add",
        &dc.addr().to_string(),
        &dc.realm().to_lowercase(),
        "simntlm",
        "A",
        NTLM_ONLY,
    ])
    .unwrap();
    std::env::set_var(PW_ENV, dc.admin_password());
    let keytabs = Keytabs {
        both: &kt_both,
        krb: &kt_krb,
        rc4: &kt_rc4,
        skew: &kt_skew,
        tampered: &kt_tamp,
        fleet: &kt_fleet,
    };
    let fleet = Fleet::parse(&fleet_text(&dc, &keytabs)).unwrap();
    let want = fleet
        .host(BOTH.parse().unwrap())
        .unwrap()
        .data()
        .instances(r"root\cimv2", "Win32_Service")
        .unwrap()
        .len();
    let krb_only_services = service_names(&fleet, KRB_ONLY);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dns = dc.addr().to_string();
    let user = format!("{}@{}", dc.admin_user(), dc.realm());
    let both = format!("simweb1.{}", dc.realm().to_lowercase());
    let rc4 = format!("simrc4.{}", dc.realm().to_lowercase());
    rt.block_on(async {
        // Port 135 inside the test's own namespace: what impacket dials.
        let sim = SimServer::start(
            fleet,
            ListenOptions {
                epm_port: 135,
                dynamic_port: 0,
                ..ListenOptions::default()
            },
        )
        .await
        .unwrap();
        let port = sim.epm_port.to_string();
        let common = |extra: &[&str]| -> Vec<String> {
            let mut v = strings(&[
                "--user", &user, "--password-env", PW_ENV, "--port", &port, "--dns-server", &dns,
                "--call-timeout", "10",
            ]);
            v.extend(strings(extra));
            v
        };

        // query at integrity and privacy, with SPNEGO and with raw Kerberos (auth type 16).
        for (auth, level) in [("kerberos", "integrity"), ("kerberos", "privacy"), ("kerberos-raw", "privacy")] {
            let mut a = strings(&["query", &both, "SELECT Name, State FROM Win32_Service", "--format", "json"]);
            a.extend(common(&["--auth", auth, "--auth-level", level]));
            let out = run(a, &conf).await;
            assert_eq!(out.status.code(), Some(0), "{auth} {level}: {}", text(&out));
            let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(rows.as_array().unwrap().len(), want, "{auth} {level}");
            // No secret in what the command prints.
            assert!(!text(&out).contains(dc.admin_password()));
        }

        // At trace level, no password, key or ticket in the logs: the password, and the
        // base64/hex of nothing we hold is checked by the password itself and the
        // session keys are never formatted (Debug is redacted).
        let mut a = strings(&["--log", "trace", "query", &both, "SELECT Name FROM Win32_Service"]);
        a.extend(common(&["--auth", "kerberos"]));
        let out = run(a, &conf).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let logs = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "trace logs expected: {}", &logs[..logs.len().min(2000)]);
        assert!(!logs.contains(dc.admin_password()), "password in trace logs");
        assert!(!logs.to_lowercase().contains("session_key"), "a key in trace logs");

        // An unknown user: the KDC's code by name.
        let out = run(
            strings(&[
                "query", &both, "SELECT Name FROM Win32_Service", "--user",
                &format!("nosuchuser@{}", dc.realm()), "--password-env", PW_ENV, "--port", &port,
                "--dns-server", &dns, "--auth", "kerberos",
            ]),
            &conf,
        )
        .await;
        assert!(text(&out).contains("KDC_ERR_C_PRINCIPAL_UNKNOWN"), "{}", text(&out));

        // An RC4-only computer account: refused, never used.
        let mut a = strings(&["query", &rc4, "SELECT Name FROM Win32_Service"]);
        a.extend(common(&["--auth", "kerberos"]));
        let out = run(a, &conf).await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(
            text(&out).contains("KDC_ERR_ETYPE_NOSUPP") || text(&out).contains("rc4-hmac (etype 23) refused"),
            "{}",
            text(&out)
        );

        // diagnose of the NTLM-refusing host with --auth ntlm: the kerberos probe works
        // and says so.
        let mut a = strings(&["diagnose", &format!("simkrb.{}", dc.realm().to_lowercase())]);
        a.extend(common(&["--auth", "ntlm"]));
        let out = run(a, &conf).await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("restricts ntlm"), "{}", text(&out));
        assert!(text(&out).contains("--auth kerberos"), "{}", text(&out));

        // An address-only target: a clear error under kerberos.
        let mut a = strings(&["query", BOTH, "SELECT Name FROM Win32_Service"]);
        a.extend(common(&["--auth", "kerberos"]));
        let out = run(a, &conf).await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("kerberos needs a host name"), "{}", text(&out));

        // A wrong SPN: the KDC does not know it.
        let mut a = strings(&["query", &both, "SELECT Name FROM Win32_Service"]);
        a.extend(common(&["--auth", "kerberos", "--spn", "host/nosuch.winv.test"]));
        let out = run(a, &conf).await;
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("KDC_ERR_S_PRINCIPAL_UNKNOWN"), "{}", text(&out));

        // A wrong password: pre-authentication fails, named by its code.
        std::env::set_var("WINV_KRB_E2E_WRONG", "Not-The-Passw0rd!");
        let out = run(
            strings(&[
                "query", &both, "SELECT Name FROM Win32_Service", "--user", &user, "--password-env",
                "WINV_KRB_E2E_WRONG", "--port", &port, "--dns-server", &dns, "--auth", "kerberos",
            ]),
            &conf,
        )
        .await;
        assert!(text(&out).contains("KDC_ERR_PREAUTH_FAILED"), "{}", text(&out));
        assert!(!text(&out).contains("Not-The-Passw0rd!"));

        // A third party's Kerberos against the simulated acceptor, with the real KDC's
        // ticket: MIT kinit and kvno put a TGT and a ticket for host/simkrb.winv.test in a
        // cache, as an administrator would (Samba's KDC answers impacket's own TGS-REQ with
        // KRB_AP_ERR_INAPP_CKSUM, seen with impacket 0.13.1), and impacket takes the service
        // ticket from it to activate WMI, log in and query the host that refuses NTLM, at
        // packet privacy.
        if let Some(py) = winv_testsuite::python::python_with("impacket") {
            let krb_only = format!("simkrb.{}", dc.realm().to_lowercase());
            let cache = format!("FILE:{}", dc.data_dir().join("krb5cc_impacket").display());
            let principal = format!("{}@{}", dc.admin_user(), dc.realm());
            let password = format!("{}\n", dc.admin_password());
            let args = strings(&[
                &winv_testsuite::python::script("impacket_wmi.py").display().to_string(),
                &krb_only,
                dc.realm(),
                dc.admin_user(),
                "//./root/cimv2",
                "SELECT Name FROM Win32_Service",
            ]);
            let conf2 = conf.clone();
            let out = tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut kinit = Command::new("kinit")
                    .arg(&principal)
                    .env("KRB5_CONFIG", &conf2)
                    .env("KRB5CCNAME", &cache)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("kinit (krb5-user) runs");
                kinit.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
                assert!(kinit.wait().unwrap().success(), "kinit");
                let kvno = Command::new("kvno")
                    .arg(format!("host/{krb_only}"))
                    .env("KRB5_CONFIG", &conf2)
                    .env("KRB5CCNAME", &cache)
                    .output()
                    .unwrap();
                assert!(kvno.status.success(), "kvno: {}", text(&kvno));
                Command::new(py)
                    .args(&args)
                    .env("WINV_TEST_KERBEROS", "1")
                    .env("WINV_TEST_REMOTE_HOST", KRB_ONLY)
                    .env("KRB5CCNAME", cache.trim_start_matches("FILE:"))
                    .env_remove("WINV_TEST_PASSWORD")
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("impacket printed no JSON ({e}): {}", text(&out)));
            assert!(json["connect_error"].is_null(), "{json}");
            assert!(json["results"][0]["error"].is_null(), "{json}");
            let mut got: Vec<String> = json["results"][0]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["Name"].as_str().map(str::to_string))
                .collect();
            got.sort();
            assert_eq!(got, krb_only_services, "impacket's rows");
        }

        // The host's clock ten minutes ahead: its acceptor refuses the authenticator with
        // the code Windows gives, at the bind, and says by how much; a tampered AP-REP:
        // the client refuses the server's proof (a reply that failed verification).
        // `diagnose --json` names each by its code.
        for (name, says, code) in [
            ("simskew", "KRB_AP_ERR_SKEW (37), the host's clock is 600 s ahead", "KRB_AP_ERR_SKEW"),
            ("simtamp", "the reply failed verification: security: kerberos integrity check failed", "SEC_E_MESSAGE_ALTERED"),
        ] {
            let host = format!("{name}.{}", dc.realm().to_lowercase());
            let mut a = strings(&["query", &host, "SELECT Name FROM Win32_Service"]);
            a.extend(common(&["--auth", "kerberos"]));
            let out = run(a, &conf).await;
            assert_eq!(out.status.code(), Some(4), "{name}: {}", text(&out));
            assert!(text(&out).contains("failed at bind-135"), "{name}: {}", text(&out));
            assert!(text(&out).contains(says), "{name}: {}", text(&out));
            let mut a = strings(&["diagnose", &host, "--json"]);
            a.extend(common(&["--auth", "kerberos"]));
            let out = run(a, &conf).await;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{name}: diagnose printed no JSON ({e}): {}", text(&out)));
            assert_eq!(v["failure"]["code_name"], code, "{name}: {}", v["failure"]);
            assert_eq!(v["failure"]["stage"], "bind-135", "{name}: {}", v["failure"]);
        }

        // diagnose with kerberos: the host is inventoriable.
        let mut a = strings(&["diagnose", &both, "--json"]);
        a.extend(common(&["--auth", "kerberos"]));
        let out = run(a, &conf).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));

        // A mixed fleet scanned with negotiate: every host inventoried, the mechanism of
        // each in the database.
        let db = dc.data_dir().join("e2e.sqlite");
        let targets: Vec<String> = ["simweb1", "simntlm", "simkrb"]
            .iter()
            .map(|n| format!("{n}.{}", dc.realm().to_lowercase()))
            .collect();
        let mut a = strings(&["scan", "--db", &db.display().to_string(), "--json"]);
        a.extend(targets.clone());
        a.extend(common(&["--auth", "negotiate"]));
        let out = run(a, &conf).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let store = winv_store::Store::open_existing(&db).await.unwrap();
        let run_id = store.latest_run().await.unwrap().unwrap().id;
        let mut got = Vec::new();
        for t in &targets {
            let r = store.computer(run_id, t).await.unwrap().unwrap();
            got.push((
                t.split('.').next().unwrap().to_string(),
                r.status.as_str().to_string(),
                r.mechanism.clone(),
            ));
        }
        let got: Vec<(&str, &str, Option<&str>)> =
            got.iter().map(|(t, s, m)| (t.as_str(), s.as_str(), m.as_deref())).collect();
        assert_eq!(
            got,
            vec![
                ("simweb1", "inventoried", Some("kerberos")),
                ("simntlm", "inventoried", Some("ntlm")),
                ("simkrb", "inventoried", Some("kerberos")),
            ],
            "{}",
            text(&out)
        );
        store.close().await;
        // No password anywhere in the database file.
        let bytes = std::fs::read(&db).unwrap();
        let pw = dc.admin_password().as_bytes();
        assert!(!bytes.windows(pw.len()).any(|w| w == pw), "password in the database");

        // The ticket caches over a scan of FLEET computers that refuse NTLM: one TGT for
        // the whole scan, one service ticket per computer (its own SPN), every computer
        // inventoried with Kerberos; counted from the client's own log of what it asked the
        // KDC for.
        let targets_file = dc.data_dir().join("fleet-targets.txt");
        std::fs::write(&targets_file, fleet_names(&dc).join("\n")).unwrap();
        let db3 = dc.data_dir().join("e2e-fleet.sqlite");
        let mut a = strings(&[
            "--log", "winv_krb=debug", "scan", "--db", &db3.display().to_string(), "--targets",
            &targets_file.display().to_string(), "--quiet", "--rate", "0", "--concurrency", "64",
            "--connections-per-host", "1",
        ]);
        a.extend(common(&["--auth", "kerberos"]));
        let out = run(a, &conf).await;
        assert_eq!(out.status.code(), Some(0), "{}", &text(&out)[..text(&out).len().min(4000)]);
        let log = String::from_utf8_lossy(&out.stderr);
        let tgts = log.matches("tgt obtained").count();
        let tickets = log.matches("service ticket obtained").count();
        eprintln!("fleet of {FLEET}: {tgts} TGT requests, {tickets} service tickets");
        assert_eq!(tgts, 1, "one TGT for the whole scan");
        assert_eq!(tickets, FLEET, "one service ticket per computer");
        let store = winv_store::Store::open_existing(&db3).await.unwrap();
        let run_id = store.latest_run().await.unwrap().unwrap().id;
        let summary = store.summary(run_id).await.unwrap();
        assert_eq!(summary.finished, FLEET);
        store.close().await;

        // The Kerberos-only host scanned with --auth ntlm: refused.
        let db2 = dc.data_dir().join("e2e-ntlm.sqlite");
        let out = run(
            strings(&[
                "scan", "--db", &db2.display().to_string(), "--json", &targets[2], "--user",
                &user, "--password-env", PW_ENV, "--port", &port, "--dns-server", &dns, "--auth", "ntlm",
            ]),
            &conf,
        )
        .await;
        assert!(text(&out).contains("access-denied"), "{}", text(&out));
        sim.stop().await;
    });
}
