//! `lookout tsdb stats`: series, samples and bytes per block, from a data directory (when
//! no server holds it) or from a running server.

use std::path::PathBuf;

use anyhow::Context;
use lookout_store::{Store, StoreOptions, TenantId, TsdbStats};

#[derive(clap::Subcommand)]
pub enum TsdbCmd {
    /// Print store statistics.
    Stats {
        /// Data directory to read (the server must not be running on it).
        #[arg(long, default_value = "./data")]
        data: PathBuf,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: TsdbCmd) -> anyhow::Result<()> {
    match cmd {
        TsdbCmd::Stats { data, tenant, json } => {
            let tenant = TenantId::new(&tenant)?;
            // Opening a store creates it: a mistyped path must be an error, not an empty store.
            if !data.join("tenants").is_dir() {
                anyhow::bail!(
                    "{} is not a Lookout data directory (it has no tenants/ directory); pass the server's --data",
                    data.display()
                );
            }
            let store = Store::open(&data, StoreOptions::default()).with_context(|| {
                format!(
                    "cannot open {}; for a running server use GET /api/v1/status/tsdb",
                    data.display()
                )
            })?;
            let stats = store.stats(&tenant);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print_table(&tenant, &stats);
            }
            Ok(())
        }
    }
}

fn print_table(tenant: &TenantId, s: &TsdbStats) {
    println!("tenant {tenant}");
    println!(
        "head: {} series, {} samples, {} chunk bytes, time {}..{}",
        s.head.series, s.head.samples, s.head.chunk_bytes, s.head.min_time, s.head.max_time
    );
    println!("wal: {} segments, {} bytes", s.wal_segments, s.wal_bytes);
    println!(
        "{:<14} {:>14} {:>14} {:>10} {:>12} {:>12} {:>6}",
        "block", "min_time", "max_time", "series", "samples", "bytes", "B/smp"
    );
    for b in &s.blocks {
        println!(
            "{:<14} {:>14} {:>14} {:>10} {:>12} {:>12} {:>6.3}",
            b.name, b.min_time, b.max_time, b.series, b.samples, b.bytes, b.bytes_per_sample
        );
    }
    println!(
        "total: {} samples, {} block bytes",
        s.total_samples, s.block_bytes
    );
    println!("label names by distinct values:");
    for (n, c) in &s.top_label_names {
        println!("  {n:<30} {c}");
    }
}
