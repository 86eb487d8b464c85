//! Desktop app benchmark (not a test): the release `tincan` app under Xvfb in a two-way 720p30
//! call with a release tincan-cli peer (both send the test pattern), the remote tile shown at
//! the window's size. Measures, over TINCAN_BENCH_SECONDS (20) once video flows:
//!
//! - the app's resident memory (largest sample, once a second);
//! - CPU of the app process and of WebKit's web and network processes, in cores;
//! - frames the page actually drew per second, and pictures the app skipped because the
//!   page was not ready for them.
//!
//! Run with `scripts/bench-app`. TINCAN_BENCH_APP_ENV="NAME=VALUE ..." gives the app more
//! environment variables (for trying WebKit's settings, such as
//! WEBKIT_DISABLE_COMPOSITING_MODE=1).

use std::time::{Duration, Instant};

use serde_json::json;
use tincan_e2e::desktop::page::{server_address, start_a_call_with_the_pattern, wait_for_home};
use tincan_e2e::process::{cpu_ticks, pids, rss_mib, status_mib};
use tincan_e2e::{start_app, CliPeer, Desktop, Place};

/// Resident memory by what is mapped (a library's path, or `[anon]`, `[heap]`, `[stack]`),
/// largest first: where the app's memory goes.
fn rss_by_mapping(pid: u32) -> Vec<(String, f64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_name: std::collections::HashMap<String, f64> = Default::default();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range perms offset dev inode [path].
            let path = fields.nth(4).unwrap_or("[anon]");
            name = path.rsplit('/').next().unwrap_or(path).to_owned();
        } else if first == "Rss:" {
            let kb: f64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *by_name.entry(name.clone()).or_default() += kb / 1024.0;
        }
    }
    let mut list: Vec<(String, f64)> = by_name.into_iter().collect();
    list.sort_by(|a, b| b.1.total_cmp(&a.1));
    list
}

#[tokio::main]
async fn main() {
    let seconds: f64 = std::env::var("TINCAN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let dir = std::env::temp_dir().join(format!("tincan-bench-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let desktop = Desktop::start().await;
    let extra: Vec<(String, String)> = std::env::var("TINCAN_BENCH_APP_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let app = start_app(&desktop, &dir.join("config"), &extra).await;
    wait_for_home(&app).await;
    let joined = start_a_call_with_the_pattern(&app).await;
    let room = joined["room"].as_str().unwrap_or_default().to_owned();
    let server = server_address(&app).await;
    let ada = CliPeer::start_with_server(
        Some(&server),
        &Place {
            bind: Some("0.0.0.0:0"),
            netns: None,
            env: &[],
        },
        &dir,
        "Ada",
        Some(&room),
        &[
            "--size",
            "1280x720",
            "--bitrate",
            "1500",
            "--duration",
            &(seconds + 15.0).to_string(),
        ],
    )
    .await;
    // The other person's computer, here on the same two cores: at the lowest priority, so
    // the figures are the app's and not a fight over the CPU with the far end.
    let _ = std::process::Command::new("sh")
        .args([
            "-c",
            "renice -n 19 -p $(pgrep -f 'tincan-cli call') >/dev/null",
        ])
        .status();
    let drawn = format!(
        "const t = window.tincan.tiles[{:?}]; return t && t.drawn > 60 && t",
        ada.id
    );
    app.wait_for("Ada's video drawn", &drawn, Duration::from_secs(30))
        .await;

    let app_pid = pids(|_, cmd, _| {
        cmd.split('\0')
            .next()
            .is_some_and(|p| p.ends_with("/release/tincan"))
    })
    .first()
    .copied()
    .expect("the release app runs (scripts/bench-app builds it)");
    let parent = app_pid.to_string();
    let web_pids = pids(|_, cmd, ppid| ppid == parent && cmd.contains("WebKitWebProcess"));
    // WebSockets (the frame socket among them) go through WebKit's network process.
    let net_pids = pids(|_, cmd, ppid| ppid == parent && cmd.contains("WebKitNetworkProcess"));
    let ticks = |pids: &[u32]| pids.iter().map(|&p| cpu_ticks(p)).sum::<u64>();
    let read_tile = format!(
        "const t = window.tincan.tiles[{:?}]; return [t.drawn, t.width, t.height]",
        ada.id
    );
    let start_tile = app.execute(&read_tile, json!([])).await;
    let start_counts = app
        .execute(
            "return await window.__TAURI__.core.invoke('tile_counts')",
            json!([]),
        )
        .await;
    let (app0, web0, net0, t0) = (
        ticks(&[app_pid]),
        ticks(&web_pids),
        ticks(&net_pids),
        Instant::now(),
    );
    let mut rss_max = 0.0f64;
    let mut at_max = (0.0, 0.0, Vec::new());
    while t0.elapsed().as_secs_f64() < seconds {
        let rss = rss_mib(app_pid);
        if rss > rss_max {
            rss_max = rss;
            at_max = (
                status_mib(app_pid, "RssAnon"),
                status_mib(app_pid, "RssFile") + status_mib(app_pid, "RssShmem"),
                rss_by_mapping(app_pid),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (app1, web1, net1) = (ticks(&[app_pid]), ticks(&web_pids), ticks(&net_pids));
    let end_tile = app.execute(&read_tile, json!([])).await;
    let end_counts = app
        .execute(
            "return await window.__TAURI__.core.invoke('tile_counts')",
            json!([]),
        )
        .await;
    let web_rss: f64 = web_pids.iter().map(|&p| rss_mib(p)).sum();
    app.execute(
        "document.getElementById('leave').click(); return true",
        json!([]),
    )
    .await;
    let ada_id = ada.id.clone();
    let _ = ada.finish().await;
    app.quit().await;
    drop(desktop);

    // Linux reports CPU time in 100ths of a second.
    let cores = |a: u64, b: u64| (b - a) as f64 / 100.0 / elapsed;
    let fps =
        (end_tile[0].as_f64().unwrap_or(0.0) - start_tile[0].as_f64().unwrap_or(0.0)) / elapsed;
    let count = |v: &serde_json::Value, k: &str| v[&ada_id][k].as_f64().unwrap_or(0.0);
    let skipped = count(&end_counts, "skipped") - count(&start_counts, "skipped");
    let sent = count(&end_counts, "sent") - count(&start_counts, "sent");
    println!("| figure | value |");
    println!("|---|---|");
    println!("| remote picture drawn | {}x{} |", end_tile[1], end_tile[2]);
    println!("| frames drawn per second | {fps:.1} |");
    println!("| pictures sent to the page / skipped (page not ready) | {sent} / {skipped} |");
    println!("| app RSS, largest sample | {rss_max:.0} MiB |");
    println!("| WebKit web process RSS at the end | {web_rss:.0} MiB |");
    println!("| app CPU | {:.2} cores |", cores(app0, app1));
    println!(
        "| WebKit web process CPU | {:.2} cores |",
        cores(web0, web1)
    );
    println!(
        "| WebKit network process CPU | {:.2} cores |",
        cores(net0, net1)
    );
    println!("| seconds measured | {elapsed:.1} |");
    // One line per run for scripts/bench-app, which runs it several times and takes medians.
    println!(
        "run: fps={fps:.2} skipped={skipped} app_cores={:.3} web_cores={:.3} rss_mib={rss_max:.0}",
        cores(app0, app1),
        cores(web0, web1)
    );
    let (anon, file, mappings) = at_max;
    println!("\nAt the largest RSS sample: {anon:.0} MiB anonymous, {file:.0} MiB of files and shared memory.");
    println!("| mapping | RSS |");
    println!("|---|---|");
    for (name, mib) in mappings.iter().take(15) {
        println!("| {name} | {mib:.1} MiB |");
    }
    std::fs::remove_dir_all(&dir).ok();
}
