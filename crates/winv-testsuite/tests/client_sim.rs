//! End to end: the WMI client (`winv-client`) against the simulator (`winv-sim`) over
//! loopback. Each test serves its own hosts on addresses 127.0.31.x and compares what the
//! client gets with the simulator's own generated data, or checks that a fault of
//! docs/fleet.md surfaces at its stage with its named code.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::time::Duration;

use winv_client::registry::Hive;
use winv_client::{
    AuthLevel, Cause, ClientError, Credentials, Deadlines, Rows, Stage, Value, WmiClient,
    WmiOptions,
};
use winv_sim::fleet::Fleet;
use winv_sim::server::SimServer;
use winv_testsuite::sim::serve_one_host;

const PW_ENV: &str = "WINV_CLIENT_SIM_PASSWORD";
const PASSWORD: &str = "Sim-Passw0rd!";

async fn serve(addr: &str, faults: &str) -> (SimServer, Fleet) {
    serve_one_host(addr, faults, PW_ENV, PASSWORD, 31)
        .await
        .unwrap()
}

fn opts(sim: &SimServer, level: AuthLevel) -> WmiOptions {
    WmiOptions {
        auth_level: level,
        epm_port: sim.epm_port,
        deadlines: Deadlines {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(5),
            call: Duration::from_secs(5),
        },
        enum_timeout: Duration::from_millis(500),
        ..WmiOptions::default()
    }
}

fn creds(password: &str) -> Credentials {
    Credentials::with_password("admin", "LAB", password)
}

async fn connect(addr: &str, _sim: &SimServer, o: WmiOptions) -> Result<WmiClient, ClientError> {
    WmiClient::connect(addr, creds(PASSWORD), o).await
}

fn names(rows: &[winv_wmio::Instance]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|r| {
            r.get("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    v.sort();
    v
}

async fn rows_match(addr: &str, level: AuthLevel, smart: bool) {
    let (sim, fleet) = serve(addr, "").await;
    let ip: IpAddr = addr.parse().unwrap();
    let data = fleet.host(ip).unwrap().data();
    let o = WmiOptions {
        smart_enum: smart,
        batch_size: 7,
        ..opts(&sim, level)
    };
    let mut c = connect(addr, &sim, o).await.unwrap();
    assert_eq!(c.binding_used().ip(), ip);
    assert_eq!(c.binding_used().port(), sim.dynamic_port);
    let rows = c.query("SELECT * FROM Win32_Service").await.unwrap();
    let want = data.instances(r"root\cimv2", "Win32_Service").unwrap();
    assert!(!want.is_empty());
    assert_eq!(rows.len(), want.len());
    assert_eq!(names(&rows), names(want));
    // Every property of the first row agrees with the generated instance.
    let first = want
        .iter()
        .find(|w| w.get("Name") == rows[0].get("Name"))
        .unwrap();
    for p in &first.class.properties {
        assert_eq!(rows[0].get(&p.name), first.get(&p.name), "{}", p.name);
    }
    let os = c
        .query("SELECT * FROM Win32_OperatingSystem")
        .await
        .unwrap();
    assert_eq!(os.len(), 1);
    let want_os = &data
        .instances(r"root\cimv2", "Win32_OperatingSystem")
        .unwrap()[0];
    assert_eq!(os[0].get("Caption"), want_os.get("Caption"));
    c.close().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_at_privacy_returns_the_simulated_rows() {
    rows_match("127.0.31.1", AuthLevel::PktPrivacy, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_at_integrity_returns_the_simulated_rows() {
    rows_match("127.0.31.2", AuthLevel::PktIntegrity, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_with_next_instead_of_the_smart_enumerator() {
    rows_match("127.0.31.3", AuthLevel::PktPrivacy, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_query_filters() {
    let addr = "127.0.31.4";
    let (sim, fleet) = serve(addr, "").await;
    let data = fleet.host(addr.parse().unwrap()).unwrap().data();
    let want: Vec<_> = data
        .instances(r"root\cimv2", "Win32_Service")
        .unwrap()
        .iter()
        .filter(|i| i.get("State").and_then(Value::as_str) == Some("Running"))
        .cloned()
        .collect();
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let rows = c
        .query("SELECT Name, State FROM Win32_Service WHERE State = 'Running'")
        .await
        .unwrap();
    assert!(!want.is_empty());
    assert_eq!(names(&rows), names(&want));
    for r in &rows {
        assert_eq!(r.get("State").and_then(Value::as_str), Some("Running"));
    }
    c.close().await.unwrap();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_returns_the_simulated_values() {
    use winv_sim::registry::RegValue;
    let addr = "127.0.31.5";
    let (sim, fleet) = serve(addr, "").await;
    let data = fleet.host(addr.parse().unwrap()).unwrap().data();
    let hklm = Hive::LocalMachine.code();
    let cv = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let mut reg = c.registry();
    let product = reg
        .get_string_value(Hive::LocalMachine, cv, "ProductName")
        .await
        .unwrap();
    assert_eq!(
        Some(&RegValue::Sz(product)),
        data.registry.value(hklm, cv, "ProductName")
    );
    let ubr = reg
        .get_dword_value(Hive::LocalMachine, cv, "UBR")
        .await
        .unwrap();
    assert_eq!(
        Some(&RegValue::Dword(ubr)),
        data.registry.value(hklm, cv, "UBR")
    );
    let values = reg.enum_values(Hive::LocalMachine, cv).await.unwrap();
    assert!(values.iter().any(|(n, _)| n == "ProductName"));
    let e = reg
        .get_string_value(Hive::LocalMachine, cv, "NoSuchValue-31")
        .await
        .unwrap_err();
    assert_eq!(e.stage(), Stage::Registry);
    assert_eq!(e.win32_code(), Some(1), "{e}");
    assert!(winv_client::registry::is_not_found(&e));
    assert!(e.to_string().contains("value not found"), "{e}");
    let e = reg
        .enum_key(Hive::LocalMachine, r"SOFTWARE\NoSuchKey31")
        .await
        .unwrap_err();
    assert_eq!(e.win32_code(), Some(2), "{e}");
    assert!(e.to_string().contains("ERROR_FILE_NOT_FOUND"), "{e}");
    let unin = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall";
    let mut keys = reg.enum_key(Hive::LocalMachine, unin).await.unwrap();
    keys.sort();
    let mut want_keys: Vec<String> = data
        .registry
        .key(hklm, unin)
        .unwrap()
        .subkeys
        .iter()
        .map(|k| k.name.clone())
        .collect();
    want_keys.sort();
    assert_eq!(keys, want_keys);
    let sw = reg.installed_software().await.unwrap();
    assert!(!sw.is_empty());
    for s in &sw {
        let base = if s.wow64 {
            r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall"
        } else {
            unin
        };
        let path = format!("{base}\\{}", s.key);
        assert_eq!(
            data.registry.value(hklm, &path, "DisplayName"),
            Some(&RegValue::Sz(s.name.clone()))
        );
    }
    c.close().await.unwrap();
    sim.stop().await;
}

/// Runs `f` against a host with `fault` and returns the client's error.
async fn fault_error(addr: &str, fault: &str, level: AuthLevel, wql: &str) -> ClientError {
    let (sim, _fleet) = serve(addr, fault).await;
    let o = WmiOptions {
        deadlines: Deadlines {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(2),
            call: Duration::from_secs(2),
        },
        ..opts(&sim, level)
    };
    let r = match connect(addr, &sim, o).await {
        Err(e) => Err(e),
        Ok(mut c) => {
            let r = c.query(wql).await.map(|_| ());
            let _ = c.close().await;
            r
        }
    };
    sim.stop().await;
    r.expect_err("the fault must surface as an error")
}

const BIOS: &str = "SELECT * FROM Win32_BIOS";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_authentication_failure() {
    let (sim, _f) = serve("127.0.31.10", "").await;
    let e = WmiClient::connect(
        "127.0.31.10",
        creds("not-the-password"),
        opts(&sim, AuthLevel::PktPrivacy),
    )
    .await
    .unwrap_err();
    sim.stop().await;
    assert!(e.is_auth_failure(), "{e}");
    assert_eq!(e.stage(), Stage::Bind135, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcom_access_denied_at_activation() {
    let e = fault_error(
        "127.0.31.11",
        "{ kind = \"dcom_access_denied\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Activation, "{e}");
    assert_eq!(e.hresult(), Some(0x8007_0005), "{e}");
    assert!(e.to_string().contains("E_ACCESSDENIED"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wmi_access_denied_at_login() {
    let e = fault_error(
        "127.0.31.12",
        "{ kind = \"wmi_access_denied\", namespace = \"root\\\\cimv2\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Login, "{e}");
    assert_eq!(e.hresult(), Some(0x8004_1003), "{e}");
    assert!(e.to_string().contains("WBEM_E_ACCESS_DENIED"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_namespace_at_login() {
    let e = fault_error(
        "127.0.31.13",
        "{ kind = \"invalid_namespace\", namespace = \"root\\\\cimv2\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Login, "{e}");
    assert_eq!(e.hresult(), Some(0x8004_100e), "{e}");
    assert!(e.to_string().contains("WBEM_E_INVALID_NAMESPACE"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_class_at_query() {
    let e = fault_error(
        "127.0.31.14",
        "{ kind = \"invalid_class\", class = \"Win32_QuickFixEngineering\" }",
        AuthLevel::PktPrivacy,
        "SELECT * FROM Win32_QuickFixEngineering",
    )
    .await;
    assert!(matches!(e.stage(), Stage::Query | Stage::Enumerate), "{e}");
    assert_eq!(e.hresult(), Some(0x8004_1010), "{e}");
    assert!(e.to_string().contains("WBEM_E_INVALID_CLASS"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_failure_at_query() {
    let e = fault_error(
        "127.0.31.15",
        "{ kind = \"provider_failure\", class = \"Win32_Service\" }",
        AuthLevel::PktPrivacy,
        "SELECT * FROM Win32_Service",
    )
    .await;
    assert!(matches!(e.stage(), Stage::Query | Stage::Enumerate), "{e}");
    assert_eq!(e.hresult(), Some(0x8004_1004), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_provider_is_a_query_timeout() {
    let started = std::time::Instant::now();
    let e = fault_error(
        "127.0.31.16",
        "{ kind = \"provider_hang\", class = \"Win32_PhysicalMemory\" }",
        AuthLevel::PktPrivacy,
        "SELECT * FROM Win32_PhysicalMemory",
    )
    .await;
    assert!(e.is_timeout(), "{e}");
    assert!(matches!(e.stage(), Stage::Query | Stage::Enumerate), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_call_failed_is_a_fault() {
    let e = fault_error(
        "127.0.31.17",
        "{ kind = \"rpc_call_failed\", call = \"ExecQuery:Win32_BIOS\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Query, "{e}");
    assert_eq!(e.rpc_status(), Some(1726), "{e}");
    assert!(e.to_string().contains("RPC_S_CALL_FAILED"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_dynamic_port_fails_at_the_dynamic_stage() {
    let e = fault_error(
        "127.0.31.18",
        "{ kind = \"dynamic_port_silent\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert!(
        matches!(e.stage(), Stage::ConnectDynamic | Stage::BindDynamic),
        "{e}"
    );
    assert!(e.is_timeout() || e.is_connection_failure(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_privacy_refuses_integrity_login() {
    let e = fault_error(
        "127.0.31.19",
        "{ kind = \"require_privacy\", namespace = \"root\\\\cimv2\" }",
        AuthLevel::PktIntegrity,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Login, "{e}");
    assert_eq!(e.hresult(), Some(0x8004_1087), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcom_disabled_is_a_bind_rejection() {
    let e = fault_error(
        "127.0.31.20",
        "{ kind = \"dcom_disabled\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Bind135, "{e}");
    assert!(matches!(e.cause(), Cause::BindRejected(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_namespace_reuses_the_activation() {
    let addr = "127.0.31.21";
    let (sim, _f) = serve(addr, "").await;
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    c.open_namespace(r"root\default").await.unwrap();
    let obj = c
        .get_object_in(r"root\default", "StdRegProv")
        .await
        .unwrap();
    assert_eq!(obj.class_name(), "StdRegProv");
    assert!(obj
        .class_def()
        .unwrap()
        .method_named("GetStringValue")
        .is_some());
    c.close().await.unwrap();
    sim.stop().await;
}

// ---- the rest of docs/fleet.md's faults --------------------------------------------

/// Connects (at `level`) and logs in to root\default, as the registry reads do.
async fn default_namespace_error(addr: &str, fault: &str) -> ClientError {
    let (sim, _fleet) = serve(addr, fault).await;
    let r = match connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy)).await {
        Err(e) => Err(e),
        Ok(mut c) => {
            let r = c.open_namespace("root\\default").await;
            let _ = c.close().await;
            r
        }
    };
    sim.stop().await;
    r.expect_err("the fault must surface as an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_an_authentication_failure() {
    let e = fault_error(
        "127.0.32.1",
        "{ kind = \"unknown_user\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert!(e.is_auth_failure(), "{e}");
    assert_eq!(e.stage(), Stage::Bind135, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_faults_of_root_cimv2_at_login() {
    for (i, (kind, code, name)) in [
        ("namespace_not_found", 0x8004_1002, "WBEM_E_NOT_FOUND"),
        ("invalid_parameter", 0x8004_1008, "WBEM_E_INVALID_PARAMETER"),
    ]
    .into_iter()
    .enumerate()
    {
        let addr = format!("127.0.32.{}", 10 + i);
        let fault = format!("{{ kind = \"{kind}\", namespace = \"root\\\\cimv2\" }}");
        let e = fault_error(&addr, &fault, AuthLevel::PktPrivacy, BIOS).await;
        assert_eq!(e.stage(), Stage::Login, "{kind}: {e}");
        assert_eq!(e.hresult(), Some(code), "{kind}: {e}");
        assert!(e.to_string().contains(name), "{kind}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_faults_of_root_default_spare_root_cimv2() {
    for (i, (kind, code)) in [
        ("invalid_namespace", 0x8004_100e),
        ("namespace_not_found", 0x8004_1002),
        ("invalid_parameter", 0x8004_1008),
    ]
    .into_iter()
    .enumerate()
    {
        let addr = format!("127.0.32.{}", 20 + i);
        let fault = format!("{{ kind = \"{kind}\", namespace = \"root\\\\default\" }}");
        // root\cimv2 still answers on the same host...
        let (sim, fleet) = serve(&addr, &fault).await;
        let mut c = connect(&addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
            .await
            .unwrap_or_else(|e| panic!("{kind}: root\\cimv2 login must work: {e}"));
        let rows = c.query("SELECT * FROM Win32_BIOS").await.unwrap();
        let want = fleet.hosts[0].data();
        assert_eq!(
            rows.len(),
            want.instances("root\\cimv2", "Win32_BIOS").unwrap().len()
        );
        let _ = c.close().await;
        sim.stop().await;
        // ...while root\default fails with the fault's code.
        let e = default_namespace_error(&format!("127.0.32.{}", 30 + i), &fault).await;
        assert_eq!(e.hresult(), Some(code), "{kind}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_load_failure_at_query() {
    let e = fault_error(
        "127.0.32.40",
        "{ kind = \"provider_load_failure\", class = \"Win32_DiskDrive\" }",
        AuthLevel::PktPrivacy,
        "SELECT * FROM Win32_DiskDrive",
    )
    .await;
    assert!(matches!(e.stage(), Stage::Query | Stage::Enumerate), "{e}");
    assert_eq!(e.hresult(), Some(0x8004_1013), "{e}");
    assert!(
        e.to_string().contains("WBEM_E_PROVIDER_LOAD_FAILURE"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_provider_answers_late_but_completely() {
    let addr = "127.0.32.41";
    let (sim, fleet) = serve(
        addr,
        "{ kind = \"provider_slow\", class = \"Win32_Processor\", delay_ms = 700 }",
    )
    .await;
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let rows = c.query("SELECT * FROM Win32_Processor").await.unwrap();
    let took = started.elapsed();
    let fast = c.query("SELECT * FROM Win32_BIOS").await.unwrap();
    let _ = c.close().await;
    sim.stop().await;
    let want = fleet.hosts[0].data();
    assert_eq!(
        rows.len(),
        want.instances("root\\cimv2", "Win32_Processor")
            .unwrap()
            .len()
    );
    assert!(!fast.is_empty());
    assert!(
        took >= Duration::from_millis(700),
        "the delay applies: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_cancelled_is_a_fault_at_login() {
    let e = fault_error(
        "127.0.32.42",
        "{ kind = \"call_cancelled\", call = \"NTLMLogin\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Login, "{e}");
    assert_eq!(e.rpc_status(), Some(1818), "{e}");
    assert!(e.to_string().contains("RPC_S_CALL_CANCELLED"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_host_refuses_activation() {
    let e = fault_error(
        "127.0.32.43",
        "{ kind = \"shutting_down\", after_ms = 0 }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Activation, "{e}");
    assert_eq!(e.hresult(), Some(0x8007_045b), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset_mid_enumeration() {
    let e = fault_error(
        "127.0.32.44",
        "{ kind = \"connection_reset\", call = \"Next\" }",
        AuthLevel::PktPrivacy,
        BIOS,
    )
    .await;
    assert!(matches!(e.stage(), Stage::Query | Stage::Enumerate), "{e}");
    assert!(e.hresult().is_none() && e.rpc_status().is_none(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_integrity_refuses_connect_level_activation() {
    let e = fault_error(
        "127.0.32.45",
        "{ kind = \"require_integrity\" }",
        AuthLevel::Connect,
        BIOS,
    )
    .await;
    assert_eq!(e.stage(), Stage::Activation, "{e}");
    assert_eq!(e.hresult(), Some(0x8007_0005), "{e}");
    // The same host at packet integrity is inventoried.
    let addr = "127.0.32.46";
    let (sim, _f) = serve(addr, "{ kind = \"require_integrity\" }").await;
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktIntegrity))
        .await
        .unwrap();
    assert!(!c.query(BIOS).await.unwrap().is_empty());
    let _ = c.close().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intermittent_fault_clears_after_its_attempts() {
    let addr = "127.0.32.47";
    let (sim, _f) = serve(
        addr,
        "{ kind = \"rpc_call_failed\", call = \"RemoteCreateInstance\", first_attempts = 2 }",
    )
    .await;
    for attempt in 1..=2 {
        let e = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
            .await
            .err()
            .unwrap_or_else(|| panic!("attempt {attempt} must fail"));
        assert_eq!(e.stage(), Stage::Activation, "{e}");
        assert_eq!(e.rpc_status(), Some(1726), "{e}");
    }
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .expect("attempt 3 succeeds");
    assert!(!c.query(BIOS).await.unwrap().is_empty());
    let _ = c.close().await;
    sim.stop().await;
}

/// Installed software read with `connections`, and how many connections the simulator
/// accepted meanwhile.
async fn software_over(
    addr: &str,
    sim: &SimServer,
    connections: usize,
) -> (Vec<winv_client::registry::Software>, usize) {
    let o = WmiOptions {
        connections,
        ..opts(sim, AuthLevel::PktPrivacy)
    };
    let accepts = sim.accepts();
    let before = accepts.times().len();
    let mut c = connect(addr, sim, o).await.unwrap();
    let sw = c.registry().installed_software().await.unwrap();
    c.close().await.unwrap();
    (sw, accepts.times().len() - before)
}

/// Installed software read over four connections in one association group (the registry
/// reads made at once, `winv_client::lanes`) is what one connection reads, in the same
/// order, and what the simulated registry holds; the simulator saw the three more
/// connections. A host whose `ExecMethod` calls all fail gives the same first error either
/// way. (127.0.31.40-41)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_software_over_several_connections_is_what_one_connection_reads() {
    use winv_sim::registry::RegValue;
    let addr = "127.0.31.40";
    let (sim, fleet) = serve(addr, "").await;
    let data = fleet.host(addr.parse().unwrap()).unwrap().data();
    let hklm = Hive::LocalMachine.code();
    let (one, conns_one) = software_over(addr, &sim, 1).await;
    let (four, conns_four) = software_over(addr, &sim, 4).await;
    assert_eq!(conns_one, 2, "port 135 and the dynamic endpoint");
    assert_eq!(conns_four, 2 + 3, "three lanes");
    assert_eq!(four, one);
    // Every subkey with a DisplayName, both views, with its values.
    let mut want = 0;
    for (base, wow64) in winv_client::registry::UNINSTALL_KEYS {
        for k in data
            .registry
            .key(hklm, base)
            .map_or(&[][..], |k| &k.subkeys[..])
        {
            let path = format!("{base}\\{}", k.name);
            let value = |n: &str| match data.registry.value(hklm, &path, n) {
                Some(RegValue::Sz(s)) => Some(s.clone()),
                _ => None,
            };
            let Some(name) = value("DisplayName").filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            want += 1;
            let got = four
                .iter()
                .find(|s| s.key == k.name && s.wow64 == wow64)
                .unwrap_or_else(|| panic!("{path} missing"));
            assert_eq!(got.name, name);
            assert_eq!(got.version, value("DisplayVersion"), "{path}");
            assert_eq!(got.publisher, value("Publisher"), "{path}");
            assert_eq!(got.install_date, value("InstallDate"), "{path}");
        }
    }
    assert!(want > 4, "the simulated host has programs");
    assert_eq!(four.len(), want);
    sim.stop().await;

    let addr = "127.0.31.41";
    let (sim, _) = serve(
        addr,
        r#"{ kind = "rpc_call_failed", call = "ExecMethod:StdRegProv" }"#,
    )
    .await;
    let mut errors = Vec::new();
    for connections in [1, 4] {
        let o = WmiOptions {
            connections,
            ..opts(&sim, AuthLevel::PktPrivacy)
        };
        let mut c = connect(addr, &sim, o).await.unwrap();
        let e = c.registry().installed_software().await.unwrap_err();
        errors.push((e.stage(), e.to_string()));
        c.close().await.unwrap();
    }
    assert_eq!(errors[0], errors[1]);
    assert!(
        errors[0].1.contains("1726") || errors[0].1.contains("RPC_S_CALL_FAILED"),
        "{errors:?}"
    );
    sim.stop().await;
}

/// The simulator's latency option (`winventory sim --latency-ms`, the benchmarks' WAN)
/// delays every answer: a connection and a one-row query, at least six answers (two
/// binds, the activation, the login, the query, its batch), take at least six latencies.
/// (127.0.31.42)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_latency_delays_every_answer() {
    let addr = "127.0.31.42";
    std::env::set_var(PW_ENV, PASSWORD);
    let text = winv_testsuite::sim::one_host_fleet(addr, "", PW_ENV, 31);
    let latency = Duration::from_millis(150);
    let sim = SimServer::start(
        Fleet::parse(&text).unwrap(),
        winv_sim::server::ListenOptions {
            epm_port: 0,
            dynamic_port: 0,
            limits: winv_sim::server::ConnLimits {
                latency,
                ..winv_sim::server::ConnLimits::default()
            },
            ..winv_sim::server::ListenOptions::default()
        },
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let rows = c
        .query("SELECT Caption FROM Win32_OperatingSystem")
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(rows.len(), 1);
    assert!(took >= latency * 6, "{took:?}");
    c.close().await.unwrap();
    sim.stop().await;
}

/// A simulated host on `upstream` behind the re-sealing proxy in pass-through on `listen`,
/// which counts the requests by interface and method, and options that reach it.
async fn counted(
    listen: &str,
    upstream: &str,
) -> (SimServer, winv_testsuite::reseal::ResealProxy, WmiOptions) {
    use winv_testsuite::reseal::{Behaviour, ResealProxy, Route};
    let (sim, _) = serve(upstream, "").await;
    let route = Route {
        listen: listen.parse().unwrap(),
        upstream: upstream.parse().unwrap(),
        behaviour: Behaviour::Passthrough,
    };
    let proxy = ResealProxy::start(&[route], sim.epm_port, sim.dynamic_port, PASSWORD)
        .await
        .unwrap();
    let o = WmiOptions {
        epm_port: proxy.epm_port,
        ..opts(&sim, AuthLevel::PktPrivacy)
    };
    (sim, proxy, o)
}

/// References of finished enumerators go back together: five queries and a close make one
/// `IRemUnknown2::RemRelease` ([MS-DCOM] 3.1.1.5.6.1.3), and the interfaces the queries
/// use are negotiated in one alter_context, counted on the wire by the
/// re-sealing proxy in pass-through (`winv_client::client::RELEASE_BATCH`). (127.0.31.43 in
/// front of 127.0.31.44)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_enumerators_are_released_in_one_call() {
    use winv_dcerpc::interfaces::{IREMUNKNOWN2, IWBEMSERVICES};
    let (listen, upstream) = ("127.0.31.43", "127.0.31.44");
    let (sim, proxy, o) = counted(listen, upstream).await;
    let mut c = WmiClient::connect(listen, creds(PASSWORD), o)
        .await
        .unwrap();
    for class in [
        "Win32_OperatingSystem",
        "Win32_BIOS",
        "Win32_Processor",
        "Win32_LogicalDisk",
        "Win32_Service",
    ] {
        let rows = c.query(&format!("SELECT * FROM {class}")).await.unwrap();
        assert!(!rows.is_empty(), "{class}");
    }
    c.close().await.unwrap();
    // IWbemServices::ExecQuery is opnum 20; IRemUnknown::RemRelease opnum 5.
    assert_eq!(proxy.counts.requests(&IWBEMSERVICES, 20), 5);
    assert_eq!(proxy.counts.requests(&IREMUNKNOWN2, 5), 1);
    // The four interfaces a query uses (IWbemServices, IRemUnknown2, IWbemFetchSmartEnum,
    // IWbemWCOSmartEnum) negotiated in one alter_context on the first query.
    let alters = proxy
        .counts
        .alter_contexts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(alters, 1);
    drop(proxy);
    sim.stop().await;
}

/// A query that expects few rows (`Rows::Few`) fetches its objects with
/// `IEnumWbemClassObject::Next` on the enumerator `ExecQuery` returned: two calls, neither
/// `RemQueryInterface` nor `GetSmartEnum`, counted on the wire by the re-sealing proxy in
/// pass-through; it reads what the smart enumerator reads, and its interface comes in the
/// connection's one alter_context. (127.0.31.47 in front of 127.0.31.48)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_of_few_rows_is_fetched_in_two_calls() {
    use winv_dcerpc::interfaces::{
        IENUMWBEMCLASSOBJECT, IREMUNKNOWN2, IWBEMFETCHSMARTENUM, IWBEMSERVICES, IWBEMWCOSMARTENUM,
    };
    let (listen, upstream) = ("127.0.31.47", "127.0.31.48");
    let (sim, proxy, o) = counted(listen, upstream).await;
    let memo = o.class_memo.clone();
    let mut c = WmiClient::connect(listen, creds(PASSWORD), o)
        .await
        .unwrap();
    async fn objects(c: &mut WmiClient, rows: Rows) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut keep = |o: winv_wmio::Object| {
            out.push(winv_wmio::to_json(&o));
            1
        };
        let wql = "SELECT * FROM Win32_OperatingSystem";
        c.query_each_in(r"root\cimv2", wql, rows, &mut keep)
            .await
            .unwrap();
        out
    }
    let few = objects(&mut c, Rows::Few).await;
    let counts = &proxy.counts;
    // IWbemServices::ExecQuery is opnum 20, IEnumWbemClassObject::Next opnum 4,
    // IRemUnknown2::RemQueryInterface, IWbemFetchSmartEnum::GetSmartEnum and
    // IWbemWCOSmartEnum::Next opnum 3.
    assert_eq!(counts.requests(&IWBEMSERVICES, 20), 1);
    assert_eq!(counts.requests(&IENUMWBEMCLASSOBJECT, 4), 1);
    assert_eq!(counts.requests(&IREMUNKNOWN2, 3), 0);
    assert_eq!(counts.requests(&IWBEMFETCHSMARTENUM, 3), 0);
    let many = objects(&mut c, Rows::Many).await;
    assert_eq!(few.len(), 1);
    assert_eq!(
        few, many,
        "the plain Next reads what the smart enumerator reads"
    );
    assert_eq!(counts.requests(&IWBEMSERVICES, 20), 2);
    assert_eq!(counts.requests(&IENUMWBEMCLASSOBJECT, 4), 1);
    assert_eq!(counts.requests(&IREMUNKNOWN2, 3), 1);
    assert_eq!(counts.requests(&IWBEMWCOSMARTENUM, 3), 1);
    // The class a plain Next sent, kept by the memo, is found again by a second query.
    let hits = memo.hits();
    assert_eq!(objects(&mut c, Rows::Few).await, few);
    assert!(
        memo.hits() > hits,
        "the second plain Next found its class in the memo"
    );
    c.close().await.unwrap();
    let alters = counts
        .alter_contexts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        alters, 1,
        "IEnumWbemClassObject came with the query's other interfaces"
    );
    drop(proxy);
    sim.stop().await;
}

/// The classes the query batches below run, one of them absent (`invalid_class`).
const BATCH: [&str; 8] = [
    "Win32_ComputerSystem",
    "Win32_OperatingSystem",
    "Win32_BIOS",
    "Win32_Processor",
    "Win32_LogicalDisk",
    "Win32_Service",
    "Win32_QuickFixEngineering",
    "Win32_NetworkAdapterConfiguration",
];

/// How a query of a batch ended: its HRESULT and message when it failed.
type QueryEnd = Result<(), (Option<u32>, String)>;

/// Each query's objects (as JSON) and result, from `query_each_many_in` over the
/// session's connections, and the octets the keeps counted.
async fn batch_over(c: &mut WmiClient) -> (Vec<(Vec<serde_json::Value>, QueryEnd)>, usize) {
    let wqls: Vec<String> = BATCH.iter().map(|c| format!("SELECT * FROM {c}")).collect();
    // Every other query expects few rows: plain `Next` and the smart enumerator side by side.
    let wqls: Vec<(&str, Rows)> = wqls
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), if i % 2 == 1 { Rows::Few } else { Rows::Many }))
        .collect();
    let rows: Vec<std::sync::Mutex<Vec<serde_json::Value>>> = BATCH
        .iter()
        .map(|_| std::sync::Mutex::new(Vec::new()))
        .collect();
    let ends: std::sync::Mutex<Vec<Option<QueryEnd>>> =
        std::sync::Mutex::new(vec![None; BATCH.len()]);
    let octets = std::sync::atomic::AtomicUsize::new(0);
    let mut keeps: Vec<_> = rows
        .iter()
        .map(|r| {
            let octets = &octets;
            move |o: winv_wmio::Object| {
                let v = winv_wmio::to_json(&o);
                let n = v.to_string().len();
                octets.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                r.lock().unwrap().push(v);
                n
            }
        })
        .collect();
    let finished = |i: usize, r: Result<(), ClientError>| {
        ends.lock().unwrap()[i] = Some(r.map_err(|e| (e.hresult(), e.to_string())));
    };
    c.query_each_many_in(r"root\cimv2", &wqls, &mut keeps, &finished)
        .await;
    drop(keeps);
    let out = rows
        .into_iter()
        .zip(ends.into_inner().unwrap())
        .map(|(r, e)| (r.into_inner().unwrap(), e.expect("every query ends")))
        .collect();
    (out, octets.into_inner())
}

/// Class queries made at once over four connections in one association group
/// (`query_each_many_in`, `winv_client::lanes`) return, query by query, what the same
/// queries return one after another on one connection, with the same error for the
/// class the host lacks; a connection reset in the middle of one query fails that query
/// alone, the others going on over the other connections; and the octet budget counts
/// the queries together. (127.0.31.45-46)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_queries_over_several_connections_are_what_one_connection_reads() {
    let addr = "127.0.31.45";
    let (sim, _) = serve(
        addr,
        r#"{ kind = "invalid_class", class = "Win32_Service" }"#,
    )
    .await;
    let one_by_one = {
        let o = WmiOptions {
            connections: 1,
            ..opts(&sim, AuthLevel::PktPrivacy)
        };
        let mut c = connect(addr, &sim, o).await.unwrap();
        let mut out = Vec::new();
        for class in BATCH {
            let r = c
                .query_objects_in(r"root\cimv2", &format!("SELECT * FROM {class}"))
                .await;
            out.push(match r {
                Ok(objs) => (
                    objs.iter().map(winv_wmio::to_json).collect::<Vec<_>>(),
                    Ok(()),
                ),
                Err(e) => (Vec::new(), Err((e.hresult(), e.to_string()))),
            });
        }
        c.close().await.unwrap();
        out
    };
    let accepts = sim.accepts();
    let before = accepts.times().len();
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let (at_once, total) = batch_over(&mut c).await;
    // The session goes on: a query afterwards, then the references released.
    assert!(!c.query(BIOS).await.unwrap().is_empty());
    c.close().await.unwrap();
    assert_eq!(accepts.times().len() - before, 2 + 3, "three lanes");
    assert_eq!(at_once, one_by_one);
    assert_eq!(
        at_once[5].1.as_ref().unwrap_err().0,
        Some(0x8004_1010),
        "{:?}",
        at_once[5].1
    );
    assert!(at_once
        .iter()
        .filter(|q| q.1.is_ok())
        .all(|q| !q.0.is_empty()));

    // The budget: the queries' octets together, as one after another (checked between
    // an enumeration's batches: one object per `Next`).
    let o = WmiOptions {
        max_result_bytes: total / 2,
        batch_size: 1,
        ..opts(&sim, AuthLevel::PktPrivacy)
    };
    let mut c = connect(addr, &sim, o).await.unwrap();
    let (capped, _) = batch_over(&mut c).await;
    let _ = c.close().await;
    let limit = Some(winv_kb::WINV_E_LIMIT_EXCEEDED);
    assert!(
        capped
            .iter()
            .any(|q| q.1.as_ref().is_err_and(|e| e.0 == limit)),
        "{capped:?}"
    );
    assert!(capped.iter().any(|q| q.1.is_ok()), "the first ones fit");
    sim.stop().await;

    let addr = "127.0.31.46";
    let (sim, _) = serve(
        addr,
        r#"{ kind = "connection_reset", call = "ExecQuery:Win32_Processor" }"#,
    )
    .await;
    let mut c = connect(addr, &sim, opts(&sim, AuthLevel::PktPrivacy))
        .await
        .unwrap();
    let (reset, _) = batch_over(&mut c).await;
    let _ = c.close().await;
    for (class, (rows, r)) in BATCH.iter().zip(&reset) {
        if *class == "Win32_Processor" {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.0, None, "a transport failure, not an answer: {e:?}");
        } else {
            assert!(r.is_ok() && !rows.is_empty(), "{class}: {r:?}");
        }
    }
    sim.stop().await;
}
