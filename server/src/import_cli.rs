//! `tus import FILE`: the same import as the dashboard's and the REST API's, run from the
//! command line against the database: a progress bar while the file is read and while its
//! rows are handled, a summary, and the per-row report written beside the file.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tus_core::batches::ChunkStep;
use tus_core::imports::{ImportRequest, REPORT_HEADER};
use tus_core::principal::Principal;
use tus_core::Core;
use tus_wire::model::OnExisting;
use tus_wire::views::Role;

pub struct Options {
    pub file: PathBuf,
    pub instance: Option<String>,
    pub dry_run: bool,
    pub on_existing: OnExisting,
    pub report: Option<PathBuf>,
}

/// Counts the bytes read (for the upload's progress).
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One line of progress: redrawn in place on a terminal, else printed every tenth.
struct Progress {
    tty: bool,
    last_tenth: i64,
}

impl Progress {
    fn show(&mut self, what: &str, done: u64, total: u64, unit: &str, started: Instant) {
        let percent = (done * 100).checked_div(total).unwrap_or(100).min(100) as usize;
        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
        if self.tty {
            let bar = format!(
                "{}{}",
                "#".repeat(percent / 4),
                " ".repeat(25 - percent / 4)
            );
            eprint!(
                "\r{what:<8} [{bar}] {percent:>3}% {done}/{total} {unit} · {rate:.0} {unit}/s  "
            );
            let _ = std::io::stderr().flush();
        } else if (percent as i64) / 10 > self.last_tenth {
            self.last_tenth = percent as i64 / 10;
            eprintln!("{what} {percent}% ({done}/{total} {unit}, {rate:.0} {unit}/s)");
        }
    }

    fn end(&mut self) {
        if self.tty {
            eprintln!();
        }
        self.last_tenth = -1;
    }
}

/// Runs an import to its end and prints its summary; the report goes to `--report` or
/// `FILE.report.csv`. An error (a bad file, an unknown instance) is returned to print.
pub async fn run(core: &Core, o: Options) -> Result<(), String> {
    let file = std::fs::File::open(&o.file)
        .map_err(|e| format!("cannot open {}: {e}", o.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let name = o
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let request = ImportRequest {
        instance: o.instance.clone(),
        dry_run: o.dry_run,
        on_existing: o.on_existing,
        file_name: name,
    };
    // The operator at the database acts as an Owner of everything; audited as admin:cli.
    let p = Principal::unscoped_admin("cli", "cli", Role::Owner);
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: file,
        read: read.clone(),
    };
    let mut progress = Progress {
        tty: std::io::stderr().is_terminal(),
        last_tenth: -1,
    };
    let started = Instant::now();
    let meta = tus_core::RequestMeta::default();
    let staging = core.start_import(Core::now(), &p, request, counted, &meta);
    tokio::pin!(staging);
    let view = loop {
        tokio::select! {
            result = &mut staging => break result.map_err(said)?,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                progress.show("reading", read.load(Ordering::Relaxed) >> 10, size >> 10, "KiB", started);
            }
        }
    };
    progress.show("reading", size >> 10, size >> 10, "KiB", started);
    progress.end();
    for note in &view.notes {
        eprintln!("note: {note}");
    }
    let started = Instant::now();
    let rows = view.rows.max(0) as u64;
    loop {
        match core.run_batch_chunk(Core::now(), &view.id).await {
            Ok(ChunkStep::Wrote { done, finished }) => {
                progress.show("rows", done as u64, rows, "rows", started);
                if finished {
                    break;
                }
            }
            Ok(ChunkStep::Idle) => break,
            Err(e) => {
                progress.end();
                return Err(format!(
                    "the import stopped: {} (resume it on the dashboard's Import page)",
                    said(e)
                ));
            }
        }
    }
    progress.end();
    let v = core
        .import_view(Core::now(), &p, &view.id)
        .await
        .map_err(said)?;
    let report_path = o.report.unwrap_or_else(|| {
        let mut p = o.file.clone().into_os_string();
        p.push(".report.csv");
        p.into()
    });
    write_report(core, &p, &v.id, &report_path).await?;
    let would = if v.dry_run { "would be " } else { "" };
    println!(
        "{}{} rows into {}: {} {would}created, {} {would}updated, {} {would}skipped, {} errors ({:.1} s)",
        if v.dry_run { "dry run: " } else { "" },
        v.rows,
        v.instance_name,
        v.created,
        v.updated,
        v.skipped,
        v.failed,
        started.elapsed().as_secs_f64()
    );
    println!("report: {}", report_path.display());
    if v.dry_run {
        println!("nothing was written; run it again without --dry-run to import");
    }
    Ok(())
}

async fn write_report(
    core: &Core,
    p: &Principal,
    id: &str,
    path: &std::path::Path,
) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    out.write_all(REPORT_HEADER.as_bytes()).map_err(failed)?;
    let mut download = core.take_import_report(p, id).await.map_err(said)?;
    while let Some(text) = core.next_report_chunk(&mut download).await.map_err(said)? {
        out.write_all(text.as_bytes()).map_err(failed)?;
    }
    out.flush().map_err(failed)
}

/// A core error as the command line says it: each field error on its own.
pub fn said(e: tus_core::CoreError) -> String {
    match e {
        tus_core::CoreError::Validation(f) => {
            f.0.iter()
                .map(|f| format!("{}: {}", f.key, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        }
        tus_core::CoreError::Conflict { key, message } => format!("{key}: {message}"),
        other => other.to_string(),
    }
}
