//! `tracker-audit-verify EXPORT --public-key KEY`: checks an audit export
//! (`GET /api/v1/company/audit/export` or `/owner/audit/export`) with
//! nothing but the deployment's public key. It needs no server and no
//! database.
//!
//! Exit status 0: every event links to the one before, every checkpoint's
//! signature holds and chains to the previous checkpoint, the events run
//! without a gap to the end the server signed. Exit status 1: the first
//! line that fails is named, with why. Exit status 2: the export or the key
//! cannot be read.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracker_core::audit::export::{ExportReport, verify_export};
use tracker_core::audit::{AuditChain, PublicKey};

/// Verifies a tracker audit export offline.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The export (newline-delimited JSON); `-` reads standard input.
    export: PathBuf,
    /// The deployment's public key: 64 hex digits, or a file holding them
    /// or a PEM public key (`GET /api/v1/audit/public-key` serves both).
    #[arg(long)]
    public_key: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let key = match read_key(&args.public_key) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("tracker-audit-verify: the public key: {e}");
            return ExitCode::from(2);
        }
    };
    let input: Box<dyn BufRead> = if args.export.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        match File::open(&args.export) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("tracker-audit-verify: {}: {e}", args.export.display());
                return ExitCode::from(2);
            }
        }
    };
    match verify_export(input, &key) {
        Ok(report) => {
            print!("{}", summary(&report, &key));
            ExitCode::SUCCESS
        }
        Err(failure) => {
            println!("FAILED  {failure}");
            ExitCode::from(1)
        }
    }
}

/// The key as given, or read from the file it names.
fn read_key(given: &str) -> Result<PublicKey, String> {
    if let Ok(key) = PublicKey::parse(given) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(given)
        .map_err(|e| format!("{given:?} is neither a key nor a readable file ({e})"))?;
    PublicKey::parse(&text).map_err(|e| format!("{given}: {e}"))
}

fn summary(r: &ExportReport, given: &PublicKey) -> String {
    let chain = match r.chain {
        AuditChain::Platform => "the platform's chain".to_owned(),
        AuditChain::Company(c) => format!("the chain of company {c}"),
    };
    let events = match r.seqs {
        Some((first, last)) => format!("events {first} to {last} ({} events)", r.events),
        None => "no events in the range".to_owned(),
    };
    let signed = match (r.signed_through, r.seqs) {
        (Some(s), Some((_, last))) if s == last => {
            format!("the last checkpoint signs event {s}, the export's last")
        }
        (Some(s), Some((_, last))) => format!(
            "checkpoints sign up to event {s}; events {} to {last} are vouched for by the export's signed end only",
            s + 1
        ),
        _ => "no checkpoint signs an exported event yet; the export's signed end vouches for them"
            .to_owned(),
    };
    let given = given.to_string();
    let keys: Vec<String> = r
        .keys
        .iter()
        .map(|k| {
            if *k == given {
                format!("{k} (the given key)")
            } else {
                k.clone()
            }
        })
        .collect();
    let checkpoints = match r.checkpoints {
        0 => "no checkpoint yet".to_owned(),
        1 => "its checkpoint's signature holds".to_owned(),
        n => format!("all {n} checkpoints' signatures hold and chain"),
    };
    format!(
        "OK  {chain}: {events}\n    every link holds; {checkpoints}\n    {signed}\n    signing keys, oldest first: {}\n    exported at {}\n",
        keys.join(" -> "),
        r.exported_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}
