//! How cost grows with load, on SQLite (the embedded default), each figure measured in a
//! fresh child process so its memory is the engine's alone:
//!
//! - the cost curve: N conversations (10 to 10,000) each send one request at the same
//!   moment; resident memory (peak) and the p50/p99 time from a request to its final report;
//!   written as a table and as `target/cost_curve.csv` for `benches/plot_cost_curve.py`;
//! - 100,000 plans parked waiting for approval: resident memory of an engine restarted on
//!   them, and the time to resume them all (every approval granted after the restart, until
//!   every released step has run).
//!
//! Run with: `cargo bench --bench scale`. Without `--bench` (as `cargo test --all-targets`
//! runs it) it does a short smoke run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{engine, quantile, resident_mib, sqlite, wait_until};
use openmog::domain::{
    Approval, ApprovalId, ApprovalState, DecisionScope, PlanId, PlanState, Verdict,
};
use openmog::store::{Effects, SaveOutcome};

/// Child: N conversations at once; prints `N peak_mib p50_ms p99_ms seconds`.
async fn cost(n: usize, dir: &Path) {
    let (engine, handle, _) = engine(sqlite(&dir.join("cost.db")).await).await;
    let running = engine.start();
    let start = Instant::now();
    let said = tokio::time::Instant::now();
    for i in 0..n {
        handle.say(&format!("c{i}"), "u-ann", &format!("go {i}"));
    }
    wait_until(&handle, n, "succeeded (1/1", Duration::from_millis(50)).await;
    let seconds = start.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = handle
        .delivered()
        .iter()
        .filter(|d| d.message.body.plain_text().contains("succeeded (1/1"))
        .map(|d| d.at.duration_since(said).as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let (_, peak) = resident_mib().unwrap_or((f64::NAN, f64::NAN));
    running.shutdown(Duration::from_secs(5)).await;
    println!(
        "{n} {peak:.1} {:.1} {:.1} {seconds:.2}",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99)
    );
}

/// Child: one plan parked by the engine, then copied to `n` plans (new ids, conversations
/// and nonces) straight into the store; prints `seconds id_collisions`.
async fn populate(n: usize, db: &Path) {
    let store = sqlite(db).await;
    let (engine, handle, _) = engine(Arc::clone(&store)).await;
    let running = engine.start();
    handle.say("p0", "u-ann", "park 0");
    let template = loop {
        let open = store.plans_with_open_approvals().await.unwrap();
        if let Some(id) = open.first()
            && let Some(plan) = store.plan(id).await.unwrap()
            && plan.state == PlanState::Parked
        {
            break plan;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    running.shutdown(Duration::from_secs(5)).await;
    let start = Instant::now();
    // Ids are six characters, so among 100,000 plans a few collide; the store refuses a
    // duplicate and, as the engine does when it retries an event, new ids are drawn.
    let mut collisions = 0;
    for i in 1..n {
        loop {
            let plan = copy(&template, i);
            match store
                .save_plan(&plan, None, &Effects::none(), plan.updated_at)
                .await
            {
                Ok(SaveOutcome::Saved) => break,
                Ok(SaveOutcome::Conflict) => panic!("copy {i} conflicts with its own request"),
                Err(err) if err.to_string().contains("UNIQUE") => collisions += 1,
                Err(err) => panic!("{err}"),
            }
        }
    }
    println!("{:.2} {collisions}", start.elapsed().as_secs_f64());
}

/// `template` as the `i`th plan: new plan and approval ids, conversation and nonce.
fn copy(template: &openmog::domain::PlanRecord, i: usize) -> openmog::domain::PlanRecord {
    let mut plan = template.clone();
    plan.id = PlanId::new();
    plan.revision = 0;
    plan.request_id = format!("{}-copy-{i}", template.request_id);
    plan.conversation.id = format!("p{i}");
    plan.title = format!("park {i}");
    let mut renamed = std::collections::BTreeMap::new();
    for a in &mut plan.approvals {
        let id = ApprovalId::new();
        renamed.insert(a.id.clone(), id.clone());
        a.id = id;
        a.plan = plan.id.clone();
        a.prompted_in = vec![plan.conversation.clone()];
        a.nonce = Approval::new_nonce();
    }
    for step in &mut plan.steps {
        step.approval = step.approval.as_ref().map(|old| renamed[old].clone());
        step.draft.args["label"] = format!("park {i}").into();
    }
    plan
}

/// Child: restarts an engine on the parked plans; prints `idle_mib ready_ms resume_s
/// peak_mib`: memory once idle, then the time from granting every approval to the last
/// released step having run.
async fn resume(n: usize, db: &Path) {
    let started_at = Instant::now();
    let store = sqlite(db).await;
    let (engine, handle, started) = engine(Arc::clone(&store)).await;
    let running = engine.start();
    let ready_ms = started_at.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = resident_mib().unwrap_or((f64::NAN, f64::NAN));
    let mut approvals = Vec::with_capacity(n);
    for id in store.plans_with_open_approvals().await.unwrap() {
        let plan = store.plan(&id).await.unwrap().unwrap();
        for a in plan
            .approvals
            .iter()
            .filter(|a| a.state == ApprovalState::Parked)
        {
            approvals.push((plan.conversation.id.clone(), a.id.clone()));
        }
    }
    assert_eq!(approvals.len(), n, "every plan is parked");
    let start = Instant::now();
    for (conversation, approval) in &approvals {
        handle.press(
            conversation,
            "u-ann",
            approval,
            Verdict::Approve,
            DecisionScope::Step,
        );
    }
    while started.lock().unwrap().len() < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resume_s = start.elapsed().as_secs_f64();
    let (_, peak) = resident_mib().unwrap_or((f64::NAN, f64::NAN));
    running.shutdown(Duration::from_secs(10)).await;
    println!("{idle:.1} {ready_ms:.0} {resume_s:.1} {peak:.1}");
}

/// Runs this benchmark binary as a child with `args`; returns its one output line's fields.
fn child(args: &[&str]) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    line.split_whitespace().map(str::to_owned).collect()
}

fn parent(full: bool) {
    let dir = tempfile::tempdir().unwrap();
    let levels: &[usize] = if full {
        &[10, 100, 1_000, 10_000]
    } else {
        &[10, 50]
    };
    let mut csv = String::from("conversations,peak_rss_mib,p50_ms,p99_ms,seconds\n");
    println!(
        "| concurrent conversations | peak resident memory | p50 request → final report | p99 | all answered in |"
    );
    println!("|---|---|---|---|---|");
    for n in levels {
        let level_dir = dir.path().join(format!("cost-{n}"));
        std::fs::create_dir_all(&level_dir).unwrap();
        let f = child(&["cost", &n.to_string(), level_dir.to_str().unwrap()]);
        println!(
            "| {} | {} MiB | {} ms | {} ms | {} s |",
            f[0], f[1], f[2], f[3], f[4]
        );
        csv.push_str(&f.join(","));
        csv.push('\n');
    }
    let csv_path = target_dir().join("cost_curve.csv");
    std::fs::write(&csv_path, csv).unwrap();
    println!("\n(written to {})\n", csv_path.display());

    let parked = if full { 100_000 } else { 200 };
    let db = dir.path().join("parked.db");
    let db = db.to_str().unwrap();
    let populated = child(&["populate", &parked.to_string(), db]);
    let f = child(&["resume", &parked.to_string(), db]);
    println!(
        "| parked plans | copied into the store in | id collisions redrawn | resident memory after restart (idle) | engine started in | all resumed in | peak resident memory |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {parked} | {} s | {} | {} MiB | {} ms | {} s | {} MiB |",
        populated[0], populated[1], f[0], f[1], f[2], f[3]
    );
}

/// `target/` of this workspace (the benchmark binary runs from `target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == "--child") else {
        parent(args.iter().any(|a| a == "--bench"));
        return;
    };
    let (what, n, path) = (&args[at + 1], args[at + 2].parse().unwrap(), &args[at + 3]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        match what.as_str() {
            "cost" => cost(n, Path::new(path)).await,
            "populate" => populate(n, Path::new(path)).await,
            "resume" => resume(n, Path::new(path)).await,
            other => panic!("unknown child {other}"),
        }
    });
}
